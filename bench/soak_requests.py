"""The requests of ``bench/soak.py``: one coroutine per kind, each returning an :class:`Outcome`.

Valid requests go through one httpx.AsyncClient. Aborted clients and bad inputs use raw
sockets, one connection each: an abort must really close the connection after a few bytes
(RST or FIN, chosen at random), and a bad input must not leave a half-read connection in the
client's pool. Every read is bounded in size and, by the soak, in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from bench.soak_watch import LogWatch

Group = Literal["valid", "abort", "bad"]

SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"
SSE = {"accept": "text/event-stream"}
PROMPTS = (
    "What is response streaming?",
    "Explain how HTTP range requests work.",
    "Describe TCP congestion control in a few sentences.",
    "Why do small language models repeat themselves?",
    "Write a short paragraph about serverless computing.",
    "List three uses of Server-Sent Events.",
)
#: The most bytes read of a bad input's answer: error bodies are small.
MAX_ERROR_ANSWER = 256 * 1024


@dataclass(frozen=True)
class Outcome:
    kind: str
    group: Group
    label: str  # a status ("200", "416"), "503 busy", "cut", "timeout", ...
    failure: str | None = None  # why this outcome breaks the soak's rules; None if fine
    deltas: int = 0  # answer pieces received (SSE events), for the token accounting
    output_tokens: int = 0  # usage.output_tokens of answers received whole
    gateway_id: str | None = None  # x-amzn-RequestId, to find the gateway's reason for a 5xx


@dataclass
class StoredFile:
    key: str  # as it goes in the URL path (percent-encoded)
    path: Path
    size: int
    etag: str = ""


@dataclass
class Target:
    """One server under soak, as the request kinds see it."""

    name: str  # serve | local
    base_url: str  # routes hang off it: http://127.0.0.1:PORT or http://127.0.0.1:PORT/dev
    port: int
    prefix: str  # the path prefix of routes for raw requests: "" or "/dev"
    client: httpx.AsyncClient
    logs: LogWatch
    large: StoredFile
    small: StoredFile
    sessions: list[str] = field(default_factory=list)
    _ids: int = 0

    def request_id(self) -> str:
        self._ids += 1
        return f"soak-{self.name}-{self._ids}"


Kind = Callable[[Target, random.Random], Awaitable[Outcome]]


def status_outcome(
    kind: str, group: Group, response: httpx.Response, expected: set[int]
) -> Outcome | None:
    """An outcome for a status other than ``expected``; None when it is one of them."""
    status = response.status_code
    if status in expected:
        return None
    gateway_id = response.headers.get("x-amzn-requestid")
    if status == 503 and "retry-after" in response.headers:
        return Outcome(kind, group, "503 busy", gateway_id=gateway_id)
    if status == 409 and group == "valid" and kind.startswith("invocations"):
        # Another worker is answering in the same session: refused by design, not queued.
        return Outcome(kind, group, "409 session busy")
    why = f"{status} on valid input" if status >= 500 else f"unexpected {status}"
    return Outcome(kind, group, str(status), failure=why, gateway_id=gateway_id)


# --- (a) /streaming -------------------------------------------------------------------------


async def stream_text(target: Target, rng: random.Random) -> Outcome:
    kind = "streaming text"
    body = {"request": rng.choice(PROMPTS)}
    headers = {"x-request-id": target.request_id()}
    async with target.client.stream("POST", "/streaming", json=body, headers=headers) as answer:
        if refused := status_outcome(kind, "valid", answer, {200}):
            await answer.aread()
            return refused
        text = "".join([piece async for piece in answer.aiter_text()])
    if not text.strip():
        return Outcome(kind, "valid", "200", failure="empty answer")
    return Outcome(kind, "valid", "200")


async def stream_sse(target: Target, rng: random.Random) -> Outcome:
    body = {"request": rng.choice(PROMPTS)}
    return await _sse_answer(target, "streaming sse", "/streaming", body, {**SSE})


async def _sse_answer(
    target: Target, kind: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> Outcome:
    """An SSE answer read to its end: the done event must come, and usage with it."""
    headers["x-request-id"] = target.request_id()
    deltas, done = 0, None
    async with target.client.stream("POST", path, json=body, headers=headers) as answer:
        if refused := status_outcome(kind, "valid", answer, {200}):
            await answer.aread()
            return refused
        async for line in answer.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line.removeprefix("data: "))
            if "usage" in event:
                done = event
            elif "error" in event:
                return Outcome(kind, "valid", "200", failure=f"error event: {event}")
            else:
                deltas += 1
    if done is None:
        return Outcome(kind, "valid", "200", failure="no done event", deltas=deltas)
    tokens = int(done["usage"]["output_tokens"])
    return Outcome(kind, "valid", "200", deltas=deltas, output_tokens=tokens)


# --- (b) downloads --------------------------------------------------------------------------


async def download_range(target: Target, rng: random.Random) -> Outcome:
    """A random single range of the large sample; the bytes must be the file's."""
    kind = "download range"
    size, shape = target.large.size, rng.random()
    length = rng.randint(1, min(size, 4 * 1024 * 1024))
    if shape < 0.6:
        first = rng.randrange(size)
        last = min(size - 1, first + length - 1)
        spec = f"bytes={first}-{last}"
    elif shape < 0.8:
        first, last = size - length, size - 1
        spec = f"bytes=-{length}"
    else:
        first, last = size - length, size - 1
        spec = f"bytes={first}-"
    headers = {"range": spec, "x-request-id": target.request_id()}
    answer = await target.client.get(f"/download/{target.large.key}", headers=headers)
    if refused := status_outcome(kind, "valid", answer, {206}):
        return refused
    expected_range = f"bytes {first}-{last}/{size}"
    if answer.headers.get("content-range") != expected_range:
        got = answer.headers.get("content-range")
        return Outcome(kind, "valid", "206", failure=f"Content-Range {got} for {spec}")
    with target.large.path.open("rb") as file:
        file.seek(first)
        if answer.content != file.read(last - first + 1):
            return Outcome(kind, "valid", "206", failure=f"wrong bytes for {spec}")
    return Outcome(kind, "valid", "206")


