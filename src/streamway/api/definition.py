"""The API definition: one OpenAPI document read by both `streamway local` and the deploy stack.

``openapi.yaml`` beside this module is the definition streamway ships; a user may pass their
own. :func:`load_definition` reads it into :class:`ApiDefinition` (the routes with their
transfer mode, timeout and auth), which the local API Gateway matches requests against;
:func:`render_openapi` turns it into the document API Gateway imports (what CDK's
``SpecRestApi`` deploys), with the function ARN filled in and the chosen auth applied.

Auth is an option of the *build*, not edits to the file: ``api_key=True`` or an authorizer
puts ``security`` on every operation not marked ``x-streamway-public`` (the page and
``/ping``), so local emulation and AWS enforce the same thing on the same routes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from streamway.aws_contract import (
    BUFFERED_DEFAULT_TIMEOUT_MS,
    INTEGRATION_MIN_TIMEOUT_MS,
    STREAM_MAX_TIMEOUT_MS,
    TRANSFER_MODES,
    TransferMode,
)

DEFAULT_DEFINITION_PATH = Path(__file__).with_name("openapi.yaml")

INTEGRATION = "x-amazon-apigateway-integration"
PUBLIC = "x-streamway-public"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")

API_KEY_SCHEME = "api_key"
JWT_SCHEME = "jwt"


class DefinitionError(ValueError):
    """The API definition is not something API Gateway would import."""


@dataclass(frozen=True)
class Route:
    """One operation: a method on a resource path, and how API Gateway integrates it."""

    method: str  # upper case, as in the event's httpMethod
    resource: str  # the resource path template, e.g. /download/{proxy+}
    transfer_mode: TransferMode
    timeout_ms: int
    uri: str
    public: bool = False
    #: Security scheme names this route requires once the API is built with auth.
    security: tuple[str, ...] = ()

    @property
    def streams(self) -> bool:
        return self.transfer_mode == "STREAM"

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` is this route's resource, else None."""
        found = _resource_pattern(self.resource).fullmatch(path)
        return None if found is None else found.groupdict()


