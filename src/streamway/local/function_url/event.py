"""The function URL event: payload format 2.0, as Lambda builds it from an HTTP request.

- ``headers``: lower-case names, a repeated header's values joined with commas; the
  ``Cookie`` header moves to ``cookies`` (one entry per cookie), as Lambda moves it;
  ``X-Forwarded-For``/``-Port``/``-Proto`` and ``X-Amzn-Trace-Id`` are Lambda's own;
- ``rawPath`` as sent (percent-encoding kept), ``rawQueryString`` as sent, and
  ``queryStringParameters`` decoded with repeated names joined by commas (absent without a
  query string);
- ``body`` only when there is one, base64 (``isBase64Encoded``) unless its content type is
  text (``text/*``, JSON, XML, JavaScript, form data) and it decodes as UTF-8;
- ``requestContext`` with ``accountId`` ``anonymous`` (auth type ``NONE``) or the signer's
  account and ``authorizer.iam`` (``AWS_IAM``), ``apiId``/``domainPrefix`` the url-id, the
  ``http`` block, and ``routeKey``/``stage`` ``$default``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from streamway.local.function_url.config import UrlConfig
from streamway.local.function_url.iam import Caller
from streamway.local.rest_event import ClientRequest
from streamway.local.rest_event import _request_time as request_time
from streamway.local.rest_event import _trace_id as trace_id
from streamway.local.runtime_api import FunctionConfig

#: Set by Lambda in front of the function: the client's values are replaced.
_ADDED = ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id")
_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql")


def build_event(
    request: ClientRequest, url: UrlConfig, request_id: str, caller: Caller | None = None
) -> dict[str, Any]:
    """The event Lambda would pass the function for ``request`` to ``url``."""
    headers, cookies = _headers_and_cookies(_with_forwarding(request))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path,
        "rawQueryString": request.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.query_string:
        event["queryStringParameters"] = _query_parameters(request.query_string)
    event["requestContext"] = _request_context(request, url, request_id, caller)
    body, is_base64 = _body(request)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def _headers_and_cookies(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
        else:
            headers.setdefault(lowered, []).append(value)
    return {name: ",".join(values) for name, values in headers.items()}, cookies


def _with_forwarding(request: ClientRequest) -> list[tuple[str, str]]:
    """The client's headers plus those Lambda adds. ``X-Forwarded-Proto`` says ``http``, what
    the client really used (AWS says https), so URLs the app builds work locally."""
    kept = [(name, value) for name, value in request.headers if name.lower() not in _ADDED]
    return [
        *kept,
        ("x-forwarded-for", request.source_ip),
        ("x-forwarded-port", str(request.server_port)),
        ("x-forwarded-proto", "http"),
        ("x-amzn-trace-id", request.header("x-amzn-trace-id") or trace_id(request.received_at)),
    ]


def _query_parameters(raw: str) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return {name: ",".join(joined) for name, joined in values.items()}


def _request_context(
    request: ClientRequest, url: UrlConfig, request_id: str, caller: Caller | None
) -> dict[str, Any]:
    received = request.received_at
    context: dict[str, Any] = {
        "accountId": FunctionConfig.account_id if caller else "anonymous",
        "apiId": url.url_id,
        "domainName": url.domain_name,
        "domainPrefix": url.url_id,
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(received),
        "timeEpoch": int(received * 1000),
    }
    if caller is not None:
        context["authorizer"] = caller.authorizer()
    return context


def _body(request: ClientRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = (request.header("content-type") or "").lower()
    if content_type.startswith("text/") or any(t in content_type for t in _TEXT_TYPES):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


def new_request_id() -> str:
    return str(uuid.uuid4())