async def download_full(target: Target, rng: random.Random) -> Outcome:
    kind = "download full"
    received = 0
    headers = {"x-request-id": target.request_id()}
    url = f"/download/{target.large.key}"
    async with target.client.stream("GET", url, headers=headers) as answer:
        if refused := status_outcome(kind, "valid", answer, {200}):
            await answer.aread()
            return refused
        async for piece in answer.aiter_raw():
            received += len(piece)
    if received != target.large.size:
        return Outcome(kind, "valid", "200", failure=f"{received} of {target.large.size} bytes")
    return Outcome(kind, "valid", "200")


async def download_head(target: Target, rng: random.Random) -> Outcome:
    kind = "download HEAD"
    stored = rng.choice((target.large, target.small))
    headers = {"x-request-id": target.request_id()}
    answer = await target.client.head(f"/download/{stored.key}", headers=headers)
    if refused := status_outcome(kind, "valid", answer, {200}):
        return refused
    if answer.headers.get("content-length") != str(stored.size) or answer.content:
        return Outcome(kind, "valid", "200", failure="HEAD without the object's length")
    return Outcome(kind, "valid", "200")


async def download_conditional(target: Target, rng: random.Random) -> Outcome:
    """If-None-Match (304), If-Range that matches (206) and one that does not (200, the
    small file, so that the whole body it earns is small)."""
    kind = "download conditional"
    headers = {"x-request-id": target.request_id()}
    shape = rng.randrange(3)
    if shape == 0:
        headers["if-none-match"] = target.large.etag
        stored, expected = target.large, 304
    elif shape == 1:
        headers.update({"if-range": target.large.etag, "range": "bytes=100-199"})
        stored, expected = target.large, 206
    else:
        headers.update({"if-range": '"not-the-etag"', "range": "bytes=0-9"})
        stored, expected = target.small, 200
    answer = await target.client.get(f"/download/{stored.key}", headers=headers)
    if refused := status_outcome(kind, "valid", answer, {expected}):
        return refused
    length = {304: 0, 206: 100, 200: stored.size}[expected]
    if len(answer.content) != length:
        why = f"{len(answer.content)} bytes with {expected}, not {length}"
        return Outcome(kind, "valid", str(expected), failure=why)
    return Outcome(kind, "valid", str(expected))


# --- (c) aborted clients --------------------------------------------------------------------


async def abort_stream(target: Target, rng: random.Random) -> Outcome:
    """An answer whose client leaves after its first piece."""
    if rng.random() < 0.5:
        path, body, kind = "/streaming", {"request": rng.choice(PROMPTS)}, "abort streaming"
    else:
        path, body, kind = "/invocations", {"prompt": rng.choice(PROMPTS)}, "abort invocations"
    payload = json.dumps(body).encode()
    head = (
        f"POST {target.prefix}{path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"content-type: application/json\r\naccept: text/event-stream\r\n"
        f"content-length: {len(payload)}\r\n"
    )
    return await _abort(target, rng, kind, head, payload)


async def abort_download(target: Target, rng: random.Random) -> Outcome:
    """A download of the large sample whose client leaves after its first bytes."""
    head = f"GET {target.prefix}/download/{target.large.key} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    return await _abort(target, rng, "abort download", head, b"")


