"""Key rules and the local directory store: traversal refused, ranged reads exact, fds closed."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamway.storage import (
    InvalidKey,
    LocalStore,
    ObjectChanged,
    ObjectNotFound,
    StoreFailed,
    StoreUnavailable,
    check_key,
)
from streamway.storage.keys import check_object_key, is_canonical

TRAVERSALS = [
    "",
    "..",
    "../etc/passwd",
    "a/../../etc/passwd",
    "a/..",
    "..\\windows\\win.ini",
    "a\\..\\..\\x",
    "/etc/passwd",
    "\\server\\share",
    "C:/Windows/win.ini",
    "c:secret",
    "a\x00.txt",
    "x" * 1025,
]


@pytest.mark.parametrize("key", TRAVERSALS)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


def test_a_key_may_have_exactly_s3s_1024_utf8_bytes_and_not_one_more() -> None:
    # 1024 bytes of UTF-8 is S3's documented key limit; "レ" is 3 bytes, so the limit is in
    # bytes, not characters.
    at_limit = "レ" * 341 + "a"
    assert len(at_limit.encode()) == 1024
    assert check_key(at_limit) == at_limit
    with pytest.raises(InvalidKey, match="longer than 1024 bytes"):
        check_key(at_limit + "a")
    with pytest.raises(InvalidKey, match="longer than 1024 bytes"):
        check_key("レ" * 342)  # 342 characters, 1026 bytes


def test_a_key_with_a_lone_surrogate_is_refused_as_not_unicode() -> None:
    # What a percent-decoded path with invalid UTF-8 becomes under surrogateescape.
    with pytest.raises(InvalidKey, match="not valid Unicode"):
        check_key("report-\udce9.pdf")


@given(
    st.lists(st.sampled_from(["a", "..", ".", "", "b c", "レ", "..."]), min_size=1, max_size=6).map(
        "/".join
    )
)
def test_a_key_with_a_dotdot_segment_never_passes(key: str) -> None:
    if ".." in key.split("/") or not key or key.startswith("/"):
        with pytest.raises(InvalidKey):
            check_key(key)
    else:
        assert check_key(key) == key


@given(st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=30))
def test_every_accepted_key_resolves_inside_the_root(
    tmp_path_factory: pytest.TempPathFactory, key: str
) -> None:
    root = tmp_path_factory.mktemp("root", numbered=True)
    store = LocalStore(root, chunk_size=4096)
    try:
        check_key(key)
    except InvalidKey:
        return
    if not is_canonical(key):
        with pytest.raises(ObjectNotFound):
            store.path_of(key)
        return
    path = store.path_of(key)
    assert path == store.root or path.is_relative_to(store.root)


def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    root = tmp_path / "store"
    root.mkdir()
    (root / "link.txt").symlink_to(outside)
    (root / "dir").symlink_to(tmp_path)
    store = LocalStore(root, chunk_size=4096)
    for key in ("link.txt", "dir/secret.txt"):
        with pytest.raises(InvalidKey):
            asyncio.run(store.stat(key))


def test_stat_reads_metadata_and_sidecar_checksum_only_when_fresh(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    sidecar = tmp_path / "data.bin.sha256"
    sidecar.write_text(f"{hashlib.sha256(data).hexdigest()}  data.bin\n")
    store = LocalStore(tmp_path, chunk_size=65536)

    info = asyncio.run(store.stat("data.bin"))
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).digest()
    assert info.etag.startswith('"')
    assert info.etag.endswith('"')
    assert info.last_modified.tzinfo is not None

    os.utime(sidecar, ns=(0, path.stat().st_mtime_ns - 1))  # the file changed after it
    rewritten = asyncio.run(store.stat("data.bin"))
    assert rewritten.sha256 is None

    path.write_bytes(data[:-1])
    assert asyncio.run(store.stat("data.bin")).etag != info.etag

    for missing in ("nope.bin", "data.bin/inside", "."):
        with pytest.raises(ObjectNotFound):
            asyncio.run(store.stat(missing))


def test_ranged_reads_are_exact_and_close_their_descriptor(tmp_path: Path) -> None:
    data = os.urandom(1_000_003)
    (tmp_path / "data.bin").write_bytes(data)
    store = LocalStore(tmp_path, chunk_size=65536)

    async def read(start: int, end: int) -> bytes:
        body = await store.open("data.bin", start, end)
        try:
            return b"".join([chunk async for chunk in body])
        finally:
            await body.aclose()

    async def abandon() -> None:
        body = await store.open("data.bin", 0, len(data))
        await body.__anext__()
        await body.aclose()
        await body.aclose()  # twice is harmless

    before = len(os.listdir("/proc/self/fd"))
    for start, end in [(0, len(data)), (10, 11), (65535, 65537), (999_000, len(data))]:
        assert asyncio.run(read(start, end)) == data[start:end]
    for _ in range(50):
        asyncio.run(abandon())
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_file_truncated_while_read_is_a_failure_not_a_short_success(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 200_000)
    store = LocalStore(tmp_path, chunk_size=65536)

    async def read_while_truncating() -> None:
        body = await store.open("data.bin", 0, 200_000)
        try:
            await body.__anext__()
            os.truncate(path, 70_000)
            with pytest.raises(StoreFailed, match="truncated"):
                async for _ in body:
                    pass
        finally:
            await body.aclose()

    asyncio.run(read_while_truncating())


def test_open_refuses_a_file_replaced_since_stat(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"one")
    store = LocalStore(tmp_path, chunk_size=4096)
    etag = asyncio.run(store.stat("data.bin")).etag
    path.write_bytes(b"two!")
    with pytest.raises(ObjectChanged):
        asyncio.run(store.open("data.bin", 0, 4, etag=etag))


def test_get_opens_and_describes_the_same_file_and_never_hangs_on_a_fifo(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    (tmp_path / "data.bin").write_bytes(data)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    store = LocalStore(tmp_path, chunk_size=65536)

    async def run() -> None:
        info, body = await store.get("data.bin")
        try:
            assert info == await store.stat("data.bin")
            assert b"".join([chunk async for chunk in body]) == data
        finally:
            await body.aclose()
        for not_a_file in ("pipe", "dir"):
            with pytest.raises(ObjectNotFound):
                await asyncio.wait_for(store.get(not_a_file), timeout=5)

    asyncio.run(run())


def test_a_missing_store_directory_is_unavailable_not_a_missing_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "gone", chunk_size=4096)
    with pytest.raises(StoreUnavailable):
        asyncio.run(store.stat("a.bin"))
    with pytest.raises(StoreUnavailable):
        asyncio.run(store.get("a.bin"))


@pytest.mark.parametrize("key", ["hello.txt/", "./hello.txt", "sub//x.txt", "sub/./x.txt", "sub/."])
def test_other_spellings_of_a_key_name_no_object(tmp_path: Path, key: str) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x")
    store = LocalStore(tmp_path, chunk_size=4096)
    assert not is_canonical(key)
    with pytest.raises(ObjectNotFound):
        check_object_key(key)
    for call in (store.stat, store.get, lambda k: store.open(k, 0, 1)):
        with pytest.raises(ObjectNotFound):
            asyncio.run(call(key))
    assert check_object_key("sub/x.txt") == "sub/x.txt"
    assert asyncio.run(store.stat("sub/x.txt")).size == 1


def test_names_no_file_can_have_are_missing_objects_not_failures(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    store = LocalStore(tmp_path, chunk_size=4096)
    long_segment = "x" * 256 + "/y.txt"  # a file name has at most 255 bytes
    for key in ("loop", "a", "loop/inside.txt", long_segment, "x" * 300):
        check_key(key)  # a fine key: the file system is what cannot hold it
        with pytest.raises(ObjectNotFound):
            asyncio.run(store.stat(key))
        with pytest.raises(ObjectNotFound):
            asyncio.run(store.get(key))


def test_a_sidecar_is_not_an_object_but_a_lone_sha256_file_is(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"data")
    (tmp_path / "data.bin.sha256").write_text("0" * 64 + "  data.bin\n")
    (tmp_path / "notes.sha256").write_text("mine")
    store = LocalStore(tmp_path, chunk_size=4096)
    for call in (store.stat, store.get):
        with pytest.raises(ObjectNotFound):
            asyncio.run(call("data.bin.sha256"))
    with pytest.raises(ObjectNotFound):
        asyncio.run(store.open("data.bin.sha256", 0, 1))
    assert asyncio.run(store.stat("notes.sha256")).size == 4
    listed = asyncio.run(store.list("", cursor=None, limit=10))
    assert [info.key for info in listed.items] == ["data.bin", "notes.sha256"]
