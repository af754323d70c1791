"""The upload client behind ``streamway put``: a tus 1.0 client on httpx, resumable, verified.

Written by hand rather than taken from a library: the one maintained Python tus client,
tuspy, pulls requests, aiohttp and tinydb, and ``streamway put`` must work with the light
install (httpx, rich, typer). The part of tus a client needs is small: POST creation with
``Upload-Length`` and ``Upload-Metadata``, HEAD for the offset, PATCH with ``Upload-Offset``
and ``Upload-Checksum`` (https://tus.io/protocols/resumable-upload).

Resume: the upload URL is remembered per (file, size, mtime, target, name) in a small JSON
file under the user's state directory. A later run HEADs it and continues from the server's
offset; a 404/410 (unknown, expired or terminated) starts over. At the end the object's
``Repr-Digest`` (HEAD of ``/download/KEY``) must match the file's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx

from streamway.downloader import (
    RETRYABLE,
    NoProgress,
    Progress,
    announced_sha256,
    backoff_s,
    describe,
    server_error,
)

TUS_VERSION = "1.0.0"
DEFAULT_PART_SIZE = 8 * 1024 * 1024
#: API Gateway refuses a request body over 10 MB; a part stays below it with room to spare.
MAX_PART_SIZE = 9 * 1024 * 1024
MIN_PART_SIZE = 64 * 1024
#: streamway's OPTIONS header: the largest PATCH body it takes (STREAMWAY_UPLOAD_PART_MAX_BYTES)
PART_MAX_HEADER = "x-streamway-upload-part-max-bytes"
#: Upload URLs remembered at most (the oldest go first): the state file stays small.
MAX_REMEMBERED = 200


class UploadFailed(Exception):
    """The upload did not complete; the message says why and whether a rerun resumes."""


class Retry(Exception):
    """A transient failure: ask the server for its offset and go on from there."""


class StartOver(Exception):
    """The server no longer knows the upload (404/410): create a new one."""


@dataclass(frozen=True)
class Uploaded:
    key: str
    size: int
    upload_url: str
    download_url: str
    resumed_from: int
    """The server's offset when this run took over a remembered upload (0: a new one)."""
    sha256_verified: bool
    part_size: int
    """Bytes per PATCH: the size asked for, or the server's part limit when that is lower."""


def state_file() -> Path:
    """``$XDG_STATE_HOME/streamway/uploads.json`` (default ``~/.local/state``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "streamway" / "uploads.json"


def _fingerprint(path: Path, endpoint: str, key: str) -> str:
    stat = path.stat()
    return json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, endpoint, key])


def _load_all(where: Path) -> dict[str, str]:
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _remember(where: Path, fingerprint: str, url: str | None) -> None:
    """Best effort: a state directory that cannot be written costs the resume of a later
    run, not this upload (which still resumes by itself within the run)."""
    entries = _load_all(where)
    entries.pop(fingerprint, None)
    if url is not None:
        entries[fingerprint] = url  # last: dicts keep insertion order, the oldest go first
    while len(entries) > MAX_REMEMBERED:
        entries.pop(next(iter(entries)))
    temporary = where.with_name(where.name + f".{os.getpid()}.tmp")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(entries), encoding="utf-8")
        temporary.replace(where)  # a reader never sees half a file
    except OSError:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)


def endpoints(url: str) -> tuple[str, str]:
    """The tus endpoint and the service's base URL for ``url`` (the base or ``.../uploads``)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    base_path = path[: -len("/uploads")] if path.endswith("/uploads") else path
    base = urlunsplit((parts.scheme, parts.netloc, base_path, "", ""))
    return base + "/uploads", base


def _sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return base64.b64encode(hashlib.file_digest(file, "sha256").digest()).decode()


