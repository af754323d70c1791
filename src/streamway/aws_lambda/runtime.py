"""The runtime loop: ``next``, run the app or handler, answer; one event loop per process.

One invocation at a time, unless Lambda sends several at once (Managed Instances,
``AWS_LAMBDA_MAX_CONCURRENCY``): then :mod:`.concurrency` runs that many loops on the same
event loop, each serving its invocations through :meth:`LambdaRuntime.serve_one`.

Start-up (importing ``STREAMWAY_APP`` and running its lifespan, or importing the plain
handler of ``STREAMWAY_HANDLER``) happens before the first ``next``; a failure there goes to
``/init/error`` with the error type Lambda's runtimes use, is logged as one line, and the
process exits, as Lambda expects. Each invocation sets its trace id (the context variable of
:func:`~.context.current_trace_id`, and ``_X_AMZN_TRACE_ID`` when served one at a time) and
gives the app its context in the scope (``aws.event``, ``aws.context``). HTTP events stream
unless the invoke mode is buffered; other events are POSTed to an app's pass-through path and
answered buffered, or streamed as they are by a plain handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from contextvars import Token
from typing import Any, Protocol

from streamway.aws_contract import (
    IMPORT_MODULE_ERROR,
    MALFORMED_HANDLER_NAME,
    STREAMING_INVOKE_MODE,
)
from streamway.aws_lambda.bridge import AsgiBridge, InvocationEnded, LifespanFailed
from streamway.aws_lambda.buffered_sink import BufferedSink
from streamway.aws_lambda.client import NextInvocation, RuntimeAPIClient
from streamway.aws_lambda.concurrency import ConcurrentLoops, until_deadline
from streamway.aws_lambda.context import LambdaContext, trace_id_var
from streamway.aws_lambda.events.base import EventSource, RawHeaders
from streamway.aws_lambda.handler import HandlerBridge, load_handler
from streamway.aws_lambda.loading import InitError, attribute_of, import_module
from streamway.aws_lambda.settings import LoopName, RuntimeSettings
from streamway.aws_lambda.sink import ResponseSink, error_payload
from streamway.aws_lambda.streaming_sink import StreamingSink
from streamway.aws_lambda.types import ASGIApp
from streamway.logs import invocation_id_var, request_id_var
from streamway.observability import tracing

log = logging.getLogger("streamway.aws_lambda")
#: One line per invocation (the runtime's access log), whatever app it serves.
access_log = logging.getLogger("streamway.aws_lambda.access")

TRACE_ID_ENV = "_X_AMZN_TRACE_ID"


def load_app(spec: str) -> ASGIApp:
    """The ASGI app named by ``module:attribute`` (dots allowed in the attribute)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InitError(
            f"STREAMWAY_APP must look like 'module:attribute', not {spec!r}",
            MALFORMED_HANDLER_NAME,
        )
    target = attribute_of(import_module(module_name), attribute, missing_type=IMPORT_MODULE_ERROR)
    if not callable(target):
        raise InitError(f"{spec!r} is not an ASGI app", IMPORT_MODULE_ERROR)
    app: ASGIApp = target
    return app


class Bridge(Protocol):
    """What runs the user's code for each invocation: :class:`AsgiBridge` for an app,
    :class:`~streamway.aws_lambda.handler.HandlerBridge` for a plain handler."""

    def source_for(self, event: Any, context: LambdaContext) -> EventSource: ...

    async def handle(self, source: EventSource, sink: ResponseSink) -> None: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


async def start_bridge(settings: RuntimeSettings) -> Bridge:
    """The app or the handler the settings name, started; an :class:`InitError` (or the
    app's own lifespan failure) when it cannot be."""
    if settings.handler and settings.app_is_set:
        raise InitError(
            "STREAMWAY_APP and STREAMWAY_HANDLER are both set; set one of them",
            MALFORMED_HANDLER_NAME,
        )
    bridge: Bridge
    if settings.handler:
        bridge = HandlerBridge(*load_handler(settings.handler), threads=settings.concurrency)
    else:
        bridge = AsgiBridge(
            load_app(settings.app), pass_through_path=settings.lambda_pass_through_path
        )
    await bridge.startup()
    return bridge


