"""Resumable uploads into a local directory: every byte and every field of state on disk.

An upload ``<id>`` is three files in the store's hidden ``.uploads`` directory (never listed
nor served, see local.py): ``<id>.json`` (its :class:`UploadInfo`, replaced atomically by a
rename), ``<id>.data`` (the bytes so far) and ``<id>.lock``. Nothing lives in a process's
memory, so any process can take the next PATCH.

Appends are serialised across processes by ``flock`` on the lock file, taken without waiting
(a second append gets :class:`UploadBusy` at once). The kernel drops the lock when its holder
dies, so a crashed process leaves no stale lock behind.

A failed append (checksum, too many bytes, a client that broke off, a cancellation) truncates
the data file back to the old offset: nothing of that body is kept, as the Protocol says. tus
servers may keep what arrived of a broken body; keeping nothing is simpler, and a part that
carried a checksum is either whole and right or not there at all.

When the last byte arrives, the file is moved into place under its key with a
``<name>.sha256`` sidecar, where downloads read the digest (``Repr-Digest``). The digest is
a running SHA-256 the process keeps per upload while it takes the parts: a cache only (the
Protocol allows it), bounded, and used only when it covers exactly the bytes before the
offset in the state file. When another process took some of the parts (hashlib objects
cannot be pickled into the state file), the file is read once more at the end to compute it.

The hot path (bench/uploads.py), writing a body into the data file, is in
:mod:`streamway.storage.body_writes`.

The finished upload's record stays, complete, until it expires (as tusd keeps its ``.info``
files): a client whose last answer was lost sees ``offset == length`` rather than a 404.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from hashlib import _Hash

from streamway.storage.body_writes import in_thread, write_body
from streamway.storage.keys import check_key, is_canonical
from streamway.storage.local import SIDECAR_SUFFIX, UPLOADS_DIR
from streamway.storage.store import InvalidKey, StoreFailed
from streamway.storage.uploads import (
    ChecksumMismatch,
    LengthConflict,
    ObjectExists,
    OffsetMismatch,
    PartChecksum,
    PartTooLarge,
    UploadBusy,
    UploadExpired,
    UploadInfo,
    UploadNotFound,
    is_upload_id,
    new_upload,
)

log = logging.getLogger("streamway.uploads")
T = TypeVar("T")

#: Most uploads one expire() call looks at: a sweep's work is bounded.
EXPIRE_BATCH = 1000
_HASH_CHUNK = 1024 * 1024
#: Running SHA-256s kept per process (the least recently used go first): a cache, not state.
RUNNING_HASHES = 64


class _Published:
    """Set by the publishing thread once the file is in place under its key."""

    done = False


class LocalUploadStore:
    """Uploads into ``root`` (the directory of the :class:`LocalStore` downloads read)."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root.resolve()
        self.dir = self.root / UPLOADS_DIR
        self.max_bytes = max_bytes
        #: upload id -> (offset, SHA-256 of the bytes before it), for uploads whose last
        #: part this process took; see the module's docstring.
        self._running: OrderedDict[str, tuple[int, _Hash]] = OrderedDict()

    def _paths(self, upload_id: str) -> tuple[Path, Path, Path]:
        if not is_upload_id(upload_id):
            raise UploadNotFound(upload_id)
        base = self.dir / upload_id
        return base.with_suffix(".json"), base.with_suffix(".data"), base.with_suffix(".lock")

    def target_of(self, key: str) -> Path:
        """Where ``key`` is published: a safe, canonical key, not in the hidden directory."""
        check_key(key)
        if not is_canonical(key):
            raise InvalidKey("the key has an empty or '.' segment")
        if key.split("/", 1)[0] == UPLOADS_DIR or key.endswith(SIDECAR_SUFFIX):
            raise InvalidKey(f"the key may not be under {UPLOADS_DIR}/ or end in {SIDECAR_SUFFIX}")
        parent = Path(os.path.realpath(self.root / key).rpartition("/")[0] or "/")
        if parent != self.root and not parent.is_relative_to(self.root):
            raise InvalidKey("the key resolves outside the store's directory")
        return parent / key.rpartition("/")[2]

    async def create(
        self,
        key: str,
        length: int | None,
        *,
        metadata: Mapping[str, str],
        expires: datetime,
        overwrite: bool,
    ) -> UploadInfo:
        target = self.target_of(key)
        if length is not None and (length < 0 or length > self.max_bytes):
            raise LengthConflict(f"the length {length} is over the maximum {self.max_bytes}")
        info = new_upload(key, length, metadata=metadata, expires=expires)
        await in_thread(self._create, info, target, overwrite)
        return info

    def _create(self, info: UploadInfo, target: Path, overwrite: bool) -> None:
        if os.path.isdir(target) or (not overwrite and os.path.lexists(target)):
            raise ObjectExists(info.key)
        self._check_parents(info.key, target)
        self.dir.mkdir(parents=True, exist_ok=True)
        state, data, lock = self._paths(info.upload_id)
        data.touch(exist_ok=False)
        lock.touch(exist_ok=False)
        _write_state(state, info, overwrite=overwrite)

    def _check_parents(self, key: str, target: Path) -> None:
        """A key under an object (``a.txt/b`` beside the file ``a.txt``) can never be
        published: refused as that object's key, at creation rather than at the last part."""
        parent = target.parent
        while parent != self.root and not parent.is_dir():
            if os.path.lexists(parent):
                raise ObjectExists(parent.relative_to(self.root).as_posix())
            parent = parent.parent

    async def info(self, upload_id: str) -> UploadInfo:
        return await asyncio.to_thread(self._info, upload_id)

    def _info(self, upload_id: str) -> UploadInfo:
        state, _, _ = self._paths(upload_id)
        info = _read_state(state, upload_id)
        if info.expires <= datetime.now(UTC):
            raise UploadExpired(upload_id)
        return info

    @contextmanager
    def _locked(self, upload_id: str) -> Iterator[int]:
        _, _, lock = self._paths(upload_id)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadBusy(upload_id) from None
            yield fd
        finally:
            os.close(fd)  # releases the lock

    async def append(
        self,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        *,
        max_bytes: int,
        checksum: PartChecksum | None = None,
    ) -> UploadInfo:
        with self._locked(upload_id):
            info = await in_thread(self._info, upload_id)
            if offset != info.offset:
                raise OffsetMismatch(info.offset, offset)
            _, data, _ = self._paths(upload_id)
            try:
                fd = os.open(data, os.O_RDWR | os.O_CLOEXEC)  # read back to hash at the end
            except FileNotFoundError:
                if not info.complete:
                    raise StoreFailed(f"upload {upload_id} lost its data file") from None
                # Finished already (its last answer may have been lost): the data file is
                # gone. (An empty upload is complete from its creation, with a data file:
                # this append publishes it.)
                async for chunk in body:
                    if chunk:
                        raise PartTooLarge("the upload is complete: no byte fits") from None
                return info
            # A deferred length still may not grow past the store's maximum.
            total = self.max_bytes if info.length is None else info.length
            room = min(max_bytes, total - offset)
            running = self._running.get(upload_id)
            whole: _Hash | None
            if running is not None and running[0] == offset:
                whole = running[1].copy()  # this append's own: kept only if it succeeds
            else:
                whole = hashlib.sha256() if offset == 0 else None
            published = _Published()
            try:
                # Bytes past the offset are a leftover of a process that died mid-append.
                os.ftruncate(fd, offset)
                part = hashlib.new(checksum.algorithm) if checksum is not None else None
                hashes = [h for h in (part, whole) if h is not None]
                written = await write_body(fd, offset, body, room, hashes)
                if checksum is not None and part is not None and part.digest() != checksum.digest:
                    raise ChecksumMismatch(f"the body's {checksum.algorithm} is not the one sent")
                new = replace(info, offset=offset + written)
                if new.complete:
                    self._running.pop(upload_id, None)
                    sha256 = whole.digest() if whole is not None else None
                    new = await in_thread(self._publish, new, fd, data, published, sha256)
                else:
                    await in_thread(self._save, new)
                    if whole is not None:
                        self._running[upload_id] = (new.offset, whole)
                        self._running.move_to_end(upload_id)
                        while len(self._running) > RUNNING_HASHES:
                            self._running.popitem(last=False)
            except BaseException:
                # Keep nothing of this body, whatever stopped it (cancellation included), but
                # never touch a file already published: fd is that file's inode then.
                if published.done:
                    self._finish(new)  # no later PATCH may write to the published inode
                else:
                    os.ftruncate(fd, offset)
                raise
            finally:
                os.close(fd)
            if new.complete:
                await in_thread(self._finish, new)  # under the lock: no PATCH between
        return new

    def _publish(
        self,
        info: UploadInfo,
        fd: int,
        data: Path,
        published: _Published,
        sha256: bytes | None,
    ) -> UploadInfo:
        """The complete file into place under its key, with its SHA-256 sidecar (``sha256``,
        or read back from the file when this process has no running hash of all of it).

        ``published.done`` turns true the moment the file is in place (read after a
        cancellation too, when this thread's result is lost): then the data file's inode is
        the published object, and the caller must not truncate it."""
        os.fsync(fd)
        if sha256 is None:
            digest = hashlib.sha256()
            position = 0
            while chunk := os.pread(fd, _HASH_CHUNK, position):
                digest.update(chunk)
                position += len(chunk)
            sha256 = digest.digest()
        overwrite = _read_overwrite(self._paths(info.upload_id)[0])
        target = self.target_of(info.key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # an object took a parent's name since
            raise ObjectExists(info.key) from None
        # Written before the file moves, named apart from the real sidecar: a failure up to
        # the move leaves the upload as it was (the caller truncates the part away).
        sidecar_tmp = data.with_suffix(".sha256")
        sidecar_tmp.write_text(f"{sha256.hex()}  {target.name}\n", "utf-8")
        try:
            if overwrite:
                try:
                    os.replace(data, target)
                except IsADirectoryError:
                    raise ObjectExists(info.key) from None
            else:
                # link() refuses an existing name: no check-then-rename race with a writer.
                try:
                    os.link(data, target)
                except FileExistsError:
                    raise ObjectExists(info.key) from None
        except BaseException:
            sidecar_tmp.unlink(missing_ok=True)
            raise
        published.done = True
        if not overwrite:
            with suppress(OSError):  # the upload's files are removed after this anyway
                os.unlink(data)
        # Published: from here nothing may raise into the caller's truncation. The sidecar is
        # moved after the file (a sidecar at least as new as its file is the file's digest);
        # if that fails the object is there without a digest, which downloads handle.
        try:
            os.replace(sidecar_tmp, target.with_name(target.name + SIDECAR_SUFFIX))
        except OSError:
            log.warning(
                "upload published without its .sha256 sidecar",
                exc_info=True,
                extra={"key": info.key},
            )
            sidecar_tmp.unlink(missing_ok=True)
            return replace(info, sha256=None)
        return replace(info, sha256=sha256)

    def _save(self, info: UploadInfo) -> None:
        state = self._paths(info.upload_id)[0]
        _write_state(state, info, overwrite=_read_overwrite(state))

    def _finish(self, info: UploadInfo) -> None:
        """Keep only the record of a published upload, complete, until it expires: a client
        whose last answer was lost asks HEAD and learns it is done (offset == length)."""
        state, data, _ = self._paths(info.upload_id)
        _write_state(state, info, overwrite=_read_overwrite(state))
        data.unlink(missing_ok=True)

    def _remove(self, upload_id: str) -> None:
        for path in self._paths(upload_id):
            path.unlink(missing_ok=True)

    async def declare_length(self, upload_id: str, length: int) -> UploadInfo:
        with self._locked(upload_id):
            return await in_thread(self._declare_length, upload_id, length)

    def _declare_length(self, upload_id: str, length: int) -> UploadInfo:
        info = self._info(upload_id)
        if info.length is not None and info.length != length:
            raise LengthConflict(f"the upload's length is already {info.length}")
        if length < info.offset or length > self.max_bytes:
            raise LengthConflict(f"the length {length} is below the offset or over the maximum")
        new = replace(info, length=length)
        self._save(new)
        return new

    async def terminate(self, upload_id: str) -> None:
        with self._locked(upload_id):
            await in_thread(self._info, upload_id)  # 404 for an unknown one
            self._running.pop(upload_id, None)
            await in_thread(self._remove, upload_id)

    async def expire(self, now: datetime) -> int:
        return await asyncio.to_thread(self._expire, now)

    def _expire(self, now: datetime) -> int:
        removed = 0
        try:
            entries = os.scandir(self.dir)
        except FileNotFoundError:
            return 0
        with entries:
            for seen, entry in enumerate(entries):
                if seen >= EXPIRE_BATCH * 3:
                    break
                upload_id, _, suffix = entry.name.partition(".")
                if suffix != "json" or not is_upload_id(upload_id):
                    continue
                try:
                    with self._locked(upload_id):
                        info = _read_state(Path(entry.path), upload_id)
                        if info.expires <= now:
                            self._remove(upload_id)
                            removed += 1
                except (UploadBusy, UploadNotFound):
                    continue
        return removed

    async def aclose(self) -> None:
        self._running.clear()


def _read_overwrite(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text("utf-8")).get("overwrite", False))
    except (OSError, ValueError):
        return False


def _write_state(path: Path, info: UploadInfo, *, overwrite: bool) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps(
            {
                "upload_id": info.upload_id,
                "key": info.key,
                "offset": info.offset,
                "length": info.length,
                "created": info.created.isoformat(),
                "expires": info.expires.isoformat(),
                "metadata": dict(info.metadata),
                "overwrite": overwrite,
                "sha256": info.sha256.hex() if info.sha256 is not None else None,
            }
        ),
        "utf-8",
    )
    os.replace(tmp, path)


def _read_state(path: Path, upload_id: str) -> UploadInfo:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UploadNotFound(upload_id) from None
    except (OSError, ValueError) as error:
        raise StoreFailed(f"the state of upload {upload_id} is unreadable: {error}") from error
    return UploadInfo(
        upload_id=raw["upload_id"],
        key=raw["key"],
        offset=raw["offset"],
        length=raw["length"],
        created=datetime.fromisoformat(raw["created"]),
        expires=datetime.fromisoformat(raw["expires"]),
        metadata=raw["metadata"],
        sha256=bytes.fromhex(raw["sha256"]) if raw.get("sha256") else None,
    )
