"""streamway's own app behind ``streamway local``, from streamway's own API definition:
tokens streamed through a STREAM route, a 200 MB object with bounded memory, HEAD."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local
from tests.streams import post_prompt

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
#: Under Lambda's 200 MB cap on a streamed response (prelude included).
BIG_SIZE = 200_000_000
BIG_KEY = "big.bin"


@pytest.fixture(scope="module")
def big_object(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("store")
    digest = hashlib.sha256()
    block = os.urandom(8 * MiB)
    with (root / BIG_KEY).open("wb") as file:
        written = 0
        while written < BIG_SIZE:
            piece = block[: min(len(block), BIG_SIZE - written)]
            file.write(piece)
            digest.update(piece)
            written += len(piece)
    return root, digest.hexdigest()


@pytest.fixture(scope="module")
def scripted_peer() -> Iterator[str]:
    with serve_in_thread(OpenAIChatPeer()) as url:
        yield url


@pytest.fixture(scope="module")
def local(big_object: tuple[Path, str], scripted_peer: str) -> Iterator[RunningLocal]:
    root, _ = big_object
    env = {
        "STREAMWAY_STORE_URL": f"file://{root}",
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{scripted_peer}/v1",
    }
    with streamway_local(env) as running:
        yield running


def test_streaming_tokens_arrive_piece_by_piece(local: RunningLocal) -> None:
    answer = post_prompt(local.url, "What is response streaming?")
    assert answer.status == 200
    assert answer.error is None
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.text == "".join(ANSWER)
    # One piece per token from the peer, each relayed as it came: not one buffered body.
    assert len(answer.chunks) >= len(ANSWER) // 2


def test_streaming_sse_ends_with_done(local: RunningLocal) -> None:
    answer = post_prompt(local.url, "Hello", accept="text/event-stream")
    *texts, (name, done) = answer.sse_events()
    assert "".join(data["text"] for _, data in texts) == "".join(ANSWER)
    assert name == "done"
    assert done["stop_reason"] == "end_turn"


def test_a_200_mb_object_streams_whole_with_bounded_gateway_memory(
    local: RunningLocal, big_object: tuple[Path, str]
) -> None:
    _, expected = big_object
    url = f"{local.url}/download/{BIG_KEY}"
    # Warm the function and the gateway's code paths first, so what grows is the stream.
    assert httpx.head(url, timeout=60).status_code == 200
    before_kib = local.rss_kib()

    digest = hashlib.sha256()
    size = 0
    with httpx.stream("GET", url, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(BIG_SIZE)
        for chunk in response.iter_raw(MiB):
            digest.update(chunk)
            size += len(chunk)

    assert size == BIG_SIZE
    assert digest.hexdigest() == expected
    growth_mib = (local.peak_rss_kib() - before_kib) / 1024
    assert growth_mib < 64, f"the gateway grew by {growth_mib:.1f} MiB"


def test_head_download_sends_the_headers_without_a_body(local: RunningLocal) -> None:
    response = httpx.head(f"{local.url}/download/{BIG_KEY}", timeout=60)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == b""


@pytest.mark.model
def test_the_embedded_model_streams_through_local() -> None:
    with streamway_local() as running:
        answer = post_prompt(running.url, "Name three colours.", timeout_s=120)
    assert answer.status == 200
    assert answer.error is None
    assert len(answer.text.split()) >= 3
    assert len(answer.chunks) >= 5
