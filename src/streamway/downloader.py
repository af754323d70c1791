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
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httpx

from streamway.http.content_disposition import filename_from_content_disposition

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")
_SHA256_DIGEST = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):", re.IGNORECASE)
#: Statuses worth another attempt: the server or its store is briefly unavailable.
_RETRYABLE = {408, 429, 500, 502, 503, 504}
_READ_CHUNK = 1024 * 1024


class DownloadFailed(Exception):
    """The download did not complete; the message says why and what was kept."""


class ChecksumMismatch(DownloadFailed):
    """All bytes arrived but their SHA-256 is not the one the server announced."""


class _Retry(Exception):
    """A transient failure: try again, resuming from what was written."""


@dataclass
class _Resume:
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
    name: str | None = None
    try:
        response = client.head(url)
        disposition = response.headers.get("content-disposition")
        if response.is_success and disposition:
            name = filename_from_content_disposition(disposition)
    except httpx.TransportError:
        pass
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
    if os.path.lexists(part) or os.path.lexists(state_file):
        state = _load_state(state_file)
        if state is None or state.url != url or os.path.islink(part):
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
) -> Downloaded:
    """Download ``url`` to ``output`` (default: the server's file name), resuming and verifying.

    Without ``output``, an existing file of the server-chosen name is not overwritten
    (:class:`WouldOverwrite`) unless ``force``; resuming that URL's own partial file is.
    """
    progress = progress or NoProgress()
    timeout = httpx.Timeout(timeout_s)
    with httpx.Client(timeout=timeout, headers={"accept-encoding": "identity"}) as client:
        target = output or output_path_for(url, client)
        part = target.with_name(target.name + ".part")
        state_file = target.with_name(target.name + ".part.json")
        if output is None and not force:
            _refuse_to_clobber(target, part, state_file, url)
        attempt = 0
        while True:
            try:
                return _attempt(client, url, target, part, state_file, progress)
            except OSError as error:  # the local side: permissions, disk full, a bad name
                raise DownloadFailed(f"cannot write {part}: {error.strerror or error}") from None
            except (_Retry, httpx.TransportError) as error:
                attempt += 1
                if attempt > retries:
                    kept = part.stat().st_size if part.exists() else 0
                    raise DownloadFailed(
                        f"the download failed ({_describe(error)}); kept {kept} bytes in "
                        f"{part}: run the same command again to resume"
                    ) from None
                sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            finally:
                progress.stop()


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
                return _finish(target, part, state_file, state, offset)  # had it all
            part.unlink(missing_ok=True)  # our copy is longer than the object: start over
            raise _Retry("the partial file did not fit the object")
        if response.status_code in _RETRYABLE:
            response.read()
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code not in (200, 206):
            response.read()
            raise DownloadFailed(_server_error(response))

        total = _total_size(response, offset)
        if response.status_code == 200:
            offset = 0  # a fresh copy: the object changed, or the server ignored the range
        state = _Resume(
            url=url,
            validator=_validator(response),
            size=total,
            sha256=_announced_sha256(response),
        )
        state_file.write_text(json.dumps(asdict(state)), encoding="utf-8")

        progress.start(target.name, total, offset)
        with part.open("r+b" if offset else "wb") as file:
            file.truncate(offset)
            file.seek(offset)
            for chunk in response.iter_raw(_READ_CHUNK):
                file.write(chunk)
                progress.advance(len(chunk))
    return _finish(target, part, state_file, state, offset)


def _finish(
    target: Path, part: Path, state_file: Path, state: _Resume, resumed_from: int
) -> Downloaded:
    size = part.stat().st_size
    if state.size is not None and size != state.size:
        raise _Retry(f"got {size} of {state.size} bytes")
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


def _load_state(state_file: Path) -> _Resume | None:
    try:
        return _Resume(**json.loads(state_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _validator(response: httpx.Response) -> str | None:
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


def _announced_sha256(response: httpx.Response) -> str | None:
    match = _SHA256_DIGEST.search(response.headers.get("repr-digest", ""))
    return match.group(1) if match else None


def _sha256_of(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_READ_CHUNK * 4):
            digest.update(block)
    return digest.digest()


def _server_error(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"HTTP {response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
