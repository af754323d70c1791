"""The Lambda proxy event (payload format 1.0) API Gateway REST builds for a request.

STREAM and BUFFERED integrations get the same event ("the input format is the same as the
input format of a Lambda function for proxy integration", response-transfer-mode-lambda.html).
What is copied from AWS's behaviour, and why it matters to a function:

- ``path`` keeps the client's percent-encoding (as REST APIs deliver it; HTTP APIs decode),
  while ``pathParameters`` and query parameters are decoded.
- ``headers`` and ``queryStringParameters`` hold the *last* value of a repeated name;
  ``multiValueHeaders`` and ``multiValueQueryStringParameters`` hold all of them. Empty maps
  are ``null``, not ``{}``.
- ``X-Forwarded-For`` gets the caller's address appended; ``X-Forwarded-Port``,
  ``X-Forwarded-Proto`` and ``X-Amzn-Trace-Id`` are added.
- The body is base64 (``isBase64Encoded: true``) when the request's ``Content-Type`` matches
  one of the API's ``x-amazon-apigateway-binary-media-types``, otherwise text.

Difference: header names arrive lower-cased (the ASGI server in front lowers them), where
API Gateway passes the client's spelling.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from streamway.api.definition import Route

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ClientRequest:
    """What the gateway received, before it knows which route it is for."""

    method: str
    #: The path as sent, percent-encoding kept, stage included, no query.
    raw_path: str
    query_string: str
    #: (name, value) pairs in arrival order, repeats kept.
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """The last value of a header (case-insensitive), as API Gateway's ``headers`` has it."""
        found = None
        for key, value in self.headers:
            if key.lower() == name:
                found = value
        return found


@dataclass(frozen=True)
class StageContext:
    """The deployed API and stage a local request is served by."""

    stage: str
    api_id: str
    account_id: str = "123456789012"
    binary_media_types: tuple[str, ...] = ()
    stage_variables: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RequestIds:
    """API Gateway's ids for one request: ``requestId`` (also ``x-amzn-RequestId``) and the
    ``extendedRequestId`` (``x-amz-apigw-id``)."""

    request_id: str
    extended_request_id: str

    @classmethod
    def new(cls) -> RequestIds:
        extended = base64.b64encode(uuid.uuid4().bytes[:11]).decode("ascii")
        return cls(str(uuid.uuid4()), extended)


def api_id_for(title: str) -> str:
    """A stable 10-character id like API Gateway's (``70ixmpl4fl``), from the API's title."""
    return hashlib.sha1(title.encode()).hexdigest()[:10]


def is_binary(content_type: str | None, binary_media_types: Sequence[str]) -> bool:
    """Whether ``content_type`` matches one of the binary media types (``*`` wildcards)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in binary_media_types)


def build_event(
    request: ClientRequest,
    route: Route,
    path_in_stage: str,
    path_parameters: Mapping[str, str],
    stage: StageContext,
    ids: RequestIds,
    *,
    claims: Mapping[str, Any] | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """The proxy event for ``request`` matched to ``route``; ``path_in_stage`` is the raw
    path after the stage (``/download/a%20b``)."""
    single, multi = _last_and_all(_gateway_headers(request))
    query = parse_qsl(request.query_string, keep_blank_values=True)
    query_single, query_multi = _last_and_all(query)
    body, is_base64 = _body(request, stage.binary_media_types)
    identity = _identity(request, api_key)
    context = _request_context(request, route, path_in_stage, stage, ids, identity)
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": route.resource,
        "path": path_in_stage,
        "httpMethod": request.method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {name: unquote(value) for name, value in path_parameters.items()} or None,
        "stageVariables": dict(stage.stage_variables) if stage.stage_variables else None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _last_and_all(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The last value of each name (``headers``) and all of them (``multiValueHeaders``)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _request_context(
    request: ClientRequest,
    route: Route,
    path_in_stage: str,
    stage: StageContext,
    ids: RequestIds,
    identity: dict[str, Any],
) -> dict[str, Any]:
    """``requestContext``, but for ``authorizer``."""
    host = (request.header("host") or "localhost").rsplit(":", 1)[0]
    return {
        "resourceId": hashlib.sha1(route.resource.encode()).hexdigest()[:6],
        "resourcePath": route.resource,
        "httpMethod": request.method,
        "extendedRequestId": ids.extended_request_id,
        "requestTime": _request_time(request.received_at),
        "path": f"/{stage.stage}{path_in_stage}",
        "accountId": stage.account_id,
        "protocol": request.protocol,
        "stage": stage.stage,
        "domainPrefix": host.split(".", 1)[0],
        "requestTimeEpoch": int(request.received_at * 1000),
        "requestId": ids.request_id,
        "identity": identity,
        "domainName": host,
        "apiId": stage.api_id,
    }


def _identity(request: ClientRequest, api_key: str | None) -> dict[str, Any]:
    """``requestContext.identity``: the caller, and the API key when one was required."""
    identity: dict[str, Any] = {
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "user": None,
        "userAgent": request.header("user-agent"),
        "userArn": None,
    }
    if api_key is not None:
        identity["apiKey"] = api_key
        identity["apiKeyId"] = hashlib.sha1(api_key.encode()).hexdigest()[:10]
    return identity


_ADDED = ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id")


def _gateway_headers(request: ClientRequest) -> list[tuple[str, str]]:
    """The client's headers plus the ones API Gateway adds on its way to the integration."""
    forwarded_for = request.header("x-forwarded-for")
    trace_id = request.header("x-amzn-trace-id") or _trace_id(request.received_at)
    kept = [(name, value) for name, value in request.headers if name.lower() not in _ADDED]
    return [
        *kept,
        (
            "X-Forwarded-For",
            f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip,
        ),
        ("X-Forwarded-Port", str(request.server_port)),
        # The local gateway speaks plain HTTP; API Gateway says https. Saying what the client
        # really used keeps URLs the app builds (from the scheme) working locally.
        ("X-Forwarded-Proto", "http"),
        ("X-Amzn-Trace-Id", trace_id),
    ]


def _body(request: ClientRequest, binary_media_types: Sequence[str]) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if is_binary(request.header("content-type"), binary_media_types):
        return base64.b64encode(request.body).decode("ascii"), True
    # API Gateway hands text payloads over as UTF-8; bytes that are not UTF-8 cannot survive
    # that either way, so they are replaced rather than refused.
    return request.body.decode("utf-8", "replace"), False


def _request_time(epoch_s: float) -> str:
    """``10/Mar/2020:00:03:59 +0000``: the CLF time API Gateway writes, in UTC, locale-free."""
    t = time.gmtime(epoch_s)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _trace_id(epoch_s: float) -> str:
    return f"Root=1-{int(epoch_s):08x}-{uuid.uuid4().hex[:24]}"
