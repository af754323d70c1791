"""/uploads (tus 1.0) against ``streamway serve`` on loopback, with the real tuspy client for
whole uploads and httpx for the protocol's edges (issue 22, items 1, 2 and 6).

The store is a temporary local directory; every finished upload is read back through
``/download`` and checked with SHA-256, beside the ``Repr-Digest`` the download carries.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from tests.servers import RunningServer, exchange, streamway_server

MIB = 1024 * 1024
PART = 8 * MIB
MAX_UPLOAD = 64 * MIB
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uploads-store")
    (root / "taken.txt").write_bytes(b"already here\n")
    (root / "a-directory").mkdir()
    return root


def serving(store: Path) -> AbstractContextManager[RunningServer]:
    """``streamway serve`` with uploads on, over the local directory ``store``."""
    env = {
        "STREAMWAY_UPLOADS": "true",
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_UPLOAD_MAX_BYTES": str(MAX_UPLOAD),
    }
    return streamway_server(env)


@pytest.fixture(scope="module")
def uploads(store: Path) -> Iterator[RunningServer]:
    with serving(store) as running:
        yield running


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create(
    server: RunningServer, key: str, length: int | None, *, body: bytes = b"", **headers: str
) -> httpx.Response:
    """A tus creation (with ``body``: creation-with-upload, given its Content-Type)."""
    sizes = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    return httpx.post(
        f"{server.url}/uploads",
        content=body,
        headers={**TUS, **sizes, "Upload-Metadata": f"filename {b64(key)}", **headers},
        timeout=60,
    )


def new_upload(server: RunningServer, key: str, length: int | None) -> str:
    answer = create(server, key, length)
    assert answer.status_code == 201, answer.text
    return answer.headers["location"]


def patch(url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.patch(
        url,
        content=body,
        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, **headers},
        timeout=60,
    )


def head(url: str) -> httpx.Response:
    return httpx.head(url, headers=TUS, timeout=60)


def sha256_checksum(body: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(body).digest()).decode()


def tuspy_upload(server: RunningServer, stream: BinaryIO, key: str, part: int) -> str:
    """``stream`` uploaded to ``key`` by tuspy in parts of ``part`` bytes, each with its
    checksum (tuspy sends their sha1); the upload's URL."""
    uploader = tus_client.TusClient(f"{server.url}/uploads").uploader(
        file_stream=stream, chunk_size=part, metadata={"filename": key}, upload_checksum=True
    )
    uploader.upload()
    assert uploader.url is not None
    return uploader.url


def download(server: RunningServer, key: str, timeout_s: float = 60) -> tuple[str, httpx.Headers]:
    """The object's SHA-256 (hex) as downloaded, and the download's headers."""
    digest = hashlib.sha256()
    with httpx.stream("GET", f"{server.url}/download/{key}", timeout=timeout_s) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_bytes():
            digest.update(chunk)
        return digest.hexdigest(), answer.headers


def repr_digest(hex_digest: str) -> str:
    """The ``Repr-Digest`` a download of bytes with this SHA-256 (hex) carries."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(hex_digest)).decode()}:"


def leftovers(store: Path, url: str) -> list[str]:
    upload_id = url.rsplit("/", 1)[1]
    directory = store / ".uploads"
    return sorted(p.name for p in directory.iterdir() if upload_id in p.name)


def finished_record(url: str) -> list[str]:
    """What a finished upload leaves in .uploads until it expires: its record, no data."""
    upload_id = url.rsplit("/", 1)[1]
    return [f"{upload_id}.json", f"{upload_id}.lock"]


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def a_refused_first_part(server: RunningServer, key: str) -> tuple[str, bytes, bytes]:
    """A new upload of two parts whose first PATCH carried a wrong sha256: checked to be
    tus's 460 ``checksum_mismatch`` with the offset still 0. Its URL and the two parts."""
    first, second = os.urandom(MIB), os.urandom(1000)
    url = new_upload(server, key, len(first) + len(second))
    wrong = patch(url, 0, first, **{"Upload-Checksum": sha256_checksum(first + b"x")})
    assert wrong.status_code == 460
    assert error_code(wrong) == "checksum_mismatch"
    assert wrong.headers["tus-resumable"] == "1.0.0"
    assert head(url).headers["upload-offset"] == "0"
    return url, first, second