async def report_init_error(client: RuntimeAPIClient, error: Exception) -> None:
    """Posts the init error Lambda expects and logs it as one line that names the cause.

    The traceback of a mistake the message already names (a module that is not there) is
    only at DEBUG; the user code's own failure (a lifespan that raised) carries it, as the
    log line's ``stackTrace`` field in JSON logs.
    """
    error_type = error.error_type if isinstance(error, InitError) else None
    payload = error_payload(error, error_type)
    cause = f"{payload['errorType']}: {payload['errorMessage']}"
    if isinstance(error, InitError | LifespanFailed):
        log.error("the function could not start: %s", cause)
        log.debug("why the function could not start", exc_info=error)
    else:
        log.error("the function could not start: %s", cause, exc_info=error)
    await client.post_init_error(payload)


def _set_invocation_vars(context: LambdaContext) -> tuple[Token[Any], ...]:
    """The invocation's request and trace ids, in the context of the task serving it."""
    return (
        request_id_var.set(context.aws_request_id),
        invocation_id_var.set(context.aws_request_id),
        trace_id_var.set(context.trace_id),
    )


def _reset_invocation_vars(tokens: tuple[Token[Any], ...]) -> None:
    request, invocation, trace = tokens
    trace_id_var.reset(trace)
    invocation_id_var.reset(invocation)
    request_id_var.reset(request)


def _set_trace_env(trace_id: str | None) -> None:
    """``_X_AMZN_TRACE_ID``, as Lambda's runtimes set it per invocation (one at a time)."""
    if trace_id:
        os.environ[TRACE_ID_ENV] = trace_id
    else:
        os.environ.pop(TRACE_ID_ENV, None)


class MeteredSink:
    """A :class:`ResponseSink` that notes what went through it, for the access line."""

    def __init__(self, sink: ResponseSink, *, streams: bool) -> None:
        self.sink = sink
        self.streams = streams
        self.status: int | None = None
        self.bytes = 0
        self.first_byte_at: float | None = None
        self.outcome = "incomplete"

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.status = status
        await self.sink.start(status, headers)

    async def write(self, data: bytes) -> None:
        if data and self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        self.bytes += len(data)
        await self.sink.write(data)

    async def finish(self) -> None:
        await self.sink.finish()
        self.outcome = "complete"

    async def fail(self, error: BaseException) -> None:
        # A stream that already started is cut short; anything else is a function error.
        self.outcome = "cut" if self.streams and self.status is not None else "failed"
        await self.sink.fail(error)


