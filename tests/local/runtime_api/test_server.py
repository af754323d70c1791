"""The Runtime API emulator spoken to with hand-written HTTP/1.1 bytes over a real socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time

import h11
import httpx
import pytest

from streamway.aws_contract import error_object
from streamway.local.functions import ABANDONED
from streamway.local.runtime_api import (
    INVOKE_PATH,
    QUEUED_CHUNKS,
    FunctionConfig,
    Invocation,
    RuntimeAPIServer,
)
from tests.aws_lambda.fixtures import rest_event
from tests.emulator import backlog, ended, http_response, in_flight
from tests.servers import start_function_process, stop_process

pytestmark = pytest.mark.timeout(30)

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"


class RawClient:
    """A runtime written with bytes: what goes on the wire is exactly what the test says,
    except that, as a runtime given ``AWS_LAMBDA_RUNTIME_API=host:port/<secret>`` does, it
    sends each ``/2018-06-01/...`` path under the emulator's secret (``prefix``)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, prefix: bytes
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.prefix = prefix
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(cls, api: RuntimeAPIServer, *, secret: str | None = None) -> RawClient:
        """A connection to ``api``, sending its secret (or ``secret``, "" for none)."""
        host, port = api.address.split(":")
        if secret is None:
            secret = api.runtime_api.partition("/")[2]
        prefix = f"/{secret}".encode() if secret else b""
        return cls(*await asyncio.open_connection(host, int(port)), prefix)

    def write(self, raw: bytes) -> None:
        self.writer.write(raw.replace(b" /2018-06-01/", b" " + self.prefix + b"/2018-06-01/"))

    async def exchange(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Sends raw request bytes and parses the reply (h11 only reads, it never writes)."""
        self.write(raw)
        await self.writer.drain()
        # Feed h11 the request as if it had sent it, so it expects a reply.
        self.conn = h11.Connection(h11.CLIENT)
        self.conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        self.conn.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, body

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_next_carries_the_headers_lambda_sends() -> None:
    config = FunctionConfig(name="fn", region="eu-west-1", account_id="111122223333")
    async with RuntimeAPIServer(config) as api:
        client = await RawClient.connect(api)
        before = int(time.time() * 1000)
        invocation = await api.invoke({"hello": "world"}, timeout_s=60, trace_id="Root=1-abc")
        status, headers, body = await client.exchange(NEXT)
        await client.close()
        assert api.function_env()["AWS_LAMBDA_FUNCTION_NAME"] == "fn"

    assert status == 200
    assert json.loads(body) == {"hello": "world"}
    assert headers["content-type"] == "application/json"
    assert headers["lambda-runtime-aws-request-id"] == invocation.request_id
    assert headers["lambda-runtime-invoked-function-arn"] == (
        "arn:aws:lambda:eu-west-1:111122223333:function:fn"
    )
    assert headers["lambda-runtime-trace-id"] == "Root=1-abc"
    deadline = int(headers["lambda-runtime-deadline-ms"])
    assert before + 59_000 <= deadline <= int(time.time() * 1000) + 60_000


async def test_streamed_response_with_chunk_framing_and_trailers() -> None:
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        invocation = await api.invoke({})
        await client.exchange(NEXT)
        error = base64.b64encode(b'{"errorType":"Runtime.X","errorMessage":"late"}').decode()
        head = (
            f"POST /2018-06-01/runtime/invocation/{invocation.request_id}/response HTTP/1.1\r\n"
            "Host: x\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Type\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Body\r\n"
            "Content-Type: application/vnd.awslambda.http-integration-response\r\n\r\n"
        ).encode()
        prelude = b'{"statusCode":200,"headers":{"content-type":"text/event-stream"},"cookies":[]}'
        client.write(head + b"%x\r\n" % len(prelude) + prelude + b"\r\n")
        client.write(b"8\r\n" + b"\x00" * 8 + b"\r\n" + b"5\r\nhello\r\n")
        # The head and the first bytes reach the caller before the request ends.
        started, body = await asyncio.wait_for(http_response(invocation), 5)
        assert await anext(body) == b"hello"
        status, _, reply = await client.exchange(
            b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.X\r\n"
            + f"Lambda-Runtime-Function-Error-Body: {error}\r\n\r\n".encode()
        )
        result = await invocation.result()
        await client.close()

    assert (status, json.loads(reply)) == (202, {"status": "OK"})
    assert started == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream"},
        "cookies": [],
    }
    assert result.mode == "streaming"
    assert result.error == {"errorType": "Runtime.X", "errorMessage": "late"}


async def test_buffered_error_and_init_error_endpoints() -> None:
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        first = await api.invoke({})
        second = await api.invoke({})
        await client.exchange(NEXT)
        body = b'{"ok":true}'
        status, _, _ = await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{first.request_id}/response HTTP/1.1\r\n"
            f"Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert status == 202
        await client.exchange(NEXT)
        error = b'{"errorMessage":"bad","errorType":"KeyError","stackTrace":[]}'
        await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{second.request_id}/error HTTP/1.1\r\n"
            "Host: x\r\nLambda-Runtime-Function-Error-Type: KeyError\r\n"
            f"Content-Length: {len(error)}\r\n\r\n".encode()
            + error
        )
        # A second answer to a finished invocation is refused; so is an unknown id.
        late, _, _ = await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{first.request_id}/response HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 0\r\n\r\n".encode()
        )
        unknown, _, _ = await client.exchange(
            b"POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 0\r\n\r\n"
        )
        init, _, _ = await client.exchange(
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n"
            b"Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n"
            b'Content-Length: 42\r\n\r\n{"errorType":"Runtime.ImportModuleError"}\n'
        )
        await client.close()
        first_result, second_result = await first.result(), await second.result()

    assert (first_result.mode, json.loads(first_result.body), first_result.ok) == (
        "buffered",
        {"ok": True},
        True,
    )
    assert second_result.error == {"errorMessage": "bad", "errorType": "KeyError", "stackTrace": []}
    assert (late, unknown, init) == (410, 400, 202)
    assert api.init_error == {"errorType": "Runtime.ImportModuleError"}
    assert api.init_error_type == "Runtime.ImportModuleError"


async def test_finished_invocations_are_forgotten_and_late_answers_still_gone() -> None:
    """The emulator holds only what is in flight (a long `streamway local` session would
    otherwise keep every event and response), yet a late answer is still 410, not 400."""
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        finished = []
        for number in range(3):
            invocation = await api.invoke({"n": number, "padding": "x" * 100_000})
            assert in_flight(api) == 1
            await client.exchange(NEXT)
            status, _, _ = await client.exchange(
                f"POST /2018-06-01/runtime/invocation/{invocation.request_id}/response "
                "HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}".encode()
            )
            assert status == 202
            assert json.loads((await invocation.result()).body) == {}  # the caller still reads it
            assert in_flight(api) == 0
            finished.append(invocation.request_id)
        late, _, _ = await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{finished[0]}/response HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 2\r\n\r\n{}".encode()
        )
        await client.close()
    assert late == 410


async def test_deadline_ends_the_invocation_as_timed_out() -> None:
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        invocation = await api.invoke({}, timeout_s=0.3)
        await client.exchange(NEXT)
        result = await asyncio.wait_for(invocation.result(), 5)
        late, _, _ = await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{invocation.request_id}/response HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 2\r\n\r\n{}".encode()
        )
        await client.close()
    assert result.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out after 0.30 seconds",
    }
    assert late == 410


async def test_invoke_over_http_streams_the_raw_response() -> None:
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)

        async def function() -> None:
            _, headers, body = await client.exchange(NEXT)
            request_id = headers["lambda-runtime-aws-request-id"]
            client.write(
                f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
                "Host: x\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
                "Transfer-Encoding: chunked\r\n"
                "Content-Type: application/vnd.awslambda.http-integration-response\r\n\r\n"
                "2\r\n{}\r\n8\r\n".encode()
                + b"\x00" * 8
                + b"\r\n2\r\n"
                + body[:2]
                + b"\r\n"
            )
            await client.exchange(b"0\r\n\r\n")

        async with httpx.AsyncClient() as http:
            task = asyncio.create_task(function())
            response = await http.post(
                api.invoke_url,
                content=b'"hi"',
            )
            await task
        await client.close()

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    assert response.content == b"{}" + b"\x00" * 8 + b'"h'


STREAM_HEAD = (
    "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\n"
    "Host: x\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Trailer: Lambda-Runtime-Function-Error-Type\r\n"
    "Content-Type: application/vnd.awslambda.http-integration-response\r\n\r\n"
)


def _invoke_target(api: RuntimeAPIServer) -> str:
    """The HTTP invoke endpoint's path, with its secret."""
    return "/" + api.invoke_url.split("/", 3)[3]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


async def _stream_from_function(client: RawClient, pieces: list[bytes]) -> str:
    """Takes the next event and streams ``pieces`` as chunks (without ending the body)."""
    _, headers, _ = await client.exchange(NEXT)
    request_id = headers["lambda-runtime-aws-request-id"]
    client.write(STREAM_HEAD.format(id=request_id).encode())
    for piece in pieces:
        client.write(_chunk(piece))
        await client.writer.drain()
    return request_id


async def _write_until_refused(writer: asyncio.StreamWriter) -> None:
    """Streams 1 MiB chunks until the peer hangs up (raises), for at most 200 MiB."""
    for _ in range(200):
        writer.write(_chunk(b"y" * (1 << 20)))
        await writer.drain()
        await asyncio.sleep(0.01)  # paces the function's writes; orders nothing


async def test_invoke_over_http_relays_a_large_stream_byte_for_byte() -> None:
    """Chunks of many sizes (on Linux moved socket to socket by splice), one 3 MiB chunk
    larger than the relay pipe, in order and intact."""
    sizes = [1, 17, 4096, 65_535, 1 << 20, 3 * (1 << 20) + 5, 100, 1 << 20]
    pieces = [b"{}" + b"\x00" * 8, *(os.urandom(size) for size in sizes)]
    expected = b"".join(pieces)
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)

        async def function() -> int:
            await _stream_from_function(client, pieces)
            status, _, _ = await client.exchange(b"0\r\n\r\n")
            return status

        async with httpx.AsyncClient() as http:
            task = asyncio.create_task(function())
            response = await http.post(api.invoke_url, content=b"{}")
            status = await task
        await client.close()
        assert in_flight(api) == 0

    assert (response.status_code, status) == (200, 202)
    assert len(response.content) == len(expected)
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(expected).digest()