@dataclass(frozen=True)
class ApiDefinition:
    """The parsed definition: its routes, binary media types and the raw document."""

    routes: tuple[Route, ...]
    binary_media_types: tuple[str, ...]
    document: Mapping[str, Any] = field(repr=False)

    def resources(self) -> set[str]:
        return {route.resource for route in self.routes}

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method path`` as API Gateway picks it: a literal segment beats a
        ``{param}``, which beats a greedy ``{proxy+}``. None when no resource or method fits."""
        candidates = [
            (route, params)
            for route in self.routes
            if route.method == method.upper() and (params := route.match(path)) is not None
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda pair: _specificity(pair[0].resource))

    def with_auth(self, *, api_key: bool = False, authorizer: bool = False) -> ApiDefinition:
        """The same routes requiring an API key and/or a JWT wherever they are not public."""
        schemes = (API_KEY_SCHEME,) * api_key + (JWT_SCHEME,) * authorizer
        routes = tuple(
            route if route.public else _replace_security(route, schemes) for route in self.routes
        )
        return ApiDefinition(routes, self.binary_media_types, self.document)


def _replace_security(route: Route, schemes: tuple[str, ...]) -> Route:
    return Route(
        route.method,
        route.resource,
        route.transfer_mode,
        route.timeout_ms,
        route.uri,
        route.public,
        schemes,
    )


def load_definition(path: Path | None = None) -> ApiDefinition:
    """Reads and checks an OpenAPI 3 definition (streamway's own when ``path`` is None)."""
    return parse_definition(_read_document(path or DEFAULT_DEFINITION_PATH))


@cache
def _read_document(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DefinitionError(f"cannot read the API definition {path}: {error}") from error
    if not isinstance(document, dict):
        raise DefinitionError(f"{path} is not an OpenAPI document")
    return document


def parse_definition(document: Mapping[str, Any]) -> ApiDefinition:
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise DefinitionError("the definition has no paths")
    routes = [
        _route(resource, method, operation)
        for resource, item in paths.items()
        for method, operation in (item or {}).items()
        if method in HTTP_METHODS
    ]
    binary = document.get("x-amazon-apigateway-binary-media-types") or []
    return ApiDefinition(tuple(routes), tuple(str(t) for t in binary), document)


def _route(resource: str, method: str, operation: Mapping[str, Any]) -> Route:
    where = f"{method.upper()} {resource}"
    if not resource.startswith("/"):
        raise DefinitionError(f"{where}: a resource path starts with /")
    _resource_pattern(resource)  # refuses malformed templates early
    integration = operation.get(INTEGRATION)
    if not isinstance(integration, dict):
        raise DefinitionError(f"{where}: no {INTEGRATION}")
    if str(integration.get("type", "")).lower() != "aws_proxy":
        raise DefinitionError(f"{where}: only aws_proxy (Lambda proxy) integrations are supported")
    mode = str(integration.get("responseTransferMode", "BUFFERED")).upper()
    if mode not in TRANSFER_MODES:
        raise DefinitionError(f"{where}: responseTransferMode is STREAM or BUFFERED, not {mode}")
    timeout = int(integration.get("timeoutInMillis", BUFFERED_DEFAULT_TIMEOUT_MS))
    if not INTEGRATION_MIN_TIMEOUT_MS <= timeout <= STREAM_MAX_TIMEOUT_MS:
        raise DefinitionError(
            f"{where}: Timeout should be between 50 ms and 900000 ms, not {timeout}"
        )
    uri = str(integration.get("uri", ""))
    if mode == "STREAM" and "response-streaming-invocations" not in uri:
        raise DefinitionError(f"{where}: a STREAM integration needs the 2021-11-15 streaming URI")
    security = tuple(name for entry in operation.get("security") or [] for name in entry)
    return Route(
        method=method.upper(),
        resource=resource,
        transfer_mode=mode,  # narrowed by the TRANSFER_MODES check above
        timeout_ms=timeout,
        uri=uri,
        public=bool(operation.get(PUBLIC, False)),
        security=security,
    )


_PARAM = re.compile(r"\{([A-Za-z0-9_.-]+)(\+?)\}")


@cache
def _resource_pattern(resource: str) -> re.Pattern[str]:
    """``/download/{proxy+}`` -> a regex with one named group per path parameter."""
    pattern = ""
    segments = resource.strip("/").split("/") if resource != "/" else []
    for index, segment in enumerate(segments):
        found = _PARAM.fullmatch(segment)
        if found is None:
            if "{" in segment or "}" in segment:
                raise DefinitionError(f"{resource}: a path parameter fills a whole segment")
            pattern += "/" + re.escape(segment)
        elif found.group(2):
            if index != len(segments) - 1:
                raise DefinitionError(f"{resource}: a greedy {{proxy+}} must be the last segment")
            pattern += f"/(?P<{_group(found.group(1))}>.+)"
        else:
            pattern += f"/(?P<{_group(found.group(1))}>[^/]+)"
    return re.compile(pattern or "/")


def _group(name: str) -> str:
    # Regex group names cannot hold '-' or '.'; OpenAPI parameter names can.
    return re.sub(r"\W", "_", name)


def _specificity(resource: str) -> tuple[int, ...]:
    # Per segment: 2 literal, 1 {param}, 0 {proxy+}; compared left to right like API Gateway.
    return tuple(
        0 if segment.endswith("+}") else 1 if segment.startswith("{") else 2
        for segment in resource.strip("/").split("/")
    )


def render_openapi(
    definition: ApiDefinition,
    *,
    function_arn: str,
    region: str,
    stream_function_arn: str | None = None,
    api_key: bool = False,
    authorizer_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The document API Gateway imports: ARNs filled in, auth applied, streamway's own
    extensions removed, and security schemes nobody uses dropped (an unused Cognito scheme
    with no provider ARNs would fail the import).

    ``${FunctionArn}`` becomes ``stream_function_arn`` in STREAM integrations and
    ``function_arn`` in BUFFERED ones. A function cannot tell which kind of integration
    invoked it (the event is the same), so a deployment with both modes runs two functions,
    one per invoke mode; one function serves both when ``stream_function_arn`` is None.
    """
    document = copy.deepcopy(dict(definition.document))
    schemes = (API_KEY_SCHEME,) * api_key + (JWT_SCHEME,) * bool(authorizer_arns)
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            integration = operation[INTEGRATION]
            streams = str(integration.get("responseTransferMode", "BUFFERED")).upper() == "STREAM"
            arn = stream_function_arn if streams and stream_function_arn else function_arn
            integration["uri"] = (
                str(integration["uri"]).replace("${FunctionArn}", arn).replace("${Region}", region)
            )
            if schemes and not operation.get(PUBLIC, False):
                operation["security"] = [{name: []} for name in schemes]
            operation.pop(PUBLIC, None)
    security_schemes = document.get("components", {}).get("securitySchemes", {})
    for name in list(security_schemes):
        if name not in schemes:
            del security_schemes[name]
    if JWT_SCHEME in security_schemes:
        authorizer = security_schemes[JWT_SCHEME]["x-amazon-apigateway-authorizer"]
        authorizer["providerARNs"] = list(authorizer_arns)
    return document