class LambdaRuntime:
    """Serves invocations with one app or handler. Sequential (:meth:`run`) on one client, or
    from several ``next`` loops at once (:mod:`.concurrency`), each passing its own client.

    ``concurrent``: under concurrency the trace id is only a context variable (the process's
    ``_X_AMZN_TRACE_ID`` would be another invocation's a moment later), and each invocation
    is cancelled at its own deadline, as Lambda cannot stop one invocation of a process.
    """

    def __init__(
        self,
        client: RuntimeAPIClient,
        bridge: Bridge,
        *,
        streaming: bool,
        concurrent: bool = False,
    ) -> None:
        self.client = client
        self.bridge = bridge
        self.streaming = streaming
        self.concurrent = concurrent
        self.cold = True

    async def run(self, invocations: int | None = None) -> None:
        """Serves invocations until ``invocations`` were served, or for ever."""
        served = 0
        while invocations is None or served < invocations:
            await self.serve_one(await self.client.next())
            served += 1

    async def serve_one(
        self, invocation: NextInvocation, client: RuntimeAPIClient | None = None
    ) -> None:
        """Serves one invocation, answering on ``client`` (the runtime's own by default)."""
        client = client or self.client
        context = LambdaContext.from_next(invocation)
        started = time.perf_counter()
        tokens = _set_invocation_vars(context)
        if not self.concurrent:
            _set_trace_env(context.trace_id)
        fields: dict[str, object] = {"coldStart": self.cold}
        cold_start, self.cold = self.cold, False
        metered: MeteredSink | None = None
        try:
            event = invocation.event()
            source = self.bridge.source_for(event, context)
            scope = source.scope()
            fields.update(method=scope.get("method"), path=scope.get("path"))
            metered = self._sink(client, source, context.aws_request_id)
            fields["mode"] = "stream" if metered.streams else "buffered"
            with tracing.lambda_invocation(
                context.aws_request_id,
                context.trace_id,
                event.get("headers") if isinstance(event, dict) else None,
                cold_start=cold_start,
                function_name=context.function_name,
            ):
                async with until_deadline(context.deadline_ms if self.concurrent else None):
                    await self.bridge.handle(source, metered)
        except InvocationEnded:
            # Logged by the bridge. The connection is unusable; `next` opens another.
            await client.close()
        except ConnectionError:
            # The Runtime API connection broke mid-answer; the next `next` reconnects.
            log.exception("lost the Runtime API connection")
            await client.close()
        except TimeoutError:
            # Only until_deadline's: the app's own TimeoutError is a failure the bridge sent.
            log.warning("the invocation reached its deadline and was cancelled")
            fields["outcome"] = "timeout"
            await client.close()  # Lambda ended it; what was half sent goes nowhere
        except Exception as error:
            # A bad event (not JSON, or not a shape its handler can read).
            log.exception("could not handle the invocation")
            await client.post_error(context.aws_request_id, error_payload(error))
        finally:
            self._log_invocation(started, metered, fields)
            _reset_invocation_vars(tokens)
        if tracing.enabled():
            # Lambda freezes the process once it asks for the next invocation: spans still
            # in the batch would leave only then, if ever.
            await asyncio.to_thread(tracing.flush)

    def _sink(self, client: RuntimeAPIClient, source: EventSource, request_id: str) -> MeteredSink:
        """Streams HTTP events unless the invoke mode is buffered; buffers the rest."""
        if self.streaming and source.streams:
            return MeteredSink(StreamingSink(client, request_id, source), streams=True)
        return MeteredSink(BufferedSink(client, request_id, source), streams=False)

    @staticmethod
    def _log_invocation(
        started: float, metered: MeteredSink | None, fields: dict[str, object]
    ) -> None:
        """The invocation's one access line: what the function answered, and how fast."""
        if metered is not None:
            fields.setdefault("outcome", metered.outcome)
            fields.update(status=metered.status, bytes=metered.bytes)
            if metered.first_byte_at is not None:
                fields["firstByteMs"] = round((metered.first_byte_at - started) * 1000, 2)
        else:
            fields.setdefault("outcome", "failed")
        fields["durationMs"] = round((time.perf_counter() - started) * 1000, 2)
        access_log.info("invocation", extra=fields)


async def serve(settings: RuntimeSettings, invocations: int | None = None) -> None:
    """Starts the app, then serves invocations from ``AWS_LAMBDA_RUNTIME_API``."""
    client = RuntimeAPIClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    tracing.setup()  # only with OTEL_EXPORTER_OTLP_ENDPOINT set (docs/observability.md)
    try:
        bridge = await start_bridge(settings)
    except Exception as error:
        await report_init_error(client, error)
        await client.close()
        raise SystemExit(1) from None
    concurrency = settings.concurrency
    runtime = LambdaRuntime(
        client,
        bridge,
        streaming=settings.lambda_invoke_mode == STREAMING_INVOKE_MODE,
        concurrent=concurrency > 1,
    )
    try:
        if concurrency > 1:
            os.environ.pop(TRACE_ID_ENV, None)  # never one invocation's for all (see docs)
            await ConcurrentLoops(runtime, client.address, concurrency).run(invocations)
        else:
            await runtime.run(invocations)
    finally:
        await bridge.shutdown()
        await client.close()


def main() -> None:
    from streamway.logs import configure_lambda_logging

    settings = RuntimeSettings.from_env()
    configure_lambda_logging(settings.log_level, settings.log_format)
    # Lambda stops the process with SIGKILL; there is nothing to shut down gracefully.
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner:
            runner.run(serve(settings))
    except KeyboardInterrupt:
        sys.exit(130)


def loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for ``uvloop``, and for ``auto`` when it is installed (it comes with
    ``uvicorn[standard]``); None (asyncio's own) otherwise.

    Why uvloop by default: its transports write without copying what the socket could not
    take at once, and it cut the runtime's CPU per streamed GiB by about 15%
    (``bench/lambda_runtime.py``), time a Lambda function is billed for.
    """
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return None
    return uvloop.new_event_loop
