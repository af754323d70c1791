"""The local API Gateway: an ASGI app (served by uvicorn) that relays each request to a
function process through its Runtime API emulator, as API Gateway REST relays to Lambda.

Each request under a stage runs one :class:`~streamway.local.request_cycle.RequestCycle`;
``/_local/*`` goes to the control routes (:mod:`streamway.local.control_routes`), the Lambda
API's paths to :mod:`streamway.local.lambda_api` (outside the stage, as on AWS). The
lifespan's shutdown stops the function processes and logs the run's cost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from streamway.local.control_routes import LOCAL_PREFIX, ControlRoutes
from streamway.local.lambda_api import LambdaApi
from streamway.local.metering import Meter
from streamway.local.request_cycle import GatewayConfig, RequestCycle

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive, Scope, Send

    from streamway.local.function_url import FunctionUrlApp

metering_log = logging.getLogger("streamway.local.metering")


class LocalGateway:
    """The ASGI app."""

    def __init__(self, config: GatewayConfig, *, meter: Meter | None = None) -> None:
        self.config = config
        self.meter = meter or Meter()
        self.control = ControlRoutes(config.pools, self.meter, config.auth)
        self.lambda_api = LambdaApi(
            config.pools.values(),
            body_timeout_s=config.body_timeout_s,
            guarded=config.auth is not None,
        )
        #: The function URLs by port (:mod:`streamway.local.function_url`), set at start-up.
        self.function_urls: dict[int, FunctionUrlApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            # scope["path"] is percent-decoded (raw_path is not): decide on it, so that every
            # spelling of /_local/ (/%5Flocal/, /_local%2F...) reaches the same guarded
            # endpoint.
            if scope["path"].startswith(LOCAL_PREFIX):
                await self.control(scope, send)
            elif LambdaApi.serves(scope["path"]):
                await self.lambda_api(scope, receive, send)
            else:
                await RequestCycle(self.config, self.meter, scope, receive, send).run()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        """Stops every function process and logs what the run would have cost on AWS."""
        await self.lambda_api.close()
        await asyncio.gather(*(pool.close() for pool in self.config.pools.values()))
        totals = {k: v for k, v in self.meter.summary().items() if k != "recent"}
        metering_log.info("metering summary\n%s", self.meter.summary_text(), extra=totals)