def wait_until(check: Callable[[], bool], timeout_s: float = 30) -> None:
    """Waits for ``check()``; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not so within {timeout_s} s"
        time.sleep(0.01)


async def one_wins_the_other_is_busy(
    url: str, other_url: str, winner: bytes, loser: bytes, holding: Callable[[], bool]
) -> None:
    """Two PATCHes at offset 0 at once. The first sends 1 MiB of ``winner`` and holds the rest
    back until ``holding()`` says the store holds the upload (the event itself, not a sleep);
    then ``loser`` goes to ``other_url``. Checked: the second is 409 ``upload_busy``, and the
    first, released, takes all of ``winner``."""
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield winner[:MIB]
        await release.wait()  # the server holds the upload meanwhile
        yield winner[MIB:]

    headers = {**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
    async with httpx.AsyncClient(timeout=60) as client:
        first = asyncio.create_task(client.patch(url, content=held_body(), headers=headers))
        await asyncio.to_thread(wait_until, holding)
        second = await client.patch(other_url, content=loser, headers=headers)
        release.set()
        won = await first

    assert second.status_code == 409
    assert error_code(second) == "upload_busy"
    assert won.status_code == 204
    assert won.headers["upload-offset"] == str(len(winner))


def write_random(path: Path, size: int) -> str:
    """A file of ``size`` random bytes; its SHA-256 (hex)."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def test_tuspy_uploads_60_mb_in_8_mib_parts_and_the_download_has_its_sha256(
    uploads: RunningServer, store: Path, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    expected = write_random(source, 60_000_000)
    with source.open("rb") as stream:  # given, not a path: tuspy never closes what it opens
        url = tuspy_upload(uploads, stream, "tus/big one.bin", PART)

    sha256, headers = download(uploads, "tus/big%20one.bin")
    assert sha256 == expected
    assert headers["repr-digest"] == repr_digest(expected)
    assert leftovers(store, url) == finished_record(url)
    path = "/uploads/" + url.rsplit("/", 1)[1]
    patches = [
        entry
        for entry in uploads.logs()
        if entry.get("method") == "PATCH" and entry.get("path") == path
    ]
    assert [entry["status"] for entry in patches] == [204] * 8  # ceil(60 MB / 8 MiB)
    # Finished: its record says so until it expires (a client whose last answer was lost
    # learns it is done), and a repeated last part changes nothing.
    done = head(url)
    assert done.status_code == 200
    assert done.headers["upload-offset"] == done.headers["upload-length"] == "60000000"
    again = patch(url, 60_000_000 - 1234, b"x" * 1234)
    assert again.status_code == 409
    assert again.json()["error"]["offset"] == 60_000_000
    assert patch(url, 60_000_000, b"").headers["upload-offset"] == "60000000"
    assert download(uploads, "tus/big%20one.bin")[0] == expected
    assert httpx.delete(url, headers=TUS).status_code == 204  # forgets the record
    assert leftovers(store, url) == []
    assert download(uploads, "tus/big%20one.bin")[0] == expected  # the object stays


class HeldOpen(io.BufferedReader):
    """A file tuspy may not close: with ``store_url`` it closes the stream after taking its
    fingerprint and then reads it again (and given a path, it opens the file per part and
    never closes it). The test closes it with :meth:`release`."""

    def close(self) -> None:
        pass

    def release(self) -> None:
        super().close()


# The client process, killed by itself at an exact byte: once it has sent KILL_AT bytes in
# all (two whole parts and a third of the next), SIGKILL, mid-body of the third PATCH.
KILLED_CLIENT = """
import os, signal, socket, sys
from tusclient import client
from tusclient.storage.filestorage import FileStorage

url, path, storage, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sent = 0
original = socket.socket.sendall

def sendall(self, data, *args):
    global sent
    if sent + len(data) >= kill_at:
        original(self, memoryview(data)[: kill_at - sent], *args)
        os.kill(os.getpid(), signal.SIGKILL)
    sent += len(data)
    return original(self, data, *args)

socket.socket.sendall = sendall
uploader = client.TusClient(url).uploader(
    file_path=path, chunk_size=8 * 1024 * 1024, metadata={"filename": "tus/resumed.bin"},
    store_url=True, url_storage=FileStorage(storage), upload_checksum=True,
)
uploader.upload()
"""


