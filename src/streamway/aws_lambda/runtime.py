"""The runtime loop: ``next``, run the app, answer; one event loop for the process's life.

Start-up (importing ``STREAMWAY_APP`` and running its lifespan) happens before the first
``next``; a failure there goes to ``/init/error`` and the process exits, as Lambda expects.
Each invocation sets ``_X_AMZN_TRACE_ID`` and gives the app its context in the scope
(``aws.event``, ``aws.context``). HTTP events stream unless the invoke mode is buffered;
other events are POSTed to the pass-through path and answered buffered.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from streamway.aws_lambda.bridge import AsgiBridge, InvocationEnded
from streamway.aws_lambda.buffered import BufferedResponse
from streamway.aws_lambda.client import NextInvocation, RuntimeAPIClient
from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.settings import LoopName, RuntimeSettings
from streamway.aws_lambda.sink import ResponseSink, error_payload
from streamway.aws_lambda.stream_writer import StreamingResponse
from streamway.aws_lambda.types import ASGIApp
from streamway.logs import request_id_var

log = logging.getLogger("streamway.aws_lambda")

TRACE_ID_ENV = "_X_AMZN_TRACE_ID"


class AppImportError(Exception):
    """``STREAMWAY_APP`` does not name an importable ASGI app."""


def load_app(spec: str) -> ASGIApp:
    """The ASGI app named by ``module:attribute`` (dots allowed in the attribute)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AppImportError(f"STREAMWAY_APP must look like 'module:attribute', not {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise AppImportError(f"cannot import {module_name!r}: {error}") from error
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise AppImportError(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise AppImportError(f"{spec!r} is not an ASGI app")
    app: ASGIApp = target
    return app


class LambdaRuntime:
    def __init__(self, client: RuntimeAPIClient, bridge: AsgiBridge, *, streaming: bool) -> None:
        self.client = client
        self.bridge = bridge
        self.streaming = streaming

    async def run(self, invocations: int | None = None) -> None:
        """Serves invocations until ``invocations`` were served, or for ever."""
        served = 0
        while invocations is None or served < invocations:
            await self.serve_one(await self.client.next())
            served += 1

    async def serve_one(self, invocation: NextInvocation) -> None:
        context = LambdaContext.from_next(invocation)
        token = request_id_var.set(context.aws_request_id)
        if context.trace_id:
            os.environ[TRACE_ID_ENV] = context.trace_id
        else:
            os.environ.pop(TRACE_ID_ENV, None)
        try:
            source = self.bridge.source_for(invocation.event(), context)
            sink: ResponseSink
            if self.streaming and source.streams:
                sink = StreamingResponse(self.client, context.aws_request_id, source)
            else:
                sink = BufferedResponse(self.client, context.aws_request_id, source)
            await self.bridge.handle(source, sink)
        except InvocationEnded:
            # Logged by the bridge. The connection is unusable; `next` opens another.
            await self.client.close()
        except ConnectionError:
            # The Runtime API connection broke mid-answer; the next `next` reconnects.
            log.exception("lost the Runtime API connection")
            await self.client.close()
        except Exception as error:
            # A bad event (not JSON, or not a shape its handler can read).
            log.exception("could not handle the invocation")
            await self.client.post_error(context.aws_request_id, error_payload(error))
        finally:
            request_id_var.reset(token)


async def serve(settings: RuntimeSettings, invocations: int | None = None) -> None:
    """Starts the app, then serves invocations from ``AWS_LAMBDA_RUNTIME_API``."""
    client = RuntimeAPIClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        bridge = AsgiBridge(
            load_app(settings.app), pass_through_path=settings.lambda_pass_through_path
        )
        await bridge.startup()
    except Exception as error:
        error_type = "Runtime.ImportModuleError" if isinstance(error, AppImportError) else None
        log.exception("start-up failed")
        await client.post_init_error(error_payload(error, error_type))
        await client.close()
        raise SystemExit(1) from None
    runtime = LambdaRuntime(
        client, bridge, streaming=settings.lambda_invoke_mode == "response_stream"
    )
    try:
        await runtime.run(invocations)
    finally:
        await bridge.shutdown()
        await client.close()


def main() -> None:
    from streamway.logs import configure_logging

    settings = RuntimeSettings.from_env()
    configure_logging(settings.log_level)
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