def upload(
    path: Path,
    url: str,
    *,
    key: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    retries: int = 5,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    remember_in: Path | None = None,
    part_checksum: bool = True,
) -> Uploaded:
    """Upload ``path`` to the tus endpoint at ``url`` as object ``key`` (default: its name).

    ``part_checksum=False`` sends no ``Upload-Checksum`` (bench/uploads.py measures what the
    per-part SHA-256 costs); the object's ``Repr-Digest`` is checked at the end either way.
    ``streamway put`` always sends it."""
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise UploadFailed(f"a part must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
    progress = progress or NoProgress()
    key = key or path.name
    endpoint, base = endpoints(url)
    where = remember_in or state_file()
    try:
        size = path.stat().st_size
        fingerprint = _fingerprint(path, endpoint, key)
    except OSError as error:
        raise UploadFailed(f"cannot read {path}: {error.strerror or error}") from None
    headers = {"tus-resumable": TUS_VERSION}
    with httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers) as client:
        upload_url = _load_all(where).get(fingerprint)
        limits_known = False
        resumed_from: int | None = None  # set by the first creation or HEAD of this run
        attempt = 0
        cursor = _Cursor()
        while True:
            try:
                if not limits_known:
                    part_size = _limits(client, endpoint, size, part_size)
                    limits_known = True
                if upload_url is None:
                    upload_url = _create(client, endpoint, key, size)
                    _remember(where, fingerprint, upload_url)
                    offset = 0
                    if resumed_from is None:
                        resumed_from = 0
                else:
                    offset = _offset(client, upload_url, size)
                    if resumed_from is None:
                        resumed_from = offset
                progress.start(key, size, offset)
                cursor.offset = offset
                _send(
                    client,
                    upload_url,
                    path,
                    cursor,
                    size,
                    part_size,
                    progress,
                    part_checksum=part_checksum,
                )
                break
            except StartOver:
                _remember(where, fingerprint, None)
                upload_url, resumed_from = None, 0
            except (Retry, httpx.TransportError) as error:
                if cursor.offset > cursor.failed_at:
                    attempt = 0  # parts went through since the last failure: fresh retries
                cursor.failed_at = cursor.offset
                attempt += 1
                if attempt > retries:
                    raise UploadFailed(
                        f"the upload failed ({describe(error)}); run the same command again "
                        "to resume"
                    ) from None
                sleep(backoff_s(attempt))
            except OSError as error:
                raise UploadFailed(f"cannot read {path}: {error.strerror or error}") from None
            finally:
                progress.stop()
        _remember(where, fingerprint, None)
        download_url = base + "/download/" + quote(key)
        verified = _verify(client, download_url, path, retries, sleep)
    return Uploaded(key, size, upload_url, download_url, resumed_from or 0, verified, part_size)


def _limits(client: httpx.Client, endpoint: str, size: int, part_size: int) -> int:
    """The part size to use, from the server's OPTIONS: refused early when the file is over
    ``Tus-Max-Size``; parts shrunk to streamway's part limit (a larger PATCH would get 413).

    tus has no standard header for a part limit; a server without ours keeps ``part_size``.
    A dropped connection or a 5xx (a gateway's 504 while the function cold-starts) is
    retried as any other request is.
    """
    response = client.options(endpoint)
    if response.status_code in RETRYABLE:
        raise Retry(f"HTTP {response.status_code}")
    if response.status_code not in (200, 204):
        raise UploadFailed(server_error(response))
    max_size = response.headers.get("tus-max-size", "")
    if max_size.isdigit() and size > int(max_size):
        raise UploadFailed(f"the file has {size} bytes, the server takes {max_size} at most")
    part_max = response.headers.get(PART_MAX_HEADER, "")
    if part_max.isdigit() and int(part_max) > 0:
        return min(part_size, int(part_max))
    return part_size


def _create(client: httpx.Client, endpoint: str, key: str, size: int) -> str:
    metadata = "filename " + base64.b64encode(key.encode()).decode()
    response = client.post(
        endpoint, headers={"upload-length": str(size), "upload-metadata": metadata}
    )
    if response.status_code in RETRYABLE:
        raise Retry(f"HTTP {response.status_code}")
    location: str | None = response.headers.get("location")
    if response.status_code != 201 or not location:
        raise UploadFailed(server_error(response))
    return urljoin(endpoint, location)