@contextmanager
def resumed_after_a_kill(
    uploads: RunningServer, tmp_path: Path
) -> Iterator[tuple[tus_client.Uploader, str]]:
    """A tuspy upload of a file of 30 MiB and a bit to ``tus/resumed.bin``, killed (SIGKILL)
    after two whole parts and a third of the next, then a new client that finds its URL where
    the first one stored it. Yielded with the file's SHA-256 (hex) once the server has ended
    the broken-off PATCH: checked to have had no answer, no error logged, and nothing of its
    part kept. The caller uploads the rest."""
    source, storage = tmp_path / "resumed.bin", tmp_path / "tus-urls.json"
    expected = write_random(source, 30 * MIB + 12345)
    kill_at = 2 * PART + 3 * MIB
    client = [sys.executable, "-c", KILLED_CLIENT, f"{uploads.url}/uploads"]
    killed = subprocess.run(
        [*client, str(source), str(storage), str(kill_at)],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr.decode()

    # The same storage gives a new client the upload's URL; it asks the server for the offset.
    stream = HeldOpen(io.FileIO(source))
    urls = FileStorage(str(storage))  # type: ignore[no-untyped-call]
    try:
        uploader = tus_client.TusClient(f"{uploads.url}/uploads").uploader(
            file_stream=stream,
            chunk_size=PART,
            metadata={"filename": "tus/resumed.bin"},
            store_url=True,
            url_storage=urls,
            upload_checksum=True,
        )
        assert uploader.url is not None
        path = "/uploads/" + uploader.url.rsplit("/", 1)[1]
        # The broken-off PATCH has ended on the server (its access line) before the offset
        # counts.
        broken = uploads.wait_for_log(
            lambda entry: (
                entry.get("method") == "PATCH"
                and entry.get("path") == path
                and entry.get("status") != 204
            ),
            timeout_s=30,
        )
        assert (broken["status"], broken["outcome"]) == (0, "cancelled")  # no one to answer
        assert not uploads.errors(broken["request_id"])
        assert head(uploader.url).headers["upload-offset"] == str(2 * PART)  # nothing of part 3
        yield uploader, expected
    finally:
        stream.release()
        urls.close()


def test_an_upload_killed_half_way_resumes_from_the_servers_offset(
    uploads: RunningServer, store: Path, tmp_path: Path
) -> None:
    with resumed_after_a_kill(uploads, tmp_path) as (uploader, expected):
        uploader.offset = uploader.get_offset()
        assert uploader.offset == 2 * PART
        uploader.upload()

    sha256, headers = download(uploads, "tus/resumed.bin")
    assert sha256 == expected
    assert headers["repr-digest"] == repr_digest(expected)
    assert leftovers(store, uploader.url) == finished_record(uploader.url)


def test_empty_files_are_published_too(uploads: RunningServer, tmp_path: Path) -> None:
    empty_sha256 = hashlib.sha256(b"").hexdigest()
    with io.BytesIO(b"") as stream:  # tuspy sends only the POST for an empty file
        tuspy_upload(uploads, stream, "tus/empty.bin", PART)
    sha256, headers = download(uploads, "tus/empty.bin")
    assert sha256 == empty_sha256
    assert headers["content-length"] == "0"
    assert headers["repr-digest"] == repr_digest(sha256)

    deferred = new_upload(uploads, "tus/empty-deferred.bin", None)
    assert patch(deferred, 0, b"", **{"Upload-Length": "0"}).status_code == 204
    assert download(uploads, "tus/empty-deferred.bin")[0] == empty_sha256


def test_a_wrong_checksum_is_460_and_the_part_is_not_kept(
    uploads: RunningServer, store: Path
) -> None:
    url, first, second = a_refused_first_part(uploads, "tus/checked.bin")
    assert (store / ".uploads" / (url.rsplit("/", 1)[1] + ".data")).stat().st_size == 0

    sha1 = "sha1 " + base64.b64encode(hashlib.sha1(first).digest()).decode()
    assert patch(url, 0, first, **{"Upload-Checksum": sha1}).headers["upload-offset"] == str(MIB)
    bad_sha1 = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert patch(url, MIB, second, **{"Upload-Checksum": bad_sha1}).status_code == 460
    done = patch(url, MIB, second, **{"Upload-Checksum": sha256_checksum(second)})
    assert done.status_code == 204
    assert download(uploads, "tus/checked.bin")[0] == hashlib.sha256(first + second).hexdigest()

    malformed = new_upload(uploads, "tus/malformed-checksum.bin", 10)
    for header in ("md5 AAAA", "sha256 not-base64!", "sha256 " + b64("short")):
        answer = patch(malformed, 0, b"0123456789", **{"Upload-Checksum": header})
        assert answer.status_code == 400, header
        assert error_code(answer) == "bad_checksum"
    assert head(malformed).headers["upload-offset"] == "0"


def test_delete_terminates_and_leaves_nothing(uploads: RunningServer, store: Path) -> None:
    url = new_upload(uploads, "tus/terminated.bin", 3 * MIB)
    assert patch(url, 0, os.urandom(MIB)).status_code == 204
    assert len(leftovers(store, url)) == 3  # state, data, lock

    answer = httpx.delete(url, headers=TUS, timeout=30)
    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert leftovers(store, url) == []
    assert not (store / "tus" / "terminated.bin").exists()
    assert head(url).status_code == 404
    assert patch(url, MIB, b"more").status_code == 404
    again = httpx.delete(url, headers=TUS, timeout=30)
    assert again.status_code == 404
    assert error_code(again) == "upload_not_found"


@pytest.fixture(scope="module")
def another_process(store: Path) -> Iterator[RunningServer]:
    """A second ``streamway serve`` over the same store: another worker, another sandbox."""
    with serving(store) as running:
        yield running


@pytest.mark.parametrize("where", ["same process", "another process"])
async def test_concurrent_patches_one_wins_the_other_gets_409_nothing_corrupted(
    uploads: RunningServer, store: Path, request: pytest.FixtureRequest, where: str
) -> None:
    other = uploads if where == "same process" else request.getfixturevalue("another_process")
    winner, loser = os.urandom(2 * MIB), os.urandom(2 * MIB)
    tail = os.urandom(1234)
    key = f"tus/contended-{where.replace(' ', '-')}.bin"
    url = new_upload(uploads, key, len(winner) + len(tail))
    other_url = url.replace(uploads.url, other.url)
    data = store / ".uploads" / (url.rsplit("/", 1)[1] + ".data")
    # The first body's bytes in the upload's data file: the first PATCH holds the upload.
    await one_wins_the_other_is_busy(
        url, other_url, winner, loser, lambda: data.stat().st_size >= MIB
    )
    # The state is in the store: the other process knows the offset and takes the last part.
    assert head(other_url).headers["upload-offset"] == str(len(winner))
    late = patch(other_url, 0, loser)
    assert late.status_code == 409
    assert late.json()["error"]["offset"] == len(winner)
    assert patch(other_url, len(winner), tail).status_code == 204
    assert download(uploads, key)[0] == hashlib.sha256(winner + tail).hexdigest()


def test_options_says_version_extensions_and_limits(uploads: RunningServer) -> None:
    answer = httpx.options(f"{uploads.url}/uploads", timeout=30)
    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert answer.headers["tus-version"] == "1.0.0"
    assert set(answer.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "checksum",
        "expiration",
    }
    assert answer.headers["tus-max-size"] == str(MAX_UPLOAD)
    assert answer.headers["tus-checksum-algorithm"] == "sha1,sha256"
    assert answer.headers["x-streamway-upload-part-max-bytes"] == str(PART)


def test_head_gives_offset_length_metadata_and_no_store(uploads: RunningServer) -> None:
    metadata = f"filename {b64('tus/head.bin')},note {b64('héllo')},flag"
    answer = create(uploads, "ignored", 100, **{"Upload-Metadata": metadata})
    assert answer.status_code == 201, answer.text
    assert answer.headers["upload-offset"] == "0"
    expires = answer.headers["upload-expires"]
    parsed = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert timedelta(hours=23) < parsed - datetime.now(UTC) <= timedelta(hours=24)
    url = answer.headers["location"]
    assert url.startswith(f"{uploads.url}/uploads/")

    state = head(url)
    assert state.status_code == 200
    assert state.headers["upload-offset"] == "0"
    assert state.headers["upload-length"] == "100"
    assert state.headers["upload-metadata"] == metadata
    assert state.headers["cache-control"] == "no-store"
    assert state.headers["upload-expires"] == expires


def test_creation_with_upload_and_a_deferred_length(uploads: RunningServer, store: Path) -> None:
    body = os.urandom(5000)
    answer = create(uploads, "tus/with-body.bin", None, **{"Content-Type": OFFSET_TYPE})
    assert answer.status_code == 201
    url = answer.headers["location"]
    assert head(url).headers["upload-defer-length"] == "1"

    created = create(
        uploads,
        "tus/created-whole.bin",
        len(body),
        body=body,
        **{"Content-Type": OFFSET_TYPE, "Upload-Checksum": sha256_checksum(body)},
    )
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == str(len(body))
    # A first part that fails: the client never got a Location, so no upload is left.
    before = sorted((store / ".uploads").iterdir())
    failed = create(
        uploads,
        "tus/created-failed.bin",
        len(body),
        body=body,
        **{"Content-Type": OFFSET_TYPE, "Upload-Checksum": sha256_checksum(body + b"!")},
    )
    assert failed.status_code == 460
    assert "location" not in failed.headers
    assert sorted((store / ".uploads").iterdir()) == before
    assert not (store / "tus" / "created-failed.bin").exists()
    assert "upload-expires" not in created.headers  # finished: it no longer expires
    assert download(uploads, "tus/created-whole.bin")[0] == hashlib.sha256(body).hexdigest()

    # The deferred one: parts, then the length on the last PATCH.
    assert patch(url, 0, body[:3000]).headers["upload-offset"] == "3000"
    conflict = patch(url, 3000, body[3000:], **{"Upload-Length": "2999"})
    assert conflict.status_code == 400
    assert error_code(conflict) == "length_conflict"
    last = patch(url, 3000, body[3000:], **{"Upload-Length": str(len(body))})
    assert last.status_code == 204
    assert download(uploads, "tus/with-body.bin")[0] == hashlib.sha256(body).hexdigest()


def test_412_for_a_missing_or_wrong_tus_resumable(uploads: RunningServer) -> None:
    url = new_upload(uploads, "tus/412.bin", 10)
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        for answer in (
            httpx.post(
                f"{uploads.url}/uploads",
                headers={**headers, "Upload-Length": "1", "Upload-Metadata": "filename eA=="},
            ),
            httpx.head(url, headers=headers),
            httpx.patch(
                url,
                content=b"x",
                headers={**headers, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE},
            ),
            httpx.delete(url, headers=headers),
        ):
            assert answer.status_code == 412
            assert answer.headers["tus-version"] == "1.0.0"
            if answer.request.method != "HEAD":
                assert error_code(answer) == "tus_version"
    assert head(url).status_code == 200  # not terminated by the refused DELETE


def test_415_for_a_patch_that_is_not_offset_octet_stream(uploads: RunningServer) -> None:
    url = new_upload(uploads, "tus/415.bin", 10)
    for content_type in ("application/octet-stream", "text/plain", None):
        headers = {**TUS, "Upload-Offset": "0"}
        if content_type:
            headers["Content-Type"] = content_type
        answer = httpx.patch(url, content=b"0123456789", headers=headers)
        assert answer.status_code == 415
        assert error_code(answer) == "unsupported_media_type"
    assert head(url).headers["upload-offset"] == "0"


def test_409_for_an_offset_mismatch_and_for_an_existing_key(uploads: RunningServer) -> None:
    url = new_upload(uploads, "tus/409.bin", 10)
    for offset in (1, 10, 99):
        answer = patch(url, offset, b"x")
        assert answer.status_code == 409
        assert error_code(answer) == "offset_mismatch"
        assert answer.json()["error"]["offset"] == 0
    for key in ("taken.txt", "taken.txt/under.bin", "a-directory"):
        taken = create(uploads, key, 10)
        assert taken.status_code == 409, key
        assert error_code(taken) == "object_exists"


def test_413_for_an_upload_or_a_part_over_the_limits(uploads: RunningServer, store: Path) -> None:
    over = create(uploads, "tus/413.bin", MAX_UPLOAD + 1)
    assert over.status_code == 413
    assert error_code(over) == "upload_too_large"

    deferred = new_upload(uploads, "tus/413-deferred.bin", None)
    declared = patch(deferred, 0, b"x", **{"Upload-Length": str(MAX_UPLOAD + 1)})
    assert declared.status_code == 413
    assert head(deferred).headers["upload-defer-length"] == "1"

    url = new_upload(uploads, "tus/413-part.bin", MAX_UPLOAD)
    # Content-Length over the part limit: refused from the head, before the body is read.
    path = url.removeprefix(uploads.url)
    answer = exchange(
        uploads.port,
        (
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: 0\r\nContent-Type: {OFFSET_TYPE}\r\n"
            f"Content-Length: {PART + 1}\r\nConnection: close\r\n\r\n"
        ).encode(),
        [],
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "part_too_large"

    # A chunked body says nothing ahead: refused once it passes the limit, nothing kept.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(PART // MIB + 1):
            yield b"\0" * MIB

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as client:
            headers = {**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
            return await client.patch(url, content=chunks(), headers=headers)

    chunked = asyncio.run(send())
    assert chunked.status_code == 413
    assert error_code(chunked) == "part_too_large"
    assert head(url).headers["upload-offset"] == "0"
    assert (store / ".uploads" / (url.rsplit("/", 1)[1] + ".data")).stat().st_size == 0


def test_404_and_410_for_unknown_and_expired_uploads(uploads: RunningServer, store: Path) -> None:
    for upload_id in ("A" * 32, "nope", "..%2F..%2Ftaken.txt"):
        answer = head(f"{uploads.url}/uploads/{upload_id}")
        assert answer.status_code == 404, upload_id
        refused = patch(f"{uploads.url}/uploads/{upload_id}", 0, b"x")
        assert refused.status_code == 404
        assert error_code(refused) in {"upload_not_found", "not_found"}

    url = new_upload(uploads, "tus/expired.bin", 10)
    # Time passing, written where the store keeps it: the upload's state file.
    state_path = store / ".uploads" / (url.rsplit("/", 1)[1] + ".json")
    state: dict[str, Any] = json.loads(state_path.read_text())
    state["expires"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    state_path.write_text(json.dumps(state))
    assert head(url).status_code == 410
    expired = patch(url, 0, b"0123456789")
    assert expired.status_code == 410
    assert error_code(expired) == "upload_expired"
    assert httpx.delete(url, headers=TUS).status_code == 410


NOT_UTF8 = base64.b64encode(bytes([0xFF, 0xFE])).decode()


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        (f"filename {b64('../outside.bin')}", "invalid_key"),
        (f"filename {b64('/etc/passwd')}", "invalid_key"),
        (f"filename {b64('.uploads/sneaky')}", "invalid_key"),
        (f"filename {b64('a/./b')}", "invalid_key"),
        (f"filename {b64('x.bin.sha256')}", "invalid_key"),
        ("filename " + NOT_UTF8, "invalid_key"),
        ("filename not*base64", "bad_metadata"),
        (f"note {b64('no filename')}", "bad_metadata"),
        (f"filename {b64('a')},filename {b64('b')}", "bad_metadata"),
        (f"bad key {b64('a')}", "bad_metadata"),
        ("filename " + "A" * 5000, "bad_metadata"),
        (",".join(f"k{i} {b64('v')}" for i in range(40)), "bad_metadata"),
    ],
)
def test_400_for_a_bad_key_or_bad_metadata(
    uploads: RunningServer, store: Path, metadata: str, code: str
) -> None:
    before = sorted((store / ".uploads").iterdir()) if (store / ".uploads").exists() else []
    answer = create(uploads, "ignored", 10, **{"Upload-Metadata": metadata})
    assert answer.status_code == 400
    assert error_code(answer) == code
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    after = sorted((store / ".uploads").iterdir()) if (store / ".uploads").exists() else []
    assert after == before  # no half-created upload
    assert not (store.parent / "outside.bin").exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Length": "-1"},
        {"Upload-Length": "ten"},
        {"Upload-Length": "1" * 30},
        {"Upload-Defer-Length": "0"},
        {"Upload-Length": "10", "Upload-Defer-Length": "1"},
        {},
    ],
)
def test_400_for_a_bad_length(uploads: RunningServer, headers: dict[str, str]) -> None:
    answer = httpx.post(
        f"{uploads.url}/uploads",
        headers={**TUS, "Upload-Metadata": f"filename {b64('tus/len.bin')}", **headers},
    )
    assert answer.status_code == 400
    assert error_code(answer) in {"bad_header", "bad_length"}


def test_uploads_are_off_by_default(server: RunningServer) -> None:
    answer = httpx.options(f"{server.url}/uploads", timeout=30)
    assert answer.status_code == 404
    assert error_code(answer) == "uploads_off"
    refused = httpx.post(
        f"{server.url}/uploads",
        headers={**TUS, "Upload-Length": "1", "Upload-Metadata": f"filename {b64('x')}"},
    )
    assert refused.status_code == 404
