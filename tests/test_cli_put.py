"""``streamway put`` as a user runs it (a subprocess), against ``streamway serve`` with uploads
on: the file arrives whole, a killed upload resumes from the server's offset, limits hold."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from streamway.uploader import READ_PIECE, UploadFailed, upload
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningServer, streamway_local, streamway_server
from tests.tcp_proxy import cutting_proxy

MiB = 1024 * 1024
TUS = {"tus-resumable": "1.0.0"}
T = TypeVar("T")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[RunningServer]:
    env = {"STREAMWAY_UPLOADS": "on", "STREAMWAY_STORE_URL": f"file://{store}"}
    with streamway_server(env) as running:
        yield running


def random_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path`` 1 MiB at a time; returns their sha-256 (hex)."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for start in range(0, size, MiB):
            block = os.urandom(min(MiB, size - start))
            digest.update(block)
            file.write(block)
    return digest.hexdigest()


def put_command(*args: str, state: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    return [sys.executable, "-m", "streamway", "put", *args], env


def streamway_put(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    command, env = put_command(*args, state=state)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def remembered(state: Path) -> dict[str, str]:
    where = state / "streamway" / "uploads.json"
    if not where.exists():
        return {}
    entries: dict[str, str] = json.loads(where.read_text(encoding="utf-8"))
    return entries


def downloaded_sha256(url: str) -> tuple[str, str | None]:
    """The sha-256 (hex) of a download's body as it streams, and its Repr-Digest."""
    digest = hashlib.sha256()
    with httpx.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            digest.update(chunk)
        return digest.hexdigest(), response.headers.get("repr-digest")


def wait_until(what: str, probe: Callable[[], T | None], timeout_s: float = 120) -> T:
    """Polls ``probe`` until it gives a value; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)
    return value


def statuses_after(
    server: RunningServer, mark: int, method: str, done: Callable[[list[int]], bool]
) -> list[int]:
    """The statuses of the access lines of ``method`` on /uploads after the first ``mark`` log
    lines, once ``done`` says they are all written."""

    def probe() -> list[int] | None:
        statuses = [
            int(str(entry["status"]))
            for entry in server.logs()[mark:]
            if entry.get("logger") == "streamway.access"
            and entry.get("method") == method
            and str(entry.get("path", "")).startswith("/uploads")
        ]
        return statuses if done(statuses) else None

    return wait_until(f"the {method} lines in the server's log", probe, timeout_s=30)


def count(n: int, status: int) -> Callable[[list[int]], bool]:
    return lambda statuses: statuses.count(status) >= n


def server_offset(server: RunningServer, upload_url: str) -> int:
    """The upload's offset as the server has it (HEAD straight to the server, not the proxy)."""
    response = httpx.head(server.url + urlsplit(upload_url).path, headers=TUS, timeout=10)
    assert response.status_code == 200, response.headers
    return int(response.headers["upload-offset"])


