"""HTTP API and Lambda function URL events (payload format 2.0)."""

from __future__ import annotations

import json
from typing import Any

from streamway.aws_lambda.events.base import (
    ASGI,
    EventSource,
    RawHeaders,
    encode_body,
    header_pairs,
    server_of,
    split_headers,
)


class HttpApiV2(EventSource):
    @classmethod
    def infer(cls, event: Any) -> bool:
        return isinstance(event, dict) and event.get("version") == "2.0" and "rawPath" in event

    def scope(self) -> dict[str, Any]:
        event = self.event
        http = (event.get("requestContext") or {}).get("http") or {}
        headers = header_pairs(event.get("headers") or {})
        if event.get("cookies"):
            # 2.0 moves the Cookie header into `cookies`; the app expects it back.
            headers.append((b"cookie", "; ".join(event["cookies"]).encode("latin-1")))
        lowered = {name.decode(): value.decode("latin-1") for name, value in headers}
        protocol = http.get("protocol", "HTTP/1.1")
        source_ip = http.get("sourceIp")
        return {
            "type": "http",
            "asgi": ASGI,
            "http_version": protocol.removeprefix("HTTP/"),
            "method": http.get("method", "GET"),
            "scheme": lowered.get("x-forwarded-proto", "https"),
            "path": event["rawPath"],
            "raw_path": None,
            "root_path": "",
            "query_string": (event.get("rawQueryString") or "").encode(),
            "headers": headers,
            "client": (source_ip, 0) if source_ip else None,
            "server": server_of(
                lowered, (self.event.get("requestContext") or {}).get("domainName")
            ),
            **self.aws_scope(),
        }

    def prelude(self, status: int, headers: RawHeaders) -> dict[str, Any]:
        single, multi, cookies = split_headers(headers)
        # Repeated headers are joined with commas, as payload 2.0 responses do.
        joined = {**single, **{name: ",".join(values) for name, values in multi.items()}}
        prelude: dict[str, Any] = {"statusCode": status, "headers": joined}
        if cookies:
            prelude["cookies"] = cookies
        return prelude

    def buffered(self, status: int, headers: RawHeaders, body: bytes) -> bytes:
        response = self.prelude(status, headers)
        text, is_base64 = encode_body(body, response["headers"])
        response.setdefault("cookies", [])
        response.update(body=text, isBase64Encoded=is_base64)
        return json.dumps(response).encode()