async def _abort(
    target: Target, rng: random.Random, kind: str, head: str, payload: bytes
) -> Outcome:
    request_id = target.request_id()
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    try:
        writer.write(f"{head}x-request-id: {request_id}\r\n\r\n".encode() + payload)
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        headers = await reader.readuntil(b"\r\n\r\n")
        status = int(status_line.split()[1])
        if status != 200:
            busy = status == 503 and b"retry-after:" in headers.lower()
            if busy:
                return Outcome(kind, "abort", "503 busy")
            why = f"{status} on valid input" if status >= 500 else f"unexpected {status}"
            gateway_id = _gateway_id(headers.decode("latin-1").lower())
            return Outcome(kind, "abort", str(status), failure=why, gateway_id=gateway_id)
        await reader.readexactly(rng.randint(1, 64))  # a few bytes of the body, then leave
        rst = rng.random() < 0.5
        if rst:  # SO_LINGER 0: close() sends RST instead of FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        target.logs.watch(request_id, kind, time.time())
        return Outcome(kind, "abort", "left after 200 (RST)" if rst else "left after 200 (FIN)")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- (d) bad inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    #: Statuses that are right for it; anything else under 500 is "unexpected", 5xx a failure.
    expected: frozenset[int] = frozenset(range(400, 500))
    #: Declares a Content-Length this large but sends only ``body``: an oversized upload.
    declared_length: int | None = None


def bad_inputs(target: Target) -> list[BadInput]:
    json_type = {"content-type": "application/json"}
    large, small = f"/download/{target.large.key}", f"/download/{target.small.key}"
    session = {**json_type, "accept": "application/json"}
    return [
        BadInput("malformed JSON", "POST", "/streaming", json_type, b'{"request": "hi"'),
        BadInput("JSON nested 100,000 deep", "POST", "/streaming", json_type, b"[" * 100_000),
        BadInput(
            "JSON number of 5,000 digits",
            "POST",
            "/streaming",
            json_type,
            b'{"request": ' + b"9" * 5000 + b"}",
        ),
        BadInput("request not a string", "POST", "/streaming", json_type, b'{"request": 5}'),
        BadInput("unknown keys only", "POST", "/streaming", json_type, b'{"prompt_text": "hi"}'),
        BadInput("body not UTF-8", "POST", "/streaming", json_type, b"\xff\xfe\xfd"),
        BadInput(
            "prompt over the limit",
            "POST",
            "/streaming",
            json_type,
            json.dumps({"request": "x" * 20_000}).encode(),
            frozenset({413}),
        ),
        BadInput(
            "body over 10 MB (declared)",
            "POST",
            "/streaming",
            json_type,
            b'{"request": "' + b"x" * 65_536,
            frozenset({413}),
            declared_length=11 * 1024 * 1024,
        ),
        BadInput("invocations: empty prompt", "POST", "/invocations", session, b'{"prompt": ""}'),
        BadInput(
            "session id with a space",
            "POST",
            "/invocations",
            {**session, SESSION_HEADER: "bad id!"},
            b'{"prompt": "hi"}',
        ),
        BadInput(
            "session id of 300 characters",
            "POST",
            "/invocations",
            {**session, SESSION_HEADER: "s" * 300},
            b'{"prompt": "hi"}',
        ),
        BadInput("Range of 4,400 digits", "GET", large, {"range": "bytes=" + "9" * 4400 + "-"}),
        BadInput(
            "Range past the end",
            "GET",
            large,
            {"range": "bytes=999999999999-"},
            b"",
            frozenset({416}),
        ),
        # A Range that does not parse is ignored (RFC 9110 14.2): the whole (small) file.
        BadInput(
            "Range not parseable", "GET", small, {"range": "bytes=abc"}, b"", frozenset({200, 416})
        ),
        BadInput(
            "unknown key", "GET", "/download/no-such-object.bin", {}, b"", frozenset({403, 404})
        ),
        BadInput("key with ..", "GET", "/download/..%2F..%2Fetc%2Fpasswd", {}),
        BadInput("method not allowed", "DELETE", "/streaming", {}),
        BadInput("unknown route", "GET", "/no-such-route", {}),
    ]


