"""Plain handlers (``STREAMWAY_HANDLER``): a function that streams, without a web framework.

Python's answer to Node's ``awslambda.streamifyResponse``. The function is one of three
shapes, told apart once, at start-up:

- an async generator function ``f(event, context)`` of ``bytes``/``str``;
- a generator function ``f(event, context)`` of ``bytes``/``str``, each ``next()`` run in
  one of the bridge's worker threads so it never blocks the event loop (one thread per
  invocation served at once: one, unless under concurrency); it is closed between items when
  the response cannot go on;
- ``async def f(event, context, stream)`` writing to a
  :class:`~streamway.aws_lambda.response_stream.ResponseStream`.

Generators answer 200, ``text/plain; charset=utf-8`` when their first chunk is a ``str`` and
``application/octet-stream`` otherwise. HTTP events (function URL, HTTP API, REST proxy) get
the HTTP prelude; anything else is a direct invocation whose result is the bytes alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from streamway.aws_contract import (
    HANDLER_NOT_FOUND,
    MALFORMED_HANDLER_NAME,
    MALFORMED_STREAMING_HANDLER,
)
from streamway.aws_lambda.bridge import invocation_ended
from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.events import HTTP_SOURCES, EventSource
from streamway.aws_lambda.events.direct import DirectInvoke
from streamway.aws_lambda.loading import InitError, attribute_of, import_module
from streamway.aws_lambda.response_stream import (
    BYTES_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    ResponseStream,
)
from streamway.aws_lambda.sink import ResponseSink, fail_or_lose

log = logging.getLogger("streamway.aws_lambda")

Shape = Literal["async_generator", "generator", "stream"]

_END = object()


def load_handler(spec: str) -> tuple[Callable[..., Any], Shape]:
    """The function named by ``module.function`` (Lambda's handler setting) or
    ``module:function``, and its shape; an :class:`InitError` when it has none of them."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
    else:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise InitError(
            f"STREAMWAY_HANDLER must look like 'module.function' or 'module:function', "
            f"not {spec!r}",
            MALFORMED_HANDLER_NAME,
        )
    function = attribute_of(import_module(module_name), attribute)
    return function, shape_of(function, spec)


def shape_of(function: Any, name: str) -> Shape:
    """Which of the three handler shapes ``function`` is."""
    if not callable(function):
        raise InitError(f"{name!r} is not callable", HANDLER_NOT_FOUND)
    # A callable object is judged by its __call__ method.
    target = function if inspect.isroutine(function) else type(function).__call__
    if inspect.isasyncgenfunction(target):
        return "async_generator"
    if inspect.isgeneratorfunction(target):
        return "generator"
    if inspect.iscoroutinefunction(target):
        try:
            inspect.signature(function).bind(None, None, None)
        except TypeError:
            pass
        else:
            return "stream"
    raise InitError(
        f"{name!r} must be an async generator or a generator of bytes/str taking "
        "(event, context), or an async def taking (event, context, stream)",
        MALFORMED_STREAMING_HANDLER,
    )


class HandlerBridge:
    """Runs a plain handler for each invocation (what :class:`AsgiBridge` is for apps)."""

    def __init__(
        self,
        function: Callable[..., Any],
        shape: Shape,
        *,
        sources: Sequence[type[EventSource]] = HTTP_SOURCES,
        threads: int = 1,
    ) -> None:
        self.function = function
        self.shape = shape
        self.sources = sources
        self._thread = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="streamway-handler"
        )

    def source_for(self, event: Any, context: LambdaContext) -> EventSource:
        for source in self.sources:
            if source.infer(event):
                return source(event, context)
        return DirectInvoke(event, context)

    async def startup(self) -> None:
        """Nothing to start: importing the handler's module was its start-up."""

    async def shutdown(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def handle(self, source: EventSource, sink: ResponseSink) -> None:
        """Runs the handler once; a failure ends in the sink (``/error``, or trailers once
        the body started). Raises :class:`InvocationEnded` when the Runtime API connection
        failed under the response, after the generator was closed.
        """
        stream = ResponseStream(sink)
        try:
            await self._run(source.invocation_event, source.context, stream)
            await stream.start()  # an empty body still sends status and headers
            await sink.finish()
        except Exception as error:
            if stream.lost is not None:
                log.debug("the handler ended after the invocation did", exc_info=error)
            else:
                log.error("the handler failed", exc_info=error)
                stream.lost = await fail_or_lose(sink, error)
        if stream.lost is not None:
            raise invocation_ended(stream.lost)

    async def _run(self, event: Any, context: LambdaContext, stream: ResponseStream) -> None:
        if self.shape == "stream":
            await self.function(event, context, stream)
        elif self.shape == "async_generator":
            await _relay(self.function(event, context), stream)
        else:
            await _relay(self._in_thread(self.function(event, context)), stream)

    async def _in_thread(self, generator: Generator[Any, None, None]) -> AsyncGenerator[Any, None]:
        """The generator's items, each ``next()`` in the worker thread; closed there too,
        after the item being made (a generator cannot be stopped in the middle of one)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # the request id of log lines made there

        def step() -> Any:
            return next(generator, _END)

        try:
            while (item := await loop.run_in_executor(self._thread, context.run, step)) is not _END:
                yield item
        finally:
            await loop.run_in_executor(self._thread, context.run, generator.close)


async def _relay(chunks: AsyncGenerator[Any, None], stream: ResponseStream) -> None:
    """Writes each chunk; the first one picks the content type. Closes the generator
    whatever happens (a failed write stops it)."""
    try:
        async for chunk in chunks:
            if not stream.started:
                text = isinstance(chunk, str)
                stream.content_type = TEXT_CONTENT_TYPE if text else BYTES_CONTENT_TYPE
            await stream.write(chunk)  # a TypeError for what is neither bytes nor str
        if not stream.started:
            stream.content_type = BYTES_CONTENT_TYPE
    finally:
        await chunks.aclose()