def _offset(client: httpx.Client, upload_url: str, size: int) -> int:
    response = client.head(upload_url)
    if response.status_code in (404, 410):
        raise StartOver()
    if response.status_code in RETRYABLE:
        raise Retry(f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise UploadFailed(server_error(response))
    offset = response.headers.get("upload-offset", "")
    length = response.headers.get("upload-length")
    if not offset.isdigit() or int(offset) > size or (length is not None and length != str(size)):
        raise StartOver()  # not the upload of this file: begin a new one
    return int(offset)


@dataclass
class _Cursor:
    """Where the upload stands: ``offset`` as the server last confirmed it, and where the last
    failure happened (so that a long upload on a flaky link is not ended by ``retries``
    failures spread over hours: each one that follows progress gets a fresh count)."""

    offset: int = 0
    failed_at: int = 0


#: A part is read and hashed in pieces of this size: each piece is hashed right after its read,
#: while it is still in the CPU's cache (hashing a whole 8 MiB part after reading it costs
#: about 0.3 CPU s/GiB more), and the pieces are sent as they are, without joining them.
READ_PIECE = 1024 * 1024


@dataclass(frozen=True)
class _Part:
    """One PATCH body read from the file, with its ``Upload-Checksum`` value (None: none)."""

    offset: int
    pieces: list[bytes]
    size: int
    checksum: str | None


def _read_part(fd: int, offset: int, length: int, checksum: bool) -> _Part:
    """In the reader thread: the part at ``offset`` and its SHA-256 (pread and hashlib let go
    of the GIL, so this runs beside the PATCH the main thread is sending)."""
    pieces: list[bytes] = []
    digest = hashlib.sha256() if checksum else None
    done = 0
    while done < length:
        piece = os.pread(fd, min(READ_PIECE, length - done), offset + done)
        if not piece:
            raise OSError(f"the file ended at {offset + done} bytes: it changed meanwhile")
        if digest is not None:
            digest.update(piece)
        pieces.append(piece)
        done += len(piece)
    header = None if digest is None else "sha256 " + base64.b64encode(digest.digest()).decode()
    return _Part(offset, pieces, length, header)


def _send(
    client: httpx.Client,
    upload_url: str,
    path: Path,
    cursor: _Cursor,
    size: int,
    part_size: int,
    progress: Progress,
    *,
    part_checksum: bool = True,
) -> None:
    """PATCH the file from ``cursor.offset`` to the end, part by part, pipelined: the next part
    is read and hashed in a thread while the current one is on the way. So at most two parts
    are in memory (the one sent and the next one); a failure drops the next one, and the
    caller's HEAD says where to go on from."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:  # gone or unreadable since upload() looked at it
        raise UploadFailed(f"cannot read {path}: {error.strerror or error}") from None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="streamway-put-read") as reader:

            def read(offset: int) -> Future[_Part]:
                length = min(part_size, size - offset)
                return reader.submit(_read_part, fd, offset, length, part_checksum)

            offset = cursor.offset
            upcoming = read(offset) if offset < size else None
            while upcoming is not None:
                try:
                    part = upcoming.result()
                except OSError as error:  # the file shrank or failed under the reader
                    raise UploadFailed(f"cannot read {path}: {error.strerror or error}") from None
                after = part.offset + part.size
                upcoming = read(after) if after < size else None
                new_offset = _patch(client, upload_url, part)
                del part  # the next part is read meanwhile: two in memory, no more
                progress.advance(new_offset - offset)
                offset = cursor.offset = new_offset
                if new_offset != after:
                    # The server kept another amount than this part (never ours): go on from
                    # its offset, as before pipelining; the part read ahead is dropped.
                    if upcoming is not None:
                        upcoming.cancel()  # if already running, it ends before the next read
                    upcoming = read(new_offset) if new_offset < size else None
    finally:
        os.close(fd)  # the executor's exit waited for a read still running


def _patch(client: httpx.Client, upload_url: str, part: _Part) -> int:
    """One PATCH; the server's new offset. 404/410: StartOver; 409, 460 and the transient
    statuses: Retry (the caller HEADs for the offset and goes on from there)."""
    headers = {
        "content-type": "application/offset+octet-stream",
        "content-length": str(part.size),  # the body goes in pieces, not chunked
        "upload-offset": str(part.offset),
    }
    if part.checksum is not None:
        headers["upload-checksum"] = part.checksum
    response = client.patch(upload_url, content=iter(part.pieces), headers=headers)
    if response.status_code in (404, 410):
        raise StartOver()
    if response.status_code in (409, 460) or response.status_code in RETRYABLE:
        # 409: another writer or a lost answer moved the offset; 460: the part was
        # damaged on the way and not kept. Either way: HEAD, then go on.
        raise Retry(f"HTTP {response.status_code}")
    new_offset = response.headers.get("upload-offset", "")
    if response.status_code != 204 or not new_offset.isdigit():
        raise UploadFailed(server_error(response))
    return int(new_offset)


def _verify(
    client: httpx.Client,
    download_url: str,
    path: Path,
    retries: int,
    sleep: Callable[[float], None],
) -> bool:
    """True when the object's ``Repr-Digest`` matches; False when the server sends none.

    The HEAD is retried on a dropped connection or a 5xx (downloads may be served by another
    function, cold-starting behind a gateway): the upload itself is complete by then."""
    for attempt in range(1, retries + 2):
        try:
            response = client.head(download_url, headers={"accept-encoding": "identity"})
        except httpx.TransportError as error:
            if attempt > retries:
                raise UploadFailed(
                    f"the upload is complete, its check failed ({describe(error)})"
                ) from None
        else:
            if response.status_code not in RETRYABLE or attempt > retries:
                break
        sleep(backoff_s(attempt))
    if response.status_code != 200:
        raise UploadFailed(f"the uploaded object: {server_error(response)}")
    announced = announced_sha256(response)
    if announced is None:
        return False
    actual = _sha256_of(path)
    if announced != actual:
        raise UploadFailed(
            f"SHA-256 mismatch: the server's object has {announced}, the file {actual}"
        )
    return True
