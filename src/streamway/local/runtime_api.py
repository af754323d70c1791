"""A Lambda Runtime API emulator: the server side of what a function's runtime talks to.

It serves ``/2018-06-01/runtime/...`` (``invocation/next`` as a long poll, ``response`` in
buffered and streaming mode, ``error``, ``init/error``) on loopback, and offers an invoke
API to whoever plays the caller: tests, the benchmark, and the local API Gateway.

Why not uvicorn/Starlette: a streamed response ends with HTTP *trailers*
(``Lambda-Runtime-Function-Error-Type``/``-Body``) when the function fails mid-stream, and
ASGI has no way to hand request trailers to an app. :mod:`streamway.local.http1` reads them
(and is why this is not h11 either: see there).

Backpressure runs end to end: body chunks go through a small bounded queue per invocation,
and the connection is not read while that queue is full, so a slow consumer of
:meth:`Invocation.chunks` slows the function's ``send()`` through TCP flow control.
Each connection is a :class:`~streamway.local.socket_stream.SocketStream`, so a body byte
is copied only by the kernel, once in and once out.

Who may talk to it: every local process can connect to a loopback port, and an event carries
the client's API key and bearer token, so every request must prove it comes from the sandbox
or from the emulator's owner. A runtime's requests carry a per-emulator secret as a path
prefix (``AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT/<secret>``, which clients that build
``http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/...`` send on every request), or come from a
process the emulator was told to trust (:meth:`RuntimeAPIServer.admit`, for clients that take
only ``host:port``). The HTTP invoke endpoint takes a second secret
(:attr:`RuntimeAPIServer.invoke_url`), so it cannot bypass the gateway's API keys and JWTs.
Anything else gets 403 and the connection is closed, before its body is read.

Bad input is answered, not dropped: a malformed request gets 400 (501 for a transfer coding
other than chunked), a body over its route's limit 413 before the bytes over it are read
(6 MB for a request or a buffered response, 200 MB for a streamed one), each with a Lambda
style JSON body, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hmac
import json
import logging
import secrets
import socket
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from streamway.aws_contract import (
    ERROR_BODY_TRAILER,
    ERROR_TYPE_HEADER,
    EXIT_ERROR,
    LAMBDA_MAX_BUFFERED_RESPONSE_BYTES,
    LAMBDA_MAX_REQUEST_BYTES,
    LAMBDA_MAX_STREAMED_RESPONSE_BYTES,
    PRELUDE_DELIMITER,
    PRELUDE_MAX_BYTES,
    RESPONSE_MODE_HEADER,
    RESPONSE_MODE_STREAMING,
    error_object,
    timed_out_error,
)
from streamway.local import peer
from streamway.local.http1 import (
    CHUNK_END,
    LAST_CHUNK,
    BadRequest,
    BodyBytes,
    PayloadTooLarge,
    Request,
    chunk_head,
    chunk_parts,
    read_request,
    response_head,
)
from streamway.local.socket_stream import CAN_SPLICE, SinkClosed, SocketStream

log = logging.getLogger("streamway.local.runtime_api")

API_PREFIX = "/2018-06-01/runtime"
#: RIE's path for invoking a function over HTTP; handy for curl and for callers in other processes.
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

#: What a request that should have no body (``next``) may still carry, read and dropped.
_MAX_EMPTY_BODY = 64 * 1024
#: How long a new connection may wait before its first byte, and a request head may take
#: from its first byte to its end. Runtimes send at once; a peer that does not holds a
#: connection (and, before it proves anything, a socket of ours) for nothing. Idle time
#: between requests on a keep-alive connection is not limited: a function may run 15 minutes.
HEAD_TIMEOUT_S = 30.0
#: After a refusal, how much of what the peer still sends is read and dropped, and for how
#: long, before the connection closes (see ``SocketStream.discard``).
_LINGER_BYTES = 1024 * 1024
_LINGER_S = 2.0
#: The ``errorType`` of the emulator's own refusals, by status.
_REFUSALS = {
    400: "BadRequest",
    403: "AccessDeniedException",
    408: "RequestTimeout",
    413: "RequestTooLargeException",
    431: "RequestHeaderFieldsTooLarge",
    501: "NotImplemented",
}

#: Body chunks an invocation holds for its caller; while they wait, the function's socket is
#: not read (backpressure).
QUEUED_CHUNKS = 8
#: How many finished invocation ids are remembered (for 410 Gone on a late answer).
RECENT_IDS = 1024

Mode = Literal["buffered", "streaming"]


class PreludeError(ValueError):
    """The stream did not start with a JSON prelude and 8 NUL bytes within 16 KB."""


@dataclass
class InvocationResult:
    """How one invocation ended, as the caller of Lambda would learn it."""

    request_id: str
    mode: Mode | None
    #: The Content-Type and other headers of the function's ``response`` POST.
    response_headers: dict[str, str]
    chunks: list[BodyBytes]
    #: ``{"errorType", "errorMessage", ...}`` from ``/error``, error trailers or a timeout.
    error: dict[str, Any] | None
    trailers: dict[str, str]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def ok(self) -> bool:
        return self.error is None

    def payload(self) -> Any:
        """A buffered result as JSON (what ``Invoke`` returns)."""
        return json.loads(self.body)

    def http_response(self) -> tuple[dict[str, Any], bytes]:
        """A streamed HTTP integration response split into its prelude and body."""
        return split_prelude(self.body)


def split_prelude(data: bytes) -> tuple[dict[str, Any], bytes]:
    index = data.find(PRELUDE_DELIMITER, 0, PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER))
    if index < 0:
        raise PreludeError("no 8-NUL delimiter within the first 16 KB of the stream")
    prelude = json.loads(data[:index]) if index else {}
    if not isinstance(prelude, dict):
        raise PreludeError("the prelude is not a JSON object")
    return prelude, data[index + len(PRELUDE_DELIMITER) :]


class Invocation:
    """One event on its way through the function, and the response coming back."""

    def __init__(self, event: Any, timeout_s: float, trace_id: str | None) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.timeout_s = timeout_s
        self.trace_id = trace_id or _trace_id()
        self.deadline_ms: int | None = None
        self.mode: Mode | None = None
        self.response_headers: dict[str, str] = {}
        self.error: dict[str, Any] | None = None
        self.trailers: dict[str, str] = {}
        self.received_at: float | None = None
        #: Set when :meth:`cancel` hung up the function's connection: what it still sends
        #: is not read, and its next write fails.
        self.stopped = False
        #: Set by the caller once its client has the whole response (``Content-Length``
        #: bytes, or a HEAD's headers): what remains is the stream's formal end.
        self.delivered = False
        self.response_started_at: float | None = None
        self._queue: asyncio.Queue[BodyBytes | None] = asyncio.Queue(QUEUED_CHUNKS)
        self._reading = False
        self._responded = asyncio.Event()
        self._done = asyncio.Event()
        self._deadline_task: asyncio.Task[None] | None = None
        #: Called once when the invocation ends (the server stops tracking it then).
        self._on_done: Callable[[Invocation], None] | None = None
        #: The connection the function is answering on, hung up by :meth:`cancel`.
        self._connection: SocketStream | None = None
        #: For an invocation over HTTP on Linux: the caller's connection, into which the
        #: function's connection splices the body (see ``_Connection._relay``).
        self._sink: SocketStream | None = None
        #: Set once the caller wrote its response head, so the body may follow it.
        self._sink_ready = asyncio.Event()
        #: Set once the function's connection will not touch the sink again.
        self._sink_released = asyncio.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def ended(self) -> None:
        """Waits until the invocation ended (answered, failed, timed out or cancelled)."""
        await self._done.wait()

    @property
    def backlog(self) -> int:
        """Body chunks received and waiting for the caller (at most :data:`QUEUED_CHUNKS`)."""
        return self._queue.qsize()

    async def response_started(self) -> Mode | None:
        """Waits until the function began its answer; its mode, or None for ``/error``."""
        await self._responded.wait()
        return self.mode

    async def chunks(self) -> AsyncIterator[BodyBytes]:
        """The response body, chunk by chunk as the function sends it. Read it once.

        Chunks read here are not kept, so a caller can pass on a stream of any size.
        """
        if self._reading:
            raise RuntimeError("the response body is already being read")
        self._reading = True
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def http_response(self) -> tuple[dict[str, Any], AsyncIterator[BodyBytes]]:
        """A streamed HTTP integration response: its prelude, then the body as it arrives.

        This is what an API Gateway front consumes: status and headers as soon as the
        delimiter arrives, then body bytes without waiting for the end of the stream.
        """
        chunks = self.chunks()
        head = b""
        async for chunk in chunks:
            head += chunk
            if PRELUDE_DELIMITER in head[: PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER)]:
                break
            if len(head) > PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER):
                break
        prelude, rest = split_prelude(head)

        async def body() -> AsyncIterator[BodyBytes]:
            if rest:
                yield rest
            async for chunk in chunks:
                yield chunk

        return prelude, body()

    async def result(self) -> InvocationResult:
        """Waits for the end of the invocation; its body unless :meth:`chunks` read it."""
        chunks = [chunk async for chunk in self.chunks()] if not self._reading else []
        await self._done.wait()
        return InvocationResult(
            request_id=self.request_id,
            mode=self.mode,
            response_headers=self.response_headers,
            chunks=chunks,
            error=self.error,
            trailers=self.trailers,
        )

    def cancel(self, error: dict[str, Any]) -> None:
        """Ends the invocation now, for a caller that will not read the rest (its client
        left, a gateway timeout, the function's process died).

        Chunks not yet read are dropped and the function's connection is reset, so a
        function blocked on a full queue is released and its next write fails, and it
        goes back to ``next``. Lambda does not do this: a stream whose caller went away
        runs on, and is billed, to its end (facts §2).

        An invocation that already ended still loses its unread chunks: the function may
        have sent its whole answer while the queue was full, and the end mark waits for
        room in it (``_finish``) before the function gets its 202. With nobody reading,
        only this makes room, and without it the function waits until its deadline.
        """
        while not self._queue.empty():
            self._queue.get_nowait()
        if self.done:
            # The end mark was dropped with the rest, or is about to be put: either way a
            # reader still finds it.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            return
        self._abort(error)
        if self._connection is not None:
            self.stopped = True
            hang_up(self._connection)

    # --- the server side ---------------------------------------------------------------

    def _start(self, mode: Mode | None, headers: dict[str, str]) -> None:
        self.mode = mode
        self.response_headers = headers
        self.response_started_at = time.perf_counter()
        self._responded.set()

    async def _put(self, chunk: BodyBytes) -> None:
        if not self.done:
            await self._queue.put(chunk)
            # Queue.put does not yield while there is room, and reading a socket with data
            # buffered does not either: without this the reader would run ahead of the
            # consumer until the queue filled, delaying the first byte by several chunks.
            await asyncio.sleep(0)

    async def _finish(self, error: dict[str, Any] | None = None) -> None:
        if self._end(error):
            await self._queue.put(None)

    def _abort(self, error: dict[str, Any]) -> None:
        """Ends the invocation without waiting for a reader (used when the emulator closes)."""
        if self._end(error):
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def _end(self, error: dict[str, Any] | None) -> bool:
        """Records how the invocation ended and wakes whoever waits on it; False if it had
        already ended. The end of the body (None in the queue) is the caller's to add."""
        if self.done:
            return False
        self.error = error
        self._responded.set()
        self._done.set()
        self._sink_ready.set()  # a function's connection waiting for the caller goes on
        if self._on_done is not None:
            self._on_done(self)
        if self._deadline_task is not None and self._deadline_task is not asyncio.current_task():
            self._deadline_task.cancel()
        return True

    def _arm_deadline(self) -> None:
        self.received_at = time.perf_counter()
        self.deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
        self._deadline_task = asyncio.get_running_loop().create_task(self._expire())

    async def _expire(self) -> None:
        await asyncio.sleep(self.timeout_s)
        log.warning("invocation timed out", extra={"request_id": self.request_id})
        # Lambda would now stop the function; a late response is refused (410 Gone).
        with contextlib.suppress(asyncio.QueueFull):
            while not self._queue.empty():
                self._queue.get_nowait()
        await self._finish(timed_out_error(self.timeout_s))


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"


@dataclass
class FunctionConfig:
    """What Lambda tells a function about itself through its environment."""

    name: str = "streamway"
    version: str = "$LATEST"
    memory_mb: int = 1024
    timeout_s: float = 900.0
    region: str = "us-east-1"
    account_id: str = "123456789012"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"


class RuntimeAPIServer:
    """The emulator. ``async with RuntimeAPIServer() as api:`` then run a function against
    ``api.address`` (its ``AWS_LAMBDA_RUNTIME_API``) and call :meth:`invoke`."""

    def __init__(
        self,
        config: FunctionConfig | None = None,
        *,
        max_streamed_bytes: int | None = LAMBDA_MAX_STREAMED_RESPONSE_BYTES,
        invoke_over_http: bool = True,
        head_timeout_s: float = HEAD_TIMEOUT_S,
    ) -> None:
        self.config = config or FunctionConfig()
        self.max_streamed_bytes = max_streamed_bytes
        self.head_timeout_s = head_timeout_s
        #: Whether :attr:`invoke_url` answers (``streamway local``'s sandboxes invoke in
        #: process only, so they turn it off).
        self.invoke_over_http = invoke_over_http
        # 256 bits each, URL-safe, so they fit a path segment as they are.
        self._runtime_secret = secrets.token_urlsafe(32)
        self._invoke_secret = secrets.token_urlsafe(32)
        #: Processes whose connections need no secret (see :meth:`admit`).
        self._admitted: set[int] = set()
        self.init_error: dict[str, Any] | None = None
        self.init_error_type: str | None = None
        self.next_calls: list[float] = []
        self._init_failed = asyncio.Event()
        self._first_next = asyncio.Event()
        self._next_called = asyncio.Condition()
        self._pending: asyncio.Queue[Invocation] = asyncio.Queue()
        self._active: dict[str, Invocation] = {}
        #: Ids of recently finished invocations, so a late answer gets Lambda's 410 rather
        #: than 400; bounded, so a long `streamway local` session does not keep every event.
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        listener = socket.create_server((host, port), family=_family(host))
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.get_running_loop().create_task(self._accept(listener))

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        for invocation in list(self._active.values()):
            invocation._abort(error_object("Emulator.Closed", "the Runtime API emulator closed"))

    async def __aenter__(self) -> RuntimeAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def address(self) -> str:
        """``host:port`` of the listening socket. Connecting is not enough: see
        :attr:`runtime_api` and :meth:`admit`."""
        assert self._listener is not None, "start() the server first"
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def runtime_api(self) -> str:
        """``host:port/<secret>``, the function's ``AWS_LAMBDA_RUNTIME_API``: a runtime that
        builds ``http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/...`` sends the secret with each
        request (streamway's; AWS's C++ client, by its source). AWS's Node.js client refuses
        it: see :meth:`admit`. Give it only to the function."""
        return f"{self.address}/{self._runtime_secret}"

    @property
    def invoke_url(self) -> str:
        """The URL of the HTTP invoke endpoint, with its secret (not the runtime's)."""
        return f"http://{self.address}/{self._invoke_secret}{INVOKE_PATH}"

    def admit(self, pid: int) -> None:
        """Lets process ``pid`` use the Runtime API without the secret, for runtimes that
        accept only ``AWS_LAMBDA_RUNTIME_API=host:port`` (AWS's Node.js client): each such
        connection is checked against the kernel's socket table (Linux only; elsewhere such
        runtimes are refused)."""
        self._admitted.add(pid)

    def function_env(self, *, with_secret: bool = True) -> dict[str, str]:
        """The environment Lambda gives a function (the Node client refuses to start without
        the function name, version, memory size and log names). ``with_secret=False`` gives
        the bare ``host:port``: then :meth:`admit` the process once it is started."""
        config = self.config
        return {
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api if with_secret else self.address,
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{config.version}]{uuid.uuid4().hex}",
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            **config.extra_env,
        }

    async def wait_for_first_next(self) -> float:
        """Waits until the function first asked for work; when that was (perf_counter)."""
        await self._first_next.wait()
        return self.next_calls[0]

    async def wait_for_next_call(self, count: int) -> None:
        """Waits until the function has asked for work ``count`` times in all: a sandbox is
        free again only once its runtime is back in ``next``."""
        async with self._next_called:
            await self._next_called.wait_for(lambda: len(self.next_calls) >= count)

    async def wait_for_init_error(self) -> dict[str, Any]:
        await self._init_failed.wait()
        assert self.init_error is not None
        return self.init_error

    # --- the invoke API ----------------------------------------------------------------

    async def invoke(
        self, event: Any, *, timeout_s: float | None = None, trace_id: str | None = None
    ) -> Invocation:
        """Queues ``event`` for the function; the returned invocation yields its response."""
        invocation = Invocation(event, timeout_s or self.config.timeout_s, trace_id)
        await self._enqueue(invocation)
        return invocation

    async def _enqueue(self, invocation: Invocation) -> None:
        invocation._on_done = self._forget
        self._active[invocation.request_id] = invocation
        await self._pending.put(invocation)

    @property
    def in_flight(self) -> int:
        """Invocations queued or running: the ones the emulator still holds."""
        return len(self._active)

    def _forget(self, invocation: Invocation) -> None:
        """Drops a finished invocation (its event and response) from the server's books; the
        caller that holds it can still read its result."""
        self._active.pop(invocation.request_id, None)
        self._finished[invocation.request_id] = None
        while len(self._finished) > RECENT_IDS:
            self._finished.popitem(last=False)

    # --- the HTTP side -----------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            stream = SocketStream(sock)
            task = loop.create_task(self._serve(stream))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
            # _serve closes the stream, but a task cancelled before it ever ran (close() just
            # after a runtime reconnected) never enters _serve: its socket would leak.
            task.add_done_callback(functools.partial(_close_when_done, stream))

    async def _serve(self, stream: SocketStream) -> None:
        try:
            await _Connection(self, stream).run()
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            BadRequest,
        ) as error:
            log.debug("runtime connection ended: %r", error)
        except asyncio.CancelledError:
            # close() cancels connections parked in a long poll; that ends them normally.
            pass
        finally:
            stream.close()


