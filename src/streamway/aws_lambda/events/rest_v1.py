"""API Gateway REST API proxy integration (payload format 1.0), buffered or STREAM."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlencode

from streamway.aws_lambda.events.base import (
    EventSource,
    RawHeaders,
    encode_body,
    header_pairs,
    split_headers,
)


class RestApiV1(EventSource):
    @classmethod
    def infer(cls, event: Any) -> bool:
        return (
            isinstance(event, dict)
            and "httpMethod" in event
            and "requestContext" in event
            and event.get("version", "1.0") == "1.0"
        )

    def scope(self) -> dict[str, Any]:
        event = self.event
        context = event.get("requestContext") or {}
        multi = event.get("multiValueHeaders") or {}
        headers = header_pairs(multi) if multi else header_pairs(event.get("headers") or {})
        # REST APIs deliver `path` still percent-encoded (HTTP APIs decode it); ASGI's path
        # is decoded.
        raw = event.get("path") or "/"
        path = unquote(raw)
        root_path = unquote(_root_path(raw, context.get("path")))
        query = event.get("multiValueQueryStringParameters") or {
            name: [value] for name, value in (event.get("queryStringParameters") or {}).items()
        }
        return self.http_scope(
            method=event["httpMethod"],
            http_version="1.1",
            # ASGI paths include root_path (the stage, or a custom domain's base path), so
            # URLs an app builds point where the client called.
            path=root_path + path,
            root_path=root_path,
            query_string=urlencode(query, doseq=True).encode(),
            headers=headers,
            source_ip=(context.get("identity") or {}).get("sourceIp"),
        )

    def prelude(self, status: int, headers: RawHeaders) -> dict[str, Any]:
        single, multi, cookies = split_headers(headers)
        prelude: dict[str, Any] = {"statusCode": status, "headers": single}
        if multi:
            prelude["multiValueHeaders"] = multi
        if cookies:
            prelude["cookies"] = cookies
        return prelude

    def buffered(self, status: int, headers: RawHeaders, body: bytes) -> bytes:
        single, multi, cookies = split_headers(headers)
        # Payload 1.0 has no `cookies` key: Set-Cookie goes out as a repeated header.
        if len(cookies) == 1:
            single["set-cookie"] = cookies[0]
        elif cookies:
            multi["set-cookie"] = cookies
        text, is_base64 = encode_body(body, single)
        response = {
            "statusCode": status,
            "headers": single,
            "multiValueHeaders": multi,
            "body": text,
            "isBase64Encoded": is_base64,
        }
        return json.dumps(response).encode()


def _root_path(path: str, full_path: str | None) -> str:
    """What precedes ``path`` in the path the client called (``/prod`` for a stage)."""
    if not full_path or full_path == path:
        return ""
    if full_path.endswith(path):
        return full_path[: len(full_path) - len(path)].rstrip("/")
    if path == "/" and full_path.endswith("/"):
        return full_path.rstrip("/")
    return ""
