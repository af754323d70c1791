"""The emulator itself: a listening socket, its connections, and the invoke API.

``async with RuntimeAPIServer() as api:`` then run a function with :meth:`function_env`
(its ``AWS_LAMBDA_RUNTIME_API`` and the rest of Lambda's environment) and call
:meth:`invoke`. Each accepted connection gets the emulator's :class:`Registry` and
:class:`Access`, not the server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from typing import Any

from streamway.aws_contract import LAMBDA_MAX_STREAMED_RESPONSE_BYTES, error_object
from streamway.local.http1 import BadRequest
from streamway.local.runtime_api.access import Access
from streamway.local.runtime_api.connection import Connection, Limits
from streamway.local.runtime_api.function import FunctionConfig
from streamway.local.runtime_api.invocation import Invocation
from streamway.local.runtime_api.registry import Registry
from streamway.local.runtime_api.socket_stream import SocketStream
from streamway.local.runtime_api.wire import INVOKE_PATH

log = logging.getLogger("streamway.local.runtime_api")

#: How long a new connection may wait before its first byte, and a request head may take
#: from its first byte to its end. Runtimes send at once; a peer that does not holds a
#: connection (and, before it proves anything, a socket of ours) for nothing. Idle time
#: between requests on a keep-alive connection is not limited: a function may run 15 minutes.
HEAD_TIMEOUT_S = 30.0


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
        #: The invocations and what the function said of itself; handed to connections.
        self.registry = Registry(self.config)
        #: ``invoke_over_http``: whether :attr:`invoke_url` answers (``streamway local``'s
        #: sandboxes invoke in process only, so they turn it off).
        self._access = Access(invoke_over_http=invoke_over_http)
        self._limits = Limits(head_timeout_s, max_streamed_bytes)
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family)
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
        self.registry.end_all(error_object("Emulator.Closed", "the Runtime API emulator closed"))

    async def __aenter__(self) -> RuntimeAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- where the function and its callers find it ---------------------------------------

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
        return f"{self.address}/{self._access.runtime_secret}"

    @property
    def invoke_url(self) -> str:
        """The URL of the HTTP invoke endpoint, with its secret (not the runtime's)."""
        return f"http://{self.address}/{self._access.invoke_secret}{INVOKE_PATH}"

    def admit(self, pid: int) -> None:
        """Lets process ``pid`` use the Runtime API without the secret, for runtimes that
        accept only ``AWS_LAMBDA_RUNTIME_API=host:port`` (AWS's Node.js client): each such
        connection is checked against the kernel's socket table (Linux only; elsewhere such
        runtimes are refused)."""
        self._access.admit(pid)

    def function_env(self, *, with_secret: bool = True) -> dict[str, str]:
        """The environment Lambda gives a function. ``with_secret=False`` gives the bare
        ``host:port``: then :meth:`admit` the process once it is started."""
        return self.config.environment(self.runtime_api if with_secret else self.address)

    # --- the function, as its callers wait on it -------------------------------------------

    @property
    def init_error(self) -> dict[str, Any] | None:
        """What the function reported on ``init/error``, if it did."""
        return self.registry.init_error

    @property
    def init_error_type(self) -> str | None:
        return self.registry.init_error_type

    @property
    def next_calls(self) -> list[float]:
        """When the function asked for work (perf_counter), each time."""
        return self.registry.next_calls

    async def wait_for_first_next(self) -> float:
        """Waits until the function first asked for work; when that was (perf_counter)."""
        return await self.registry.wait_for_first_next()

    async def wait_for_next_call(self, count: int) -> None:
        """Waits until the function has asked for work ``count`` times in all: a sandbox is
        free again only once its runtime is back in ``next``."""
        await self.registry.wait_for_next_call(count)

    @property
    def in_flight(self) -> int:
        """Invocations the function took and has not finished."""
        return self.registry.in_flight

    async def wait_for_init_error(self) -> dict[str, Any]:
        return await self.registry.wait_for_init_error()

    async def invoke(
        self, event: Any, *, timeout_s: float | None = None, trace_id: str | None = None
    ) -> Invocation:
        """Queues ``event`` for the function; the returned invocation yields its response."""
        return self.registry.invoke(event, timeout_s=timeout_s, trace_id=trace_id)

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
            await Connection(stream, self.registry, self._access, self._limits).run()
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