async def bad_input(target: Target, rng: random.Random) -> Outcome:
    case = rng.choice(bad_inputs(target))
    kind = f"bad: {case.name}"
    length = case.declared_length if case.declared_length is not None else len(case.body)
    lines = [
        f"{case.method} {target.prefix}{case.path} HTTP/1.1",
        "host: 127.0.0.1",
        "connection: close",
        f"x-request-id: {target.request_id()}",
        *(f"{name}: {value}" for name, value in case.headers.items()),
    ]
    if case.body or case.declared_length is not None:
        lines.append(f"content-length: {length}")
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            writer.write(case.body)
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass  # refused before the whole body was sent: the answer may still be there
        answer = await _read_answer(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if answer is None:
        return Outcome(kind, "bad", "no answer", failure="connection closed without an answer")
    status, headers, body = answer
    label = str(status)
    if status >= 500:
        why = f"{status} on bad input"
        return Outcome(kind, "bad", label, failure=why, gateway_id=_gateway_id(headers))
    if status not in case.expected:
        return Outcome(kind, "bad", label, failure=f"{status}, expected {sorted(case.expected)}")
    if 400 <= status < 500 and not _is_json_object(headers, body):
        return Outcome(kind, "bad", label, failure=f"{status} without a JSON error body")
    return Outcome(kind, "bad", label)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str, bytes] | None:
    """(status, lower-cased head, body) of a ``connection: close`` answer, or None."""
    data = b""
    try:
        while len(data) < MAX_ERROR_ANSWER and (piece := await reader.read(65536)):
            data += piece
    except ConnectionResetError:
        pass  # a server that refused the body may reset after answering: keep what came
    if b"\r\n\r\n" not in data:
        return None
    head, body = data.split(b"\r\n\r\n", 1)
    text = head.decode("latin-1").lower()
    if "transfer-encoding: chunked" in text:
        body = _dechunk(body)
    return int(text.split()[1]), text, body


def _gateway_id(head: str) -> str | None:
    """``x-amzn-requestid`` from a lower-cased response head: the gateway's log names its
    reason for a 5xx by it (a throttle, say)."""
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name == "x-amzn-requestid":
            return value.strip()
    return None


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while b"\r\n" in rest:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def _is_json_object(head: str, body: bytes) -> bool:
    if "json" not in head:
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


# --- (e) AgentCore --------------------------------------------------------------------------


async def invocations(target: Target, rng: random.Random) -> Outcome:
    """``/invocations`` in a session from the pool (one in four a new session), SSE or JSON."""
    if not target.sessions or rng.random() < 0.25:
        session = f"soak-{target.name}-{rng.getrandbits(128):032x}"  # 33+ characters
        target.sessions.append(session)
        del target.sessions[:-8]  # the pool: the last 8 sessions
    else:
        session = rng.choice(target.sessions)
    body = {"prompt": rng.choice(PROMPTS)}
    if rng.random() < 0.5:
        return await _sse_answer(
            target, "invocations sse", "/invocations", body, {**SSE, SESSION_HEADER: session}
        )
    kind = "invocations json"
    headers = {
        "accept": "application/json",
        SESSION_HEADER: session,
        "x-request-id": target.request_id(),
    }
    answer = await target.client.post("/invocations", json=body, headers=headers)
    if refused := status_outcome(kind, "valid", answer, {200}):
        return refused
    result = answer.json()
    if not isinstance(result.get("result"), str):
        return Outcome(kind, "valid", "200", failure=f"no result: {result}")
    return Outcome(kind, "valid", "200", output_tokens=int(result["usage"]["output_tokens"]))


async def ping(target: Target, rng: random.Random) -> Outcome:
    answer = await target.client.get("/ping", headers={"x-request-id": target.request_id()})
    if refused := status_outcome("ping", "valid", answer, {200}):
        return refused
    status = answer.json().get("status")
    if status not in ("Healthy", "HealthyBusy"):
        return Outcome("ping", "valid", "200", failure=f"status {status!r}")
    return Outcome("ping", "valid", f"200 {status}")


#: name -> (coroutine, group, default weight, lane). The model answers one request at a time
#: and slowly on a busy machine; the "model" lane's clients wait on it while the "io" lane's
#: keep downloads, bad inputs and pings flowing, so that volume does not depend on the model.
KINDS: dict[str, tuple[Kind, Group, int, str]] = {
    "stream_text": (stream_text, "valid", 3, "model"),
    "stream_sse": (stream_sse, "valid", 3, "model"),
    "abort_stream": (abort_stream, "abort", 3, "model"),
    "invocations": (invocations, "valid", 3, "model"),
    "download_range": (download_range, "valid", 10, "io"),
    "download_full": (download_full, "valid", 2, "io"),
    "download_head": (download_head, "valid", 4, "io"),
    "download_conditional": (download_conditional, "valid", 6, "io"),
    "abort_download": (abort_download, "abort", 4, "io"),
    "bad_input": (bad_input, "bad", 14, "io"),
    "ping": (ping, "valid", 4, "io"),
}
