"""POST /streaming against a real uvicorn on loopback and the real embedded model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RunningServer, raw_http

PROMPT = {"request": "What is response streaming?"}


def timed_chunks(response: httpx.Response) -> Iterator[tuple[float, bytes]]:
    started = time.perf_counter()
    for chunk in response.iter_raw():
        yield time.perf_counter() - started, chunk


def parse_sse(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.strip().split("\n\n"):
        name = "message"
        data = ""
        for line in block.splitlines():
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data += value
        events.append((name, json.loads(data)))
    return events


def test_plain_text_arrives_piece_by_piece(server: RunningServer) -> None:
    with httpx.stream("POST", f"{server.url}/streaming", json=PROMPT, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert "content-length" not in response.headers
        assert len(response.headers["x-request-id"]) >= 16
        arrivals = list(timed_chunks(response))

    text = b"".join(chunk for _, chunk in arrivals).decode()
    assert len(text.split()) >= 10
    assert len(arrivals) >= 10, "the answer came in too few pieces to be streamed"
    first, last = arrivals[0][0], arrivals[-1][0]
    # Streamed, not buffered: the first piece is out long before the answer is done. A
    # ratio of two times on the same clock, not a duration: a machine slowed throughout
    # slows both alike.
    assert first < last / 3, f"first chunk at {first:.3f}s, last at {last:.3f}s"


def test_event_stream_carries_text_then_done_with_usage(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/streaming",
        json=PROMPT,
        headers={"Accept": "text/event-stream"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    *texts, (last_name, done) = events
    assert last_name == "done"
    assert texts
    assert all(name == "message" and set(data) == {"text"} for name, data in texts)
    usage = done["usage"]
    assert isinstance(usage, dict)
    assert usage["output_tokens"] == len(texts)
    assert usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert done["stop_reason"] in {"end_turn", "max_tokens"}
    assert 0 < float(str(done["time_to_first_token_ms"])) < float(str(done["total_time_ms"]))


def test_request_id_is_echoed_and_logged(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/streaming",
        json={"request": "Say hello."},
        headers={"X-Request-Id": "test-req-1234"},
        timeout=60,
    )
    assert response.headers["x-request-id"] == "test-req-1234"
    access = server.wait_for_log(
        lambda e: e.get("request_id") == "test-req-1234" and e["logger"] == "streamway.access"
    )
    assert access["status"] == 200
    assert access["outcome"] == "complete"
    generation = server.wait_for_log(
        lambda e: e.get("request_id") == "test-req-1234" and e["logger"] == "streamway.agent"
    )
    assert generation["outcome"] == "completed"


def test_unsafe_request_id_is_replaced(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/streaming",
        content=b"{",
        headers={"X-Request-Id": "bad id with spaces"},
        timeout=10,
    )
    assert response.headers["x-request-id"] != "bad id with spaces"
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"not json", 400, "invalid_json", None),
        (b'{"request": ', 400, "invalid_json", None),
        (b"\xff\xfe", 400, "invalid_json", None),
        (b"{}", 422, "invalid_field", "request"),
        (b'{"request": ""}', 422, "invalid_field", "request"),
        (b'{"request": "   "}', 422, "invalid_field", "request"),
        (b'{"request": 42}', 422, "invalid_field", "request"),
        (b'{"request": ["a"]}', 422, "invalid_field", "request"),
        (b'{"request": null}', 422, "invalid_field", "request"),
        (b'["request"]', 422, "invalid_field", None),
        # Valid JSON, but hostile: each was a 500 (RecursionError, ValueError from int()).
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", None),
        (b'{"request": ' + b"7" * 5000 + b"}", 400, "invalid_json", None),
        (b'{"request": "\\ud800"}', 400, "invalid_json", None),
        (b'{"request": NaN}', 400, "invalid_json", None),
    ],
)
def test_bad_bodies_get_json_errors(
    server: RunningServer, body: bytes, status: int, code: str, field: str | None
) -> None:
    response = httpx.post(f"{server.url}/streaming", content=body, timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert "request" in error["message"]
    if field is not None:
        assert error["field"] == field


def test_prompt_over_the_limit_is_413(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/streaming", json={"request": "a" * 16_001}, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "prompt_too_long"


def test_declared_body_over_10_mb_is_refused_before_it_is_sent(server: RunningServer) -> None:
    head = (
        b"POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10485761\r\n\r\n"
    )
    # Not one byte of the body is sent: the answer must come from the header alone.
    answer = raw_http(server.port, head, [])
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"payload_too_large"' in answer


def test_chunked_body_over_10_mb_is_refused(server: RunningServer) -> None:
    head = (
        b"POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"a" * (1 << 20)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = raw_http(server.port, head, [chunk] * 12 + [b"0\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"payload_too_large"' in answer


def test_unknown_route_is_404_json(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/nope", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_json(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/streaming", timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