async def test_invoke_over_http_cuts_the_caller_when_the_function_fails_mid_stream() -> None:
    """The caller sees a failed stream; the function's answer is accepted (202) and its
    keep-alive connection goes on serving `next`, as after any other invocation."""
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)

        async def function() -> int:
            await _stream_from_function(client, [b"{}" + b"\x00" * 8, os.urandom(300_000)])
            status, _, _ = await client.exchange(
                b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.X\r\n\r\n"
            )
            return status

        async with httpx.AsyncClient() as http:
            task = asyncio.create_task(function())
            with pytest.raises(httpx.RemoteProtocolError):  # no clean end of the chunked body
                await http.post(api.invoke_url, content=b"{}")
            assert await task == 202
        following = await api.invoke({"n": 2})
        status, headers, _ = await asyncio.wait_for(client.exchange(NEXT), 5)
        await client.close()
    assert status == 200
    assert headers["lambda-runtime-aws-request-id"] == following.request_id


async def test_a_caller_that_leaves_mid_stream_stops_the_function() -> None:
    """The caller reads a little, then goes: the function's connection is hung up (its next
    writes fail, as a Lambda runtime's would return to `next`) and nothing stays in flight."""
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        _, port = api.address.split(":")
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        target = _invoke_target(api)
        writer.write(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        await writer.drain()
        await _stream_from_function(client, [b"{}" + b"\x00" * 8, b"x" * 65_536])
        await reader.readuntil(b"\r\n\r\n")  # the caller got the response head
        writer.close()
        await writer.wait_closed()
        with pytest.raises(ConnectionError):
            await _write_until_refused(client.writer)
        for _ in range(100):
            if in_flight(api) == 0:
                break
            await asyncio.sleep(0.02)
        assert in_flight(api) == 0
        client.writer.close()


#: Where Linux's ``struct tcp_info`` keeps ``tcpi_snd_wnd``, the peer's receive window
#: (since Linux 5.19; include/uapi/linux/tcp.h).
_TCPI_SND_WND = 228


def _peer_window(writer: asyncio.StreamWriter) -> int:
    """The receive window the other end of ``writer``'s connection last advertised."""
    sock = writer.get_extra_info("socket")
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    if len(raw) < _TCPI_SND_WND + 4:
        pytest.skip("this kernel's TCP_INFO has no tcpi_snd_wnd")
    return int(struct.unpack_from("I", raw, _TCPI_SND_WND)[0])


async def _stream_until_the_window_shuts(client: RawClient, invocation: Invocation) -> None:
    """Streams 1 MiB chunks nobody reads until the emulator has stopped reading (its queue
    for the caller is full) and its receive window is shut: a function blocked in its write,
    as behind a client that stopped reading. (The last bytes of a window go only when the
    kernel's persist timer fires, hence the polling.)"""
    for _ in range(1000):
        if client.writer.transport.get_write_buffer_size() < 1 << 20:
            client.write(_chunk(b"y" * (1 << 20)))
        await asyncio.sleep(0.01)
        if backlog(invocation) == QUEUED_CHUNKS and _peer_window(client.writer) == 0:
            return
    raise AssertionError("the emulator's receive window never shut")


async def test_a_cancel_resets_a_function_blocked_on_a_full_connection() -> None:
    """The soak's hung sandboxes (issue 15): a caller leaves while the function is blocked
    writing into a full connection. The emulator's receive window is shut, and a shut-down
    socket sends no window update, so a close that sends a FIN leaves the function's write
    waiting for the orphan to time out (tcp_fin_timeout, 60 s, then probe back-off: the
    soak's 108 s). A reset must fail it at once."""
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        invocation = await api.invoke({})
        await _stream_from_function(client, [b"{}" + b"\x00" * 8])
        await _stream_until_the_window_shuts(client, invocation)

        invocation.cancel(error_object(ABANDONED, "no one is reading"))

        # 20 s only turns a hang into a failure: a reset ends the write in milliseconds.
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(_write_until_refused(client.writer), 20)
        client.writer.close()
        # The function reconnects for its next invocation, as a runtime does.
        following = await api.invoke({"n": 2})
        client = await RawClient.connect(api)
        status, headers, _ = await asyncio.wait_for(client.exchange(NEXT), 5)
        await client.close()
    assert status == 200
    assert headers["lambda-runtime-aws-request-id"] == following.request_id


async def test_a_cancel_after_the_function_finished_lets_it_have_its_answer() -> None:
    """A function that sent its whole response while the caller's queue was full, then a
    caller that leaves without reading: the end of the response must not wait for room in a
    queue nobody reads, so the function gets its 202 and goes back to `next`."""
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        invocation = await api.invoke({})
        # The prelude, then as many chunks as fill the queue, then the end of the body.
        pieces = [b"{}" + b"\x00" * 8, *(b"z" * 1000 for _ in range(QUEUED_CHUNKS - 1))]
        await _stream_from_function(client, pieces)
        reply = asyncio.create_task(client.exchange(b"0\r\n\r\n"))
        await asyncio.wait_for(ended(invocation), 10)  # the emulator read the body's end

        invocation.cancel(error_object(ABANDONED, "no one is reading"))

        status, _, _ = await asyncio.wait_for(reply, 10)
        assert in_flight(api) == 0
        following = await api.invoke({"n": 2})
        _, headers, _ = await asyncio.wait_for(client.exchange(NEXT), 5)
        await client.close()
    assert status == 202
    assert headers["lambda-runtime-aws-request-id"] == following.request_id


async def test_a_deadline_mid_stream_cuts_an_http_caller() -> None:
    async with RuntimeAPIServer(FunctionConfig(timeout_s=0.5)) as api:
        client = await RawClient.connect(api)

        async def function() -> None:
            # The prelude and one chunk, then the function hangs past its deadline.
            await _stream_from_function(client, [b"{}" + b"\x00" * 8, b"x" * 70_000])
            await asyncio.sleep(3)  # the function's own slow work, past its deadline

        async with httpx.AsyncClient() as http:
            task = asyncio.create_task(function())
            # Cut at the deadline, not a clean end (without the deadline this would hang).
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(api.invoke_url, content=b"{}")
            task.cancel()
        client.writer.close()
        assert in_flight(api) == 0


# --- who may talk to the emulator (issue 15, item 3) ---------------------------------------


async def _raw(api: RuntimeAPIServer, raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """One request as written (no secret added); the reply, and whether the emulator closed
    the connection after it."""
    client = await RawClient.connect(api, secret="")
    status, headers, body = await asyncio.wait_for(client.exchange(raw), 10)
    closed = await asyncio.wait_for(client.reader.read(1), 10) == b""
    await client.close()
    return status, headers, body, closed


async def test_a_request_without_the_sandboxs_secret_gets_403_and_nothing_else() -> None:
    """Any local process can connect to the port. Without the secret it can neither take the
    next event (with the client's credentials in it), nor answer an invocation, nor invoke,
    nor report an init error: 403, the connection closed, and the sandbox's own runtime
    still gets the event."""
    async with RuntimeAPIServer() as api:
        secret = api.runtime_api.partition("/")[2]
        invocation = await api.invoke({"headers": {"x-api-key": "client-key"}})
        invoke = f"{INVOKE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}"
        attempts = [
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /wrong/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
            (
                f"GET /{secret[:-1]}/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
            ).encode(),
            f"POST /2018-06-01/runtime/invocation/{invocation.request_id}/response HTTP/1.1\r\n"
            'Host: x\r\nContent-Length: 9\r\n\r\n"forged!"'.encode(),
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            b"\r\n{}",
            f"POST {invoke}".encode(),
            # The runtime's secret does not open the invoke endpoint.
            f"POST /{secret}{invoke}".encode(),
            # Not ASCII: compared as bytes (compare_digest refuses non-ASCII str).
            b"GET /\xc3\xa9/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        answers = [await _raw(api, attempt) for attempt in attempts]
        assert api.next_calls == []  # no `next` was counted (a sandbox would look ready)
        assert api.init_error is None
        runtime = await RawClient.connect(api)
        status, headers, _ = await asyncio.wait_for(runtime.exchange(NEXT), 10)
        await runtime.close()

    for status_, _, body, closed in answers:
        assert status_ == 403
        assert json.loads(body)["errorType"] == "AccessDeniedException"
        assert closed
    assert status == 200
    assert headers["lambda-runtime-aws-request-id"] == invocation.request_id


async def test_each_emulator_has_its_own_secret() -> None:
    """An invocation goes only to the sandbox it was given to: another sandbox's runtime,
    holding another secret, cannot take it."""
    async with RuntimeAPIServer() as mine, RuntimeAPIServer() as other:
        await mine.invoke({})
        stranger = await RawClient.connect(mine, secret=other.runtime_api.partition("/")[2])
        status, _, _ = await asyncio.wait_for(stranger.exchange(NEXT), 10)
        await stranger.close()
        assert mine.next_calls == []
    assert status == 403


async def test_http_invoke_needs_its_own_secret_and_can_be_shut() -> None:
    async with httpx.AsyncClient() as http:
        async with RuntimeAPIServer(invoke_over_http=False) as api:
            shut = await http.post(api.invoke_url, content=b"{}")
            assert in_flight(api) == 0
        async with RuntimeAPIServer() as api:
            without = await http.post(f"http://{api.address}{INVOKE_PATH}", content=b"{}")
            assert in_flight(api) == 0
    assert (shut.status_code, without.status_code) == (403, 403)
    assert without.json()["errorType"] == "AccessDeniedException"


async def test_a_runtime_given_only_host_and_port_works_once_its_process_is_admitted() -> None:
    """For runtimes that take only ``host:port`` (AWS's Node.js client): streamway's runtime
    started with the bare address and admitted by pid serves an invocation; curl, another
    process with the same address, is refused."""
    async with RuntimeAPIServer() as api:
        env = api.function_env(with_secret=False)
        assert env["AWS_LAMBDA_RUNTIME_API"] == api.address
        process, log_path = start_function_process(env, "tests.aws_lambda.apps:app")
        api.admit(process.pid)  # before the loop runs again, so before its first request
        try:
            invocation = await api.invoke(rest_event("/context", stage="dev"))
            result = await asyncio.wait_for(invocation.result(), 60)
            curl = await asyncio.create_subprocess_exec(
                "curl",
                "-s",
                "--max-time",
                "10",
                "-w",
                " %{http_code}",
                f"http://{api.address}/2018-06-01/runtime/invocation/next",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await curl.communicate()
        finally:
            await asyncio.to_thread(stop_process, process)
    assert result.ok, (result.error, log_path.read_text())
    body, _, code = out.decode().rpartition(" ")
    assert code == "403"
    assert json.loads(body)["errorType"] == "AccessDeniedException"
