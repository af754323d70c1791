"""``/_local/*``: streamway local's own endpoints, outside any stage.

``GET /_local/functions`` shows the sandboxes, ``GET /_local/metering`` what the run would
have cost on AWS (:mod:`streamway.local.metering`). The gateway recognises them on the
*decoded* path, as API Gateway routes on it, so ``/%5Flocal/...`` is the same endpoint and
never a way around its checks. With an API key or a JWT configured they require the same
credentials as the API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from streamway.api.definition import API_KEY_SCHEME, JWT_SCHEME, Route
from streamway.aws_contract import TransferMode
from streamway.local.functions import FunctionPool
from streamway.local.gateway_responses import GatewayResponse, send_gateway_response
from streamway.local.metering import Meter
from streamway.local.rest_event import RequestIds

if TYPE_CHECKING:
    from starlette.types import Scope, Send

    from streamway.local.auth import GatewayAuth

log = logging.getLogger("streamway.local.gateway")

#: The decoded path prefix of every control route.
LOCAL_PREFIX = "/_local/"


class ControlRoutes:
    """Answers the ``/_local/`` requests of one gateway."""

    def __init__(
        self,
        pools: Mapping[TransferMode, FunctionPool],
        meter: Meter,
        auth: GatewayAuth | None = None,
    ) -> None:
        self.pools = pools
        self.meter = meter
        self.auth = auth
        #: Each function's URL as ``/_local/functions`` shows it, by function name.
        self.function_urls: dict[str, dict[str, Any]] = {}

    async def __call__(self, scope: Scope, send: Send) -> None:
        denied = self._refusal(scope)
        if denied is not None:
            request_id = RequestIds.new().request_id
            log.warning(
                "local endpoint refused: %s",
                denied.message,
                extra={"request_id": request_id, "status": denied.status, "path": scope["path"]},
            )
            await send_gateway_response(send, denied, request_id)
            return
        if scope["method"] == "GET" and scope["path"] == "/_local/functions":
            payload: dict[str, Any] = {
                "functions": [
                    {**pool.describe(), "function_url": self.function_urls.get(pool.spec.name)}
                    for pool in self.pools.values()
                ]
            }
            await _send_json(send, 200, payload)
        elif scope["method"] == "GET" and scope["path"] == "/_local/metering":
            await _send_json(send, 200, self.meter.summary())
        else:
            await _send_json(send, 404, {"message": "no such local endpoint"})

    def _refusal(self, scope: Scope) -> GatewayResponse | None:
        """The refusal of a /_local request, None to let it through. With auth configured,
        the control plane (which shows and may one day change the functions) takes every
        credential the API was given: the keys, and a JWT when a JWKS is set."""
        if self.auth is None:
            return None
        from streamway.local.auth import GatewayDenied

        schemes = (API_KEY_SCHEME,) * bool(self.auth.api_keys) + (JWT_SCHEME,) * (
            self.auth.jwks is not None
        )
        route = Route(scope["method"], "/_local/{proxy+}", "BUFFERED", 0, "", security=schemes)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        try:
            self.auth.check(route, headers)
        except GatewayDenied as denied:
            return denied.response
        return None


async def _send_json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload, indent=2).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
