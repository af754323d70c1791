"""Objects from a local directory: ``stat`` for metadata, ``os.pread`` off the event loop.

Reads run in the default thread pool, one chunk per call, at an explicit offset (``pread``),
so no shared file position, no seek-and-discard and no blocking of the event loop. A file that
ends early (truncated while it is served) is a failure, not a short success.

A file's SHA-256 is known when a sidecar ``<name>.sha256`` (``sha256sum`` output) is at least
as new as the file; it is never computed by reading the object. Sidecars are metadata, not
objects: listings leave them out and a download of one is a 404 (a ``.sha256`` file without
its ``<name>`` beside it is an object like any other).

Names the file system cannot hold (a symlink loop, a segment over the 255 bytes of a file
name) are missing objects (404), not store failures.

A listing walks the directory under the prefix and sorts the keys it finds on every call:
simple and stateless (the cursor is the last key returned), and fast enough for the
directories a local store holds.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat as stat_module
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from streamway.storage.keys import check_key, is_canonical
from streamway.storage.store import (
    InvalidKey,
    ObjectBody,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    StoreFailed,
    StoreUnavailable,
)

SIDECAR_SUFFIX = ".sha256"
#: Unfinished uploads (local_uploads.py) live here, under the root: never listed nor served.
UPLOADS_DIR = ".uploads"
#: What open() and stat() answer for names no file can have: a symlink loop (ELOOP), a
#: segment longer than a file name may be (ENAMETOOLONG).
_NO_SUCH_NAME = {errno.ELOOP, errno.ENAMETOOLONG}


class LocalStore:
    """A directory of files; keys are paths relative to it."""

    def __init__(self, root: Path, *, chunk_size: int) -> None:
        self.root = root.resolve()
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path_of(self, key: str) -> Path:
        """The file ``key`` names, refusing names that resolve outside the root (symlinks).

        A key that is not canonical (``a//b``, ``./a``, ``a/``) names no object here, though
        ``Path`` would resolve it to one.
        """
        if not is_canonical(key) or key.split("/", 1)[0] == UPLOADS_DIR:
            raise ObjectNotFound(key)  # unfinished uploads (local_uploads.py) are not objects
        path = Path(os.path.realpath(self.root / key))
        if path != self.root and not path.is_relative_to(self.root):
            raise InvalidKey("the key resolves outside the store's directory")
        return path

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path_of(key)
        return await asyncio.get_running_loop().run_in_executor(None, self._stat, key, path)

    def _stat(self, key: str, path: Path) -> ObjectInfo:
        self._refuse_sidecar(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        except OSError as error:
            if error.errno in _NO_SUCH_NAME:
                raise self._missing(key) from None
            raise StoreFailed(f"cannot stat {key!r}: {error.strerror}") from error
        return _info(key, path, st)

    def _refuse_sidecar(self, key: str) -> None:
        """A ``<name>.sha256`` beside ``<name>`` is a sidecar: not listed, so not served."""
        if key.endswith(SIDECAR_SUFFIX) and os.path.lexists(
            self.root / key.removesuffix(SIDECAR_SUFFIX)
        ):
            raise ObjectNotFound(key)

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        path = self.path_of(key)
        loop = asyncio.get_running_loop()
        fd, _ = await loop.run_in_executor(None, self._open, key, path, etag)
        return FileBody(fd, start, end, self.chunk_size, key=key)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        path = self.path_of(key)
        loop = asyncio.get_running_loop()
        fd, info = await loop.run_in_executor(None, self._open, key, path, None)
        return info, FileBody(fd, 0, info.size, self.chunk_size, key=key)

    def _open(self, key: str, path: Path, etag: str | None) -> tuple[int, ObjectInfo]:
        self._refuse_sidecar(key)
        try:
            # O_NONBLOCK: a FIFO must not hang the thread; regular files ignore it.
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None
        except OSError as error:
            if error.errno in _NO_SUCH_NAME:
                raise self._missing(key) from None
            raise StoreFailed(f"cannot open {key!r}: {error.strerror}") from error
        try:
            # Metadata of what was opened, so it describes the bytes that will be read.
            info = _info(key, path, os.fstat(fd))
            if etag is not None and etag != info.etag:
                raise ObjectChanged(key)
        except BaseException:
            os.close(fd)
            raise
        return fd, info

    async def list(self, prefix: str = "", *, cursor: str | None, limit: int) -> ObjectPage:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._list, prefix, cursor, limit)

    def _list(self, prefix: str, cursor: str | None, limit: int) -> ObjectPage:
        if not self.root.is_dir():
            raise StoreUnavailable(f"the store's directory {self.root} does not exist")
        # Only the directory the prefix names can hold matching keys: walk that one.
        start = prefix.rpartition("/")[0]
        found = sorted(
            (
                (key, st)
                for key, st in self._walk(self.root / start, f"{start}/" if start else "")
                if key.startswith(prefix) and (cursor is None or key > cursor)
            ),
            key=lambda item: item[0],
        )
        page = found[:limit]
        items = [
            ObjectInfo(
                key=key,
                size=st.st_size,
                etag=_etag(st),
                last_modified=datetime.fromtimestamp(int(st.st_mtime), UTC),
            )
            for key, st in page
        ]
        return ObjectPage(items, page[-1][0] if len(found) > limit else None)

    def _walk(self, directory: Path, key_prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        """(key, stat) of every regular file under ``directory`` that a download would serve."""
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as error:
            raise StoreFailed(f"cannot list {key_prefix or '/'}: {error.strerror}") from error
        names = {entry.name for entry in entries}
        for entry in entries:
            key = key_prefix + entry.name
            if key == UPLOADS_DIR:
                continue
            try:
                check_key(key)
                if entry.is_symlink():
                    self.path_of(key)  # a link out of the root is not served: not listed
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(Path(entry.path), key + "/")
                    continue
                if entry.is_dir():  # a linked directory could loop back: not followed
                    continue
                st = entry.stat()
            except (InvalidKey, OSError):
                continue
            sidecar_of = entry.name.removesuffix(SIDECAR_SUFFIX)
            if sidecar_of != entry.name and sidecar_of in names:
                continue
            if stat_module.S_ISREG(st.st_mode):
                yield key, st

    def _missing(self, key: str) -> ObjectNotFound | StoreUnavailable:
        if not self.root.is_dir():  # a missing store is not a missing object
            return StoreUnavailable(f"the store's directory {self.root} does not exist")
        return ObjectNotFound(key)

    async def aclose(self) -> None:
        pass


def _info(key: str, path: Path, st: os.stat_result) -> ObjectInfo:
    if not stat_module.S_ISREG(st.st_mode):
        raise ObjectNotFound(key)
    return ObjectInfo(
        key=key,
        size=st.st_size,
        etag=_etag(st),
        last_modified=datetime.fromtimestamp(int(st.st_mtime), UTC),
        content_type=None,
        sha256=_sidecar_sha256(path, st.st_mtime_ns),
    )


class FileBody:
    """Bytes ``[start, end)`` of an open file, one ``pread`` per chunk in a worker thread."""

    reads_ahead = False  # each pread waits to be asked: the response reads ahead for it

    def __init__(self, fd: int, start: int, end: int, chunk_size: int, *, key: str) -> None:
        self._fd = fd
        self._position = start
        self._end = end
        self._chunk_size = chunk_size
        self._key = key
        self._pending: asyncio.Future[bytes] | None = None

    def __aiter__(self) -> FileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._fd < 0 or self._position >= self._end:
            raise StopAsyncIteration
        wanted = min(self._chunk_size, self._end - self._position)
        self._pending = asyncio.get_running_loop().run_in_executor(
            None, os.pread, self._fd, wanted, self._position
        )
        try:
            chunk = await self._pending
        except OSError as error:
            raise StoreFailed(f"reading {self._key!r} failed: {error.strerror}") from error
        finally:
            self._pending = None
        if not chunk:
            raise StoreFailed(
                f"{self._key!r} ended at byte {self._position}, before byte {self._end}: "
                "it was truncated while being read"
            )
        self._position += len(chunk)
        return chunk

    async def aclose(self) -> None:
        if self._fd < 0:
            return
        pending, self._pending = self._pending, None
        if pending is not None:
            # A cancelled read keeps running in its thread; closing the descriptor under it
            # could let the number be reused by another file before pread touches it.
            await asyncio.wait([pending])
        os.close(self._fd)
        self._fd = -1


def _etag(st: os.stat_result) -> str:
    # Like nginx's: changes whenever the file is rewritten or resized.
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _sidecar_sha256(path: Path, file_mtime_ns: int) -> bytes | None:
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        if sidecar.stat().st_mtime_ns < file_mtime_ns:
            return None  # written before the file last changed: stale
        first = sidecar.read_text("ascii", errors="replace").split(maxsplit=1)
        return bytes.fromhex(first[0]) if first and len(first[0]) == 64 else None
    except (OSError, ValueError):
        return None
