"""Any other event (SQS, EventBridge, a direct invoke): POSTed to the app as JSON, buffered.

The same contract as Lambda Web Adapter's pass-through path (``AWS_LWA_PASS_THROUGH_PATH``,
``/events`` by default), so an app written for LWA handles these events unchanged. The
response body is the invocation's result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.events.base import ASGI, EventSource, RawHeaders


class PassThrough(EventSource):
    streams = False

    def __init__(self, event: Any, context: LambdaContext, path: str = "/events") -> None:
        super().__init__(event if isinstance(event, Mapping) else {}, context)
        self.raw_event = event
        self.path = path

    @property
    def invocation_event(self) -> Any:
        return self.raw_event

    @classmethod
    def infer(cls, event: Any) -> bool:
        return True

    def body(self) -> bytes:
        return json.dumps(self.raw_event).encode()

    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": ASGI,
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": None,
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "client": None,
            "server": None,
            "aws.event": self.raw_event,
            "aws.context": self.context,
        }

    def prelude(self, status: int, headers: RawHeaders) -> dict[str, Any]:
        raise NotImplementedError("pass-through events are answered buffered")

    def buffered(self, status: int, headers: RawHeaders, body: bytes) -> bytes:
        return body
