"""The download client behind ``streamway get``: resumable, verified, with a progress bar.

A download is written to ``FILE.part``, with what is needed to resume it in ``FILE.part.json``
(the URL, the validator, the size and the checksum the server announced). A later run, or a
retry after a dropped connection, asks for the rest with ``Range: bytes=<have>-`` and
``If-Range: <validator>``: a 206 appends, a 200 means the object changed and starts over.
When the bytes are all there, the size is checked, and so is the SHA-256 if the server sent
``Repr-Digest: sha-256=:...:``; only then is ``FILE.part`` renamed to ``FILE``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from streamway.http.content_disposition import filename_from_content_disposition

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")
_SHA256_DIGEST = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):", re.IGNORECASE)
#: Statuses worth another attempt: the server or its store is briefly unavailable.
RETRYABLE = {408, 429, 500, 502, 503, 504}
READ_CHUNK = 1024 * 1024


#: What every client of a download (one stream or parts) asks for: the bytes as stored, and
#: redirects followed (a service with STREAMWAY_S3_REDIRECT_OVER answers big objects with 307
#: to a presigned S3 URL, which then serves the bytes and the ranges of a resume).
CLIENT_OPTIONS: dict[str, Any] = {
    "headers": {"accept-encoding": "identity"},
    "follow_redirects": True,
}


class DownloadFailed(Exception):
    """The download did not complete; the message says why and what was kept."""


class ChecksumMismatch(DownloadFailed):
    """All bytes arrived but their SHA-256 is not the one the server announced."""


class Retry(Exception):
    """A transient failure: try again, resuming from what was written."""


@dataclass
class Resume:
    """What ``FILE.part.json`` holds."""

    url: str
    validator: str | None
    size: int | None
    sha256: str | None  # base64, as in Repr-Digest


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256_verified: bool
    resumed_from: int
    """Where the last, successful request started: 0, or the bytes a resume kept."""
    parts: int = 1
    """Connections the object was fetched over (``--parallel``)."""


class Progress(Protocol):
    """What the downloader reports to whoever draws the progress bar."""

    def start(self, name: str, total: int | None, completed: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, name: str, total: int | None, completed: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def stop(self) -> None:
        pass


class UnsafeName(DownloadFailed):
    """The name the server (or the URL) suggests cannot be made a safe local file name."""


class WouldOverwrite(DownloadFailed):
    """The server-chosen file exists already and this is not a resume of it."""


#: Longest file name most file systems take (bytes of the encoded name).
_MAX_NAME_BYTES = 255


def output_path_for(url: str, client: httpx.Client) -> Path:
    """The file name the server suggests (Content-Disposition, via HEAD), else the URL's.

    Reduced to a base name in the current directory. A name with control characters (NUL,
    newline, escapes) or nothing usable left is refused with :class:`UnsafeName` rather than
    guessed at: the caller can name the file with ``-o``.
    """
    return _name_for(url, _head(client, url))


def _head(client: httpx.Client, url: str) -> httpx.Response | None:
    try:
        return client.head(url)
    except httpx.TransportError:
        return None


def _name_for(url: str, head: httpx.Response | None) -> Path:
    name: str | None = None
    disposition = head.headers.get("content-disposition") if head is not None else None
    if head is not None and head.is_success and disposition:
        name = filename_from_content_disposition(disposition)
    if not name:
        name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return Path(safe_file_name(name))


def safe_file_name(suggested: str) -> str:
    """``suggested`` as a base name: no directory, no ``.``/``..``, no control characters."""
    if any(unicodedata.category(char) == "Cc" for char in suggested):
        raise UnsafeName(
            f"the server suggested the file name {suggested!r}, which has control characters; "
            "choose a name with -o"
        )
    # Never let a server choose a directory: keep the last component only.
    name = suggested.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in {"", ".", ".."}:
        name = "download"
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
        raise UnsafeName(
            f"the suggested file name is longer than {_MAX_NAME_BYTES} bytes; choose a name with -o"
        )
    return name


def _refuse_to_clobber(target: Path, part: Path, state_file: Path, url: str) -> None:
    """Refuses a server-chosen name that would overwrite a file here (``curl -OJ`` refuses
    too). Resuming this URL's own partial download is fine: its FILE.part.json names it."""
    if os.path.lexists(target):  # lexists: a dangling symlink would be written through
        raise WouldOverwrite(
            f"{target} already exists; not overwriting it with the server's file: pass "
            "--force to replace it, or -o to choose another name"
        )
    if (os.path.lexists(part) or os.path.lexists(state_file)) and (
        state_url(state_file) != url or os.path.islink(part)
    ):
        raise WouldOverwrite(
            f"{part} exists and is not a partial download of {url}; pass --force to "
            "replace it, or -o to choose another name"
        )


