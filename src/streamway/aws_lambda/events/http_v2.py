"""HTTP API and Lambda function URL events (payload format 2.0)."""

from __future__ import annotations

import json
from typing import Any

from streamway.aws_lambda.events.base import (
    EventSource,
    RawHeaders,
    encode_body,
    header_pairs,
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
        return self.http_scope(
            method=http.get("method", "GET"),
            http_version=http.get("protocol", "HTTP/1.1").removeprefix("HTTP/"),
            path=event["rawPath"],
            root_path="",
            query_string=(event.get("rawQueryString") or "").encode(),
            headers=headers,
            source_ip=http.get("sourceIp"),
        )

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