def _close_when_done(stream: SocketStream, _task: asyncio.Task[None]) -> None:
    stream.close()


class _ResponseTooLarge(PayloadTooLarge):
    """A function's response over Lambda's cap (answered as ``Function.ResponseSizeTooLarge``)."""


class _Connection:
    """One keep-alive connection from a runtime (or an HTTP invoker)."""

    def __init__(self, api: RuntimeAPIServer, stream: SocketStream) -> None:
        self.api = api
        self.stream = stream
        #: Whether this connection's peer is an admitted process; asked once, when needed.
        self._admitted: bool | None = None
        #: Set once a response head went out for the current request: a refusal after that
        #: cannot be answered, only cut.
        self._answered = False
        #: The invocation the current request is about, for the log line of a refusal.
        self._request_id: str | None = None

    async def run(self) -> None:
        first = True
        while True:
            self._answered, self._request_id = False, None
            try:
                request = await self._read_head(first)
                if request is None:
                    return
                first = False
                keep_alive = await self._route(request) and request.keep_alive
            except BadRequest as error:
                await self._refuse(error)
                await self._linger()
                return
            if not keep_alive:
                return

    async def _read_head(self, first: bool) -> Request | None:
        """The next request's head, within the head timeout (see :data:`HEAD_TIMEOUT_S`)."""
        timeout = self.api.head_timeout_s
        try:
            if not first:
                await self.stream.wait_for_data()  # idle between requests: no limit
            async with asyncio.timeout(timeout):
                return await read_request(self.stream)
        except asyncio.IncompleteReadError as closed:
            if closed.partial:
                raise BadRequest("the connection closed inside a request head") from None
            return None
        except TimeoutError:
            raise BadRequest(f"no complete request head within {timeout:g} s", 408) from None

    async def _linger(self) -> None:
        """Before a refused connection closes: let the peer read the answer (bounded)."""
        if not self._answered:
            return
        self.stream.shut_write()
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(_LINGER_S):
                await self.stream.discard(_LINGER_BYTES)

    async def _refuse(self, error: BadRequest) -> None:
        """Answers a refused request (Lambda-style JSON, ``Connection: close``) and logs it;
        the caller then closes the connection."""
        log.warning(
            "runtime API request refused: %s",
            error,
            extra={"status": error.status, "request_id": self._request_id},
        )
        if self._answered:
            return
        if isinstance(error, _ResponseTooLarge):
            payload = error_object("Function.ResponseSizeTooLarge", str(error))
        elif isinstance(error, PayloadTooLarge):
            message = f"Request must be smaller than {error.limit} bytes"
            payload = error_object("RequestTooLargeException", message)
        else:
            payload = error_object(_REFUSALS.get(error.status, "BadRequest"), str(error))
        with contextlib.suppress(OSError):  # a peer that already left needs no answer
            await self._reply(error.status, payload, close=True)

    async def _write(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, close: bool = False
    ) -> None:
        closing = [("connection", "close")] if close else []
        head = response_head(status, [*headers, *closing, ("content-length", str(len(body)))])
        self._answered = True
        await self.stream.write(head, body)

    async def _reply(self, status: int, payload: Any, *, close: bool = False) -> None:
        body = json.dumps(payload).encode()
        await self._write(status, [("content-type", "application/json")], body, close=close)

    def _authorized(self, target: str) -> tuple[str, str] | None:
        """(``runtime`` or ``invoke``, the path without its secret) for a request that proves
        where it comes from; None for any other."""
        path = target.split("?", 1)[0]
        if path.startswith(f"{API_PREFIX}/"):
            # No secret: only from a process the emulator was told to trust.
            if self._admitted is None:
                self._admitted = peer.owned_by(self.stream.sock, self.api._admitted)
            return ("runtime", path) if self._admitted else None
        secret, _, rest = path.partition("/")[2].partition("/")
        rest = "/" + rest
        # compare_digest, so the time taken says nothing about how much of a guess was right.
        given = secret.encode("latin-1")
        if rest.startswith(f"{API_PREFIX}/") and hmac.compare_digest(
            given, self.api._runtime_secret.encode()
        ):
            return "runtime", rest
        if (
            rest == INVOKE_PATH
            and self.api.invoke_over_http
            and hmac.compare_digest(given, self.api._invoke_secret.encode())
        ):
            return "invoke", rest
        return None

    async def _route(self, request: Request) -> bool:
        """Handles one request; False when the connection must close after it."""
        authorized = self._authorized(request.target)
        if authorized is None:
            # Nothing else: no body read, no invocation touched, no `next` counted.
            log.warning(
                "runtime API request without the sandbox's secret refused",
                extra={"method": request.method, "peer": _peer_name(self.stream)},
            )
            message = "this Runtime API answers only its own sandbox and caller"
            await self._reply(403, error_object("AccessDeniedException", message), close=True)
            await self._linger()
            return False
        role, path = authorized
        method, headers = request.method, request.headers
        if role == "invoke":
            if method != "POST":
                await request.read(_MAX_EMPTY_BODY)
                await self._not_found()
                return True
            await self._invoke_over_http(request)
            return True
        parts = path.removeprefix(API_PREFIX).strip("/").split("/")
        if method == "GET" and path == f"{API_PREFIX}/invocation/next":
            await request.read(_MAX_EMPTY_BODY)
            await self._next()
        elif method == "POST" and parts[:1] == ["invocation"] and len(parts) == 3:
            self._request_id = parts[1][:64]
            invocation = self.api._active.get(parts[1])
            # One not yet handed to the function through `next` is as unknown as a made-up id.
            if invocation is None or invocation.done or invocation.received_at is None:
                await request.read(LAMBDA_MAX_BUFFERED_RESPONSE_BYTES)
                finished = parts[1] in self.api._finished or bool(invocation and invocation.done)
                status = 410 if finished else 400
                await self._reply(status, error_object("InvalidRequestID", "unknown or finished"))
            elif parts[2] == "response":
                await self._response(invocation, request)
            elif parts[2] == "error":
                await self._function_error(invocation, request)
            else:
                await request.read(_MAX_EMPTY_BODY)
                await self._not_found()
        elif method == "POST" and path == f"{API_PREFIX}/init/error":
            body = await request.read(LAMBDA_MAX_REQUEST_BYTES)
            self.api.init_error = _json_or_text(body)
            self.api.init_error_type = headers.get(ERROR_TYPE_HEADER)
            self.api._init_failed.set()
            await self._reply(202, {"status": "OK"})
        else:
            await request.read(_MAX_EMPTY_BODY)
            await self._not_found()
        return True

    async def _not_found(self) -> None:
        await self._reply(404, error_object("NotFound", "no such Runtime API resource"))

    async def _next(self) -> None:
        self.api.next_calls.append(time.perf_counter())
        self.api._first_next.set()
        async with self.api._next_called:
            self.api._next_called.notify_all()
        invocation = await self.api._pending.get()
        while invocation.done:  # cancelled while it waited for the function
            invocation = await self.api._pending.get()
        invocation._connection = self.stream
        invocation._arm_deadline()
        config = self.api.config
        headers = [
            ("content-type", "application/json"),
            ("lambda-runtime-aws-request-id", invocation.request_id),
            ("lambda-runtime-deadline-ms", str(invocation.deadline_ms)),
            ("lambda-runtime-invoked-function-arn", config.arn),
            ("lambda-runtime-trace-id", invocation.trace_id),
        ]
        try:
            await self._write(200, headers, json.dumps(invocation.event).encode())
        except ConnectionError:
            await invocation._finish(error_object(EXIT_ERROR, "the runtime went away"))
            raise

    async def _response(self, invocation: Invocation, request: Request) -> None:
        streaming = request.headers.get(RESPONSE_MODE_HEADER, "").lower() == RESPONSE_MODE_STREAMING
        invocation._connection = self.stream
        invocation._start("streaming" if streaming else "buffered", request.headers)
        await asyncio.sleep(0)  # let a waiting caller see the start before the body is read
        limit = self.api.max_streamed_bytes if streaming else LAMBDA_MAX_BUFFERED_RESPONSE_BYTES
        sink = invocation._sink
        try:
            if sink is not None:
                await invocation._sink_ready.wait()
            # Pieces of at most 1 MiB whatever a chunk declares; past the limit, refused
            # before the bytes over it are read.
            async for frame in request.frames(limit):
                if invocation.stopped:
                    # Cancelled: nobody wants the rest. Reading on would only empty the
                    # socket before the reset that stops the function.
                    raise ConnectionResetError("the invocation was cancelled")
                if sink is not None and not invocation.done:
                    await self._relay(invocation, sink, frame)
                else:
                    await invocation._put(await self.stream.readexactly(frame))
        except PayloadTooLarge as too_large:
            # Lambda ends such a stream as failed; what came before the limit was delivered.
            message = f"Response payload size exceeded {too_large.limit} bytes"
            await invocation._finish(error_object("Function.ResponseSizeTooLarge", message))
            raise _ResponseTooLarge(message, too_large.limit) from None
        except (ConnectionError, asyncio.IncompleteReadError, BadRequest):
            # The function (or its process) went away mid-response, or framed it wrong: what
            # it sent still reaches the reader, then the invocation ends as failed.
            await invocation._finish(error_object(EXIT_ERROR, "the response was cut off"))
            raise
        finally:
            invocation._sink_released.set()
        trailers = request.trailers
        invocation.trailers = trailers
        error: dict[str, Any] | None = None
        if ERROR_TYPE_HEADER in trailers:
            error = _decode_error_body(trailers.get(ERROR_BODY_TRAILER, ""))
            error.setdefault("errorType", trailers[ERROR_TYPE_HEADER])
        await invocation._finish(error)
        await self._reply(202, {"status": "OK"})

    async def _relay(self, invocation: Invocation, sink: SocketStream, size: int) -> None:
        """One body chunk from the function's socket to the caller's, moved by the kernel.

        Only for invocations over HTTP on Linux, where both ends are sockets: the chunk is
        re-framed as is, so the caller gets what :meth:`chunks` would have relayed, without
        the body entering the process (a relayed 256 MiB stream went from 1.3 GiB/s through
        ``recv``/``send`` to about twice that; ``bench/lambda_runtime.py``).
        """
        try:
            await self.stream.splice_to(sink, size, head=chunk_head(size), tail=CHUNK_END)
        except SinkClosed:
            # The caller went away: stop the function as the queue path does (cancel).
            invocation.cancel(_caller_gone())
            raise ConnectionResetError("the caller went away") from None

    async def _function_error(self, invocation: Invocation, request: Request) -> None:
        error = _json_or_text(await request.read(LAMBDA_MAX_REQUEST_BYTES))
        if not isinstance(error, dict):
            error = {"errorMessage": str(error)}
        error.setdefault("errorType", request.headers.get(ERROR_TYPE_HEADER, "Unhandled"))
        invocation._start(None, request.headers)
        await invocation._finish(error)
        await self._reply(202, {"status": "OK"})

    async def _invoke_over_http(self, request: Request) -> None:
        """RIE's invoke endpoint: the event in, the raw response out as it streams.

        A streamed response comes back chunked exactly as the function sent it (prelude,
        delimiter, body); a failed one with status 200 and an ``X-Amz-Function-Error``
        header, as Lambda's ``Invoke`` does, or cut short if the failure came mid-stream.
        """
        event = _json_or_text(await request.read(LAMBDA_MAX_REQUEST_BYTES))
        invocation = Invocation(event, self.api.config.timeout_s, None)
        invocation._sink = self.stream if CAN_SPLICE else None
        await self.api._enqueue(invocation)
        try:
            await self._answer_invoke(invocation)
        except BaseException:
            # This caller is gone (or the emulator closes): the function need not go on.
            invocation.cancel(_caller_gone())
            raise

    async def _answer_invoke(self, invocation: Invocation) -> None:
        mode = await invocation.response_started()
        if mode is None:
            result = await invocation.result()
            await self._write(
                200,
                [("content-type", "application/json"), ("x-amz-function-error", "Unhandled")],
                json.dumps(result.error).encode(),
            )
            return
        content_type = invocation.response_headers.get("content-type", "application/json")
        head = response_head(
            200, [("content-type", content_type), ("transfer-encoding", "chunked")]
        )
        self._answered = True
        await self.stream.write(head)
        if invocation._sink is not None:
            invocation._sink_ready.set()  # the function's connection writes the body now
            await invocation._done.wait()
            if not invocation._sink_released.is_set() and invocation._connection is not None:
                # Ended while the function was still sending (its deadline): stop the relay.
                # Not after the body: the function's connection must live on for `next`.
                hang_up(invocation._connection)
            await invocation._sink_released.wait()
        else:
            async for chunk in invocation.chunks():
                await self.stream.write(*chunk_parts(chunk))
        await invocation.result()
        if invocation.error is not None:
            # Mid-stream failure: no clean end of the chunked body, the caller sees it failed.
            raise ConnectionResetError("the function failed mid-stream")
        await self.stream.write(LAST_CHUNK)


def hang_up(stream: SocketStream) -> None:
    """Hangs up a function's connection from any task, with a reset rather than a FIN.

    The function may be blocked in a write, its data refused by the emulator's shut receive
    window. A shut-down socket sends no window update for what is still read from it, and
    one closed with nothing unread sends a FIN and waits in FIN-WAIT-2: the function's
    kernel then sends only window probes, and its write fails only when that socket times
    out (``tcp_fin_timeout``, 60 s, then the probes' back-off; the soak saw 108 s). With
    ``SO_LINGER`` 0 the close that follows sends a reset, which fails the write at once.
    """
    with contextlib.suppress(OSError):
        stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    stream.abort()


#: ``struct linger`` on, 0 s: ``close()`` resets the connection.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _peer_name(stream: SocketStream) -> str:
    with contextlib.suppress(OSError):
        host, port = stream.sock.getpeername()[:2]
        return f"{host}:{port}"
    return "?"


def _caller_gone() -> dict[str, Any]:
    return error_object("Caller.Disconnected", "the caller went away")


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _decode_error_body(value: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return {"errorMessage": value}
    return decoded if isinstance(decoded, dict) else {"errorMessage": str(decoded)}
