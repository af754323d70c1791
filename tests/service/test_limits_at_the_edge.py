"""``streamway serve``'s documented limits, each at the limit and one past it.

The values are written out as the docs give them, never imported from the code under test:
a request body of 10 MB = 10,485,760 bytes (docs/streaming.md, API Gateway's own limit), a
prompt of 16,000 characters (``STREAMWAY_MAX_PROMPT_CHARS``, docs/configuration.md), and an
AgentCore session id of 33 to 256 characters (docs/agentcore.md). A scripted OpenAI-compatible
peer answers, so a request that passes a limit costs no model time.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningServer, exchange, streamway_server

REQUEST_LIMIT = 10_485_760
PROMPT_LIMIT = 16_000
SESSION_ID_MIN, SESSION_ID_MAX = 33, 256
SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve_in_thread(OpenAIChatPeer()) as url:
        env = {
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
            "STREAMWAY_OPENAI_API_KEY": "sk-test",
            "STREAMWAY_SESSIONS_DIR": str(tmp_path_factory.mktemp("sessions")),
        }
        with streamway_server(env) as running:
            yield running


def padded_body(size: int) -> bytes:
    """A valid /streaming body of exactly ``size`` bytes: JSON allows trailing whitespace."""
    body = b'{"request": "Say hi."}'
    return body + b" " * (size - len(body))


def post_streaming(server: RunningServer, body: bytes, *, chunked: bool) -> bytes:
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        "POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\n{framing}\r\n\r\n"
    ).encode()
    step = 1 << 20
    pieces = [body[n : n + step] for n in range(0, len(body), step)]
    if chunked:
        pieces = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]
    return exchange(server.port, head, pieces)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_10_mb_is_answered(server: RunningServer, chunked: bool) -> None:
    answer = post_streaming(server, padded_body(REQUEST_LIMIT), chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert answer.endswith(b"\r\n0\r\n\r\n")  # the whole answer, chunked


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_one_byte_over_10_mb_is_413(server: RunningServer, chunked: bool) -> None:
    answer = post_streaming(server, padded_body(REQUEST_LIMIT + 1), chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert b'"payload_too_large"' in answer


def test_a_prompt_of_exactly_the_limit_is_answered(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/streaming", json={"request": "a" * PROMPT_LIMIT}, timeout=60
    )
    assert response.status_code == 200
    assert response.text == "Chunks arrive one at a time, then stop."


@pytest.mark.parametrize("route", ["/streaming", "/invocations"])
def test_a_prompt_one_character_over_the_limit_is_413(server: RunningServer, route: str) -> None:
    field = "request" if route == "/streaming" else "prompt"
    response = httpx.post(f"{server.url}{route}", json={field: "a" * (PROMPT_LIMIT + 1)})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "prompt_too_long"
    assert error["limit_chars"] == PROMPT_LIMIT


def invoke(server: RunningServer, session_id: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/invocations",
        json={"prompt": "Say hi."},
        headers={"accept": "application/json", SESSION: session_id},
        timeout=60,
    )


@pytest.mark.parametrize(
    "length",
    [
        SESSION_ID_MIN,
        SESSION_ID_MAX,
    ],
)
def test_session_ids_of_33_and_256_characters_are_taken(server: RunningServer, length: int) -> None:
    response = invoke(server, "s" * length)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "Chunks arrive one at a time, then stop."


@pytest.mark.parametrize("length", [SESSION_ID_MIN - 1, SESSION_ID_MAX + 1])
def test_session_ids_of_32_and_257_characters_are_400(server: RunningServer, length: int) -> None:
    response = invoke(server, "s" * length)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_session_id"
