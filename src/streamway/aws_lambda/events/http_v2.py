"""HTTP API and Lambda function URL events (payload format 2.0).

The two differ in ``rawPath``: an HTTP API delivers it percent-decoded, a function URL as
the client sent it, still encoded (as a REST API does), so a function URL's is decoded here
for the ASGI ``path``. A function URL's event is told by its ``domainName``
(``<url-id>.lambda-url.<region>.on.aws``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

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
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        headers = header_pairs(event.get("headers") or {})
        path: str = event["rawPath"]
        if event.get("cookies"):
            # 2.0 moves the Cookie header into `cookies`; the app expects it back.
            headers.append((b"cookie", "; ".join(event["cookies"]).encode("latin-1")))
        return self.http_scope(
            method=http.get("method", "GET"),
            http_version=http.get("protocol", "HTTP/1.1").removeprefix("HTTP/"),
            path=unquote(path) if _is_function_url(context) else path,
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


def _is_function_url(context: Any) -> bool:
    return ".lambda-url." in str(context.get("domainName") or "")