def test_put_sends_a_60_mb_file_in_8_mib_parts_that_arrives_with_its_sha256(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 60 * 1000 * 1000 + 7  # seven whole 8 MiB parts and a short last one
    sha256 = random_file(tmp_path / "big.bin", size)
    state = tmp_path / "state"
    mark = len(server.logs())

    result = streamway_put(
        str(tmp_path / "big.bin"), server.url, "--name", "put/big.bin", state=state
    )

    assert result.returncode == 0, result.stderr
    assert f"{server.url}/download/put/big.bin: {size} bytes (sha-256 verified)" in result.stderr
    assert hashlib.sha256((store / "put" / "big.bin").read_bytes()).hexdigest() == sha256
    body_sha256, repr_digest = downloaded_sha256(f"{server.url}/download/put/big.bin")
    assert body_sha256 == sha256
    assert repr_digest == f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"
    assert statuses_after(server, mark, "POST", count(1, 201)) == [201]
    assert statuses_after(server, mark, "PATCH", count(8, 204)) == [204] * 8
    assert "60.0/60.0 MB" in result.stderr  # the progress bar was drawn, to the end
    assert remembered(state) == {}  # a finished upload is forgotten


def patch_heads(wire: bytes) -> list[dict[str, str]]:
    """The headers of each PATCH in the bytes a client sent (requests one after the other,
    bodies skipped by their Content-Length)."""
    heads: list[dict[str, str]] = []
    position = 0
    while position < len(wire):
        end = wire.index(b"\r\n\r\n", position)
        request_line, *lines = wire[position:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if request_line.startswith("PATCH "):
            heads.append(headers)
        position = end + 4 + int(headers.get("content-length", "0"))
    return heads


@pytest.mark.parametrize("part_checksum", [True, False])
def test_the_client_sends_a_part_checksum_unless_told_not_to(
    server: RunningServer, store: Path, tmp_path: Path, part_checksum: bool
) -> None:
    # upload(part_checksum=False) is for bench/uploads.py only; `streamway put` always sends
    # it (the test above). Parts of two read pieces and a bit (the last piece short), and a
    # short last part, through a recording proxy.
    part_size = 2 * READ_PIECE + 4096
    size = 2 * part_size + 1000
    sha256 = random_file(tmp_path / "parts.bin", size)
    content = (tmp_path / "parts.bin").read_bytes()
    key = f"checksum-{part_checksum}.bin"
    with cutting_proxy(server.port, record=True) as proxy:
        result = upload(
            tmp_path / "parts.bin",
            f"http://127.0.0.1:{proxy.port}",
            key=key,
            part_size=part_size,
            remember_in=tmp_path / "state.json",
            part_checksum=part_checksum,
        )
        wire = proxy.from_clients()

    assert result.sha256_verified
    assert hashlib.sha256((store / key).read_bytes()).hexdigest() == sha256
    heads = patch_heads(wire)
    assert [int(head["upload-offset"]) for head in heads] == [0, part_size, 2 * part_size]
    assert all("transfer-encoding" not in head for head in heads)  # a Content-Length each
    if part_checksum:
        parts = [content[i : i + part_size] for i in range(0, size, part_size)]
        sent = [
            "sha256 " + base64.b64encode(hashlib.sha256(part).digest()).decode() for part in parts
        ]
        assert [head["upload-checksum"] for head in heads] == sent
    else:
        assert all("upload-checksum" not in head for head in heads)


def test_put_killed_mid_upload_resumes_from_the_servers_offset_and_finishes(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 60 * 1000 * 1000
    sha256 = random_file(tmp_path / "resumed.bin", size)
    state = tmp_path / "state"
    mark = len(server.logs())
    with cutting_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        # Two 8 MiB parts pass whole, the third stalls half-way: however fast the machine, the
        # client is still uploading when the server's offset has passed 16 MB.
        proxy.stall_upstream_after(20 * MiB)
        command, env = put_command(
            str(tmp_path / "resumed.bin"), url, "--name", "put/resumed.bin", "-q", state=state
        )
        first = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            upload_url = wait_until(
                "the upload URL remembered", lambda: next(iter(remembered(state).values()), None)
            )
            passed = wait_until(
                "the server's offset past 16 MB",
                lambda: offset if (offset := server_offset(server, upload_url)) > 16e6 else None,
            )
            wait_until("the third part stalled", lambda: proxy.stalls or None)
        finally:
            first.send_signal(signal.SIGKILL)
            _, first_stderr = first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, first_stderr
        assert proxy.stalls == 1
        kept = server_offset(server, upload_url)
        assert kept == passed == 16 * MiB  # the stalled part was not kept, nothing went back

        second = streamway_put(
            str(tmp_path / "resumed.bin"), url, "--name", "put/resumed.bin", state=state
        )

    assert second.returncode == 0, second.stderr
    assert f"resumed at byte {kept}" in second.stderr
    assert "sha-256 verified" in second.stderr
    assert hashlib.sha256((store / "put" / "resumed.bin").read_bytes()).hexdigest() == sha256
    # One upload, never created again: 2 parts, the stalled one, then the 6 parts left from
    # 16 MiB on.
    assert statuses_after(server, mark, "POST", count(1, 201)) == [201]
    statuses = statuses_after(server, mark, "PATCH", count(8, 204))
    # 0: the stalled part, whose client went before an answer (the server sends none);
    # 409: the second client's PATCH came before the server saw the first one go (that line
    # may then come first).
    assert statuses[:2] == [204, 204], statuses
    assert statuses.count(0) == 1, statuses
    assert [status for status in statuses[2:] if status not in (0, 409)] == [204] * 6, statuses
    assert remembered(state) == {}


def test_put_shrinks_its_parts_to_the_part_limit_the_server_announces(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 20 * MiB
    sha256 = random_file(tmp_path / "nine.bin", size)
    mark = len(server.logs())

    result = streamway_put(
        str(tmp_path / "nine.bin"), server.url, "--part-size", "9M", "-q", state=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert f"parts of {8 * MiB} bytes: the server's limit" in result.stderr
    assert hashlib.sha256((store / "nine.bin").read_bytes()).hexdigest() == sha256
    assert statuses_after(server, mark, "PATCH", count(3, 204)) == [204, 204, 204]


def test_put_starts_over_when_the_server_no_longer_knows_the_upload(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 20 * MiB
    sha256 = random_file(tmp_path / "gone.bin", size)
    state = tmp_path / "state"
    mark = len(server.logs())
    with cutting_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        proxy.stall_upstream_after(12 * MiB)  # one part passes, the second stalls
        command, env = put_command(str(tmp_path / "gone.bin"), url, "-q", state=state)
        first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            upload_url = wait_until(
                "the upload URL remembered", lambda: next(iter(remembered(state).values()), None)
            )
            wait_until("one part kept", lambda: server_offset(server, upload_url) or None)
            wait_until("the second part stalled", lambda: proxy.stalls or None)
        finally:
            first.kill()
            first.wait(timeout=30)
        # Terminated (tus termination) while the client was away: a rerun cannot resume it.
        terminated = httpx.delete(server.url + urlsplit(upload_url).path, headers=TUS)
        assert terminated.status_code == 204

        second = streamway_put(str(tmp_path / "gone.bin"), url, state=state)

    assert second.returncode == 0, second.stderr
    assert "resumed" not in second.stderr
    assert "sha-256 verified" in second.stderr
    assert hashlib.sha256((store / "gone.bin").read_bytes()).hexdigest() == sha256
    assert statuses_after(server, mark, "POST", count(2, 201)) == [201, 201]
    assert remembered(state) == {}


def test_put_retries_by_itself_when_its_connection_breaks_and_progress_renews_its_retries(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 40 * MiB  # five parts; the connection breaks in the second, third and fourth
    sha256 = random_file(tmp_path / "flaky.bin", size)
    state = tmp_path / "state"
    mark = len(server.logs())
    with cutting_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        proxy.stall_upstream_after(12 * MiB)
        # --retries 2 and three breaks: it finishes only because each break follows progress
        # (a 409 while the server still finishes the broken PATCH may take one more retry).
        command, env = put_command(
            str(tmp_path / "flaky.bin"), url, "--retries", "2", "-q", state=state
        )
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            upload_url = wait_until(
                "the upload URL remembered", lambda: next(iter(remembered(state).values()), None)
            )
            for breaks in (1, 2, 3):
                wait_until(
                    f"part {breaks} kept",
                    lambda n=breaks: server_offset(server, upload_url) == n * 8 * MiB or None,
                )
                wait_until(f"stall {breaks}", lambda n=breaks: proxy.stalls == n or None)
                if breaks < 3:
                    proxy.stall_upstream_after(12 * MiB)  # armed first: the retry meets it
                proxy.drop_stalled()
            _, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert process.returncode == 0, stderr
    assert "sha-256 verified" in stderr
    assert hashlib.sha256((store / "flaky.bin").read_bytes()).hexdigest() == sha256
    assert statuses_after(server, mark, "POST", count(1, 201)) == [201]
    statuses = statuses_after(server, mark, "PATCH", count(5, 204))
    # 0: a part whose connection broke (no answer, nothing kept), as in the test above.
    broken = [204, 0] * 3 + [204, 204]
    assert [status for status in statuses if status != 409] == broken, statuses


def test_put_through_streamway_local_sends_parts_lambda_takes(tmp_path: Path) -> None:
    """Behind API Gateway and Lambda a part is at most 4 MiB (the 6 MB event): the function
    says so in OPTIONS, and put's default 8 MiB parts shrink to it instead of getting 413."""
    store = tmp_path / "store"
    store.mkdir()
    size = 30 * 1000 * 1000
    sha256 = random_file(tmp_path / "lambda.bin", size)
    # A scripted model peer: the function's cold start loads no model.
    with serve_in_thread(OpenAIChatPeer()) as peer:
        env = {
            "STREAMWAY_UPLOADS": "true",
            "STREAMWAY_STORE_URL": f"file://{store}",
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
        }
        with streamway_local(env) as local:
            result = streamway_put(str(tmp_path / "lambda.bin"), local.url, "-q", state=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"{local.url}/download/lambda.bin: {size} bytes (sha-256 verified" in result.stderr
    assert f"parts of {4 * MiB} bytes: the server's limit" in result.stderr
    assert hashlib.sha256((store / "lambda.bin").read_bytes()).hexdigest() == sha256


def test_put_uploads_when_its_state_directory_cannot_be_written(
    server: RunningServer, store: Path, tmp_path: Path
) -> None:
    sha256 = random_file(tmp_path / "stateless.bin", 3 * MiB)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("XDG_STATE_HOME points at a file: streamway/ cannot be made in it\n")

    result = streamway_put(str(tmp_path / "stateless.bin"), server.url, "-q", state=blocked)

    assert result.returncode == 0, result.stderr
    assert "sha-256 verified" in result.stderr
    assert hashlib.sha256((store / "stateless.bin").read_bytes()).hexdigest() == sha256


class TruncatesAfterTheFirstPart:
    """A progress bar that cuts the file to ``keep`` bytes once the first part went through,
    as a user's other program might while put runs."""

    def __init__(self, path: Path, keep: int) -> None:
        self.path, self.keep = path, keep

    def start(self, name: str, total: int | None, completed: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        os.truncate(self.path, self.keep)

    def stop(self) -> None:
        pass


def test_a_file_that_shrinks_during_the_upload_fails_clearly(
    server: RunningServer, tmp_path: Path
) -> None:
    source = tmp_path / "shrinks.bin"
    random_file(source, 20 * MiB)
    with pytest.raises(UploadFailed) as failed:
        upload(
            source,
            f"{server.url}/uploads",
            key="shrinks.bin",
            part_size=5 * MiB,
            progress=TruncatesAfterTheFirstPart(source, 7 * MiB),
            remember_in=tmp_path / "uploads.json",
        )
    # The second part may have been read ahead before the cut (then the third read finds the
    # end at 10 MiB) or not (then it ends at 7 MiB): either way, put names the file and stops.
    message = str(failed.value)
    assert message.startswith(f"cannot read {source}: the file ended at ")
    assert message.endswith(" bytes: it changed meanwhile")
    ended_at = int(message.split("the file ended at ")[1].split()[0])
    assert ended_at in (7 * MiB, 10 * MiB)