def download(
    url: str,
    output: Path | None = None,
    *,
    retries: int = 3,
    progress: Progress | None = None,
    timeout_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    force: bool = False,
    parallel: int | None = None,
    part_size: int | None = None,
) -> Downloaded:
    """Download ``url`` to ``output`` (default: the server's file name), resuming and verifying.

    Without ``output``, an existing file of the server-chosen name is not overwritten
    (:class:`WouldOverwrite`) unless ``force``; resuming that URL's own partial file is.
    ``parallel`` ranged GETs of at most ``part_size`` bytes each fetch the object at once
    (:mod:`streamway.parallel_download`); None chooses from the size the HEAD announces:
    one stream up to one part, several beyond.
    """
    from streamway import parallel_download as parts  # it builds on this module

    progress = progress or NoProgress()
    timeout = httpx.Timeout(timeout_s)
    with httpx.Client(timeout=timeout, **CLIENT_OPTIONS) as client:
        head = _head(client, url) if output is None or parallel != 1 else None
        target = output or _name_for(url, head)
        part = target.with_name(target.name + ".part")
        state_file = target.with_name(target.name + ".part.json")
        if output is None and not force:
            _refuse_to_clobber(target, part, state_file, url)
        part_size = part_size or parts.DEFAULT_PART_SIZE
        remote = parts.RangedObject.from_head(head) if head is not None else None
        connections = parts.connections_for(remote, parallel, part_size) if remote else 1
        if remote is not None and connections > 1:
            files = parts.PartFiles(url, target, part, state_file)
            options = parts.PartOptions(connections, part_size, retries, timeout)
            try:
                return parts.download_parts(files, remote, options, progress)
            except OSError as error:
                raise DownloadFailed(f"cannot write {part}: {error.strerror or error}") from None
            finally:
                progress.stop()
        attempt = 0
        while True:
            try:
                return _attempt(client, url, target, part, state_file, progress)
            except OSError as error:  # the local side: permissions, disk full, a bad name
                raise DownloadFailed(f"cannot write {part}: {error.strerror or error}") from None
            except (Retry, httpx.TransportError) as error:
                attempt += 1
                if attempt > retries:
                    kept = part.stat().st_size if part.exists() else 0
                    raise DownloadFailed(
                        f"the download failed ({describe(error)}); kept {kept} bytes in "
                        f"{part}: run the same command again to resume"
                    ) from None
                sleep(backoff_s(attempt))
            finally:
                progress.stop()


def backoff_s(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): doubling, at most 8."""
    return min(0.5 * 2.0 ** (attempt - 1), 8.0)


def _attempt(
    client: httpx.Client,
    url: str,
    target: Path,
    part: Path,
    state_file: Path,
    progress: Progress,
) -> Downloaded:
    offset = _resumable_bytes(part, state_file, url)
    state = _load_state(state_file) if offset else None
    headers = {}
    if state is not None and state.validator is not None:
        headers = {"range": f"bytes={offset}-", "if-range": state.validator}
    else:
        offset = 0

    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and state is not None:
            unsatisfied = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
            if unsatisfied and int(unsatisfied.group(1)) == offset:
                return finish(target, part, state_file, state, offset)  # had it all
            part.unlink(missing_ok=True)  # our copy is longer than the object: start over
            raise Retry("the partial file did not fit the object")
        if response.status_code in RETRYABLE:
            response.read()
            raise Retry(f"HTTP {response.status_code}")
        if response.status_code not in (200, 206):
            response.read()
            raise DownloadFailed(server_error(response))

        total = _total_size(response, offset)
        if response.status_code == 200:
            offset = 0  # a fresh copy: the object changed, or the server ignored the range
        state = Resume(
            url=url,
            validator=validator_of(response),
            size=total,
            sha256=announced_sha256(response),
        )
        state_file.write_text(json.dumps(asdict(state)), encoding="utf-8")

        progress.start(target.name, total, offset)
        with part.open("r+b" if offset else "wb") as file:
            file.truncate(offset)
            file.seek(offset)
            for chunk in response.iter_raw(READ_CHUNK):
                file.write(chunk)
                progress.advance(len(chunk))
    return finish(target, part, state_file, state, offset)


def finish(
    target: Path, part: Path, state_file: Path, state: Resume, resumed_from: int
) -> Downloaded:
    size = part.stat().st_size
    if state.size is not None and size != state.size:
        raise Retry(f"got {size} of {state.size} bytes")
    verified = False
    if state.sha256 is not None:
        actual = base64.b64encode(_sha256_of(part)).decode()
        if actual != state.sha256:
            part.unlink(missing_ok=True)
            state_file.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"SHA-256 mismatch: the server announced {state.sha256}, the {size} bytes "
                f"received hash to {actual}; the partial file was deleted"
            )
        verified = True
    part.replace(target)
    state_file.unlink(missing_ok=True)
    return Downloaded(target, size, verified, resumed_from)


def _resumable_bytes(part: Path, state_file: Path, url: str) -> int:
    state = _load_state(state_file)
    if state is None or state.url != url or state.validator is None or not part.exists():
        return 0
    return part.stat().st_size


def state_url(state_file: Path) -> str | None:
    """The URL a ``FILE.part.json`` (of one stream or of parts) belongs to, if readable."""
    try:
        url = json.loads(state_file.read_text(encoding="utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) else None


def _load_state(state_file: Path) -> Resume | None:
    try:
        return Resume(**json.loads(state_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def validator_of(response: httpx.Response) -> str | None:
    etag: str | None = response.headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag  # If-Range needs a strong validator
    last_modified: str | None = response.headers.get("last-modified")
    return last_modified


def _total_size(response: httpx.Response, offset: int) -> int | None:
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != offset:
            raise DownloadFailed(
                f"the server sent {response.headers.get('content-range')!r} "
                f"for a request from byte {offset}"
            )
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


def announced_sha256(response: httpx.Response) -> str | None:
    match = _SHA256_DIGEST.search(response.headers.get("repr-digest", ""))
    return match.group(1) if match else None


def _sha256_of(path: Path) -> bytes:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").digest()  # one 256 KiB buffer, reused


def server_error(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"HTTP {response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
