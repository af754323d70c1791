"""What every event source handler does: claim an event, build an ASGI scope, shape a response.

One class per event source, each with a classmethod ``infer(event)`` that says whether the
event is its own (Mangum's pattern); the bridge asks them in order and the first claim wins.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from streamway.aws_lambda.context import LambdaContext

#: (name, value) pairs as ASGI sends them.
RawHeaders = Iterable[tuple[bytes, bytes]]

ASGI = {"version": "3.0", "spec_version": "2.3"}

_TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "image/svg+xml")


class EventSource(ABC):
    """An HTTP event source: API Gateway REST (1.0), HTTP API or function URL (2.0)."""

    #: Whether responses may stream; False for sources whose answer is a plain payload.
    streams = True
    #: Whether a streamed response starts with the HTTP prelude (status, headers, cookies);
    #: False for a direct invocation, whose result is the body's bytes alone.
    preludes = True

    def __init__(self, event: Mapping[str, Any], context: LambdaContext) -> None:
        self.event = event
        self.context = context

    @property
    def invocation_event(self) -> Any:
        """The event as Lambda sent it (what a plain handler receives)."""
        return self.event

    @classmethod
    @abstractmethod
    def infer(cls, event: Any) -> bool:
        """True if ``event`` comes from this source."""

    @abstractmethod
    def scope(self) -> dict[str, Any]:
        """The ASGI HTTP scope for the request in the event."""

    def body(self) -> bytes:
        body = self.event.get("body") or ""
        if self.event.get("isBase64Encoded"):
            return base64.b64decode(body)
        return body.encode() if isinstance(body, str) else bytes(body)

    @abstractmethod
    def prelude(self, status: int, headers: RawHeaders) -> dict[str, Any]:
        """The JSON prelude of a streamed HTTP integration response."""

    @abstractmethod
    def buffered(self, status: int, headers: RawHeaders, body: bytes) -> bytes:
        """The whole response as this source's buffered proxy-response JSON."""

    def http_scope(
        self,
        *,
        method: str,
        http_version: str,
        path: str,
        root_path: str,
        query_string: bytes,
        headers: list[tuple[bytes, bytes]],
        source_ip: str | None,
    ) -> dict[str, Any]:
        """The ASGI HTTP scope from what each source reads its own way."""
        lowered = {name.decode(): value.decode("latin-1") for name, value in headers}
        domain_name = (self.event.get("requestContext") or {}).get("domainName")
        return {
            "type": "http",
            "asgi": ASGI,
            "http_version": http_version,
            "method": method,
            "scheme": lowered.get("x-forwarded-proto", "https"),
            "path": path,
            "raw_path": None,
            "root_path": root_path,
            "query_string": query_string,
            "headers": headers,
            "client": (source_ip, 0) if source_ip else None,
            "server": server_of(lowered, domain_name),
            **self.aws_scope(),
        }

    def aws_scope(self) -> dict[str, Any]:
        """Scope keys for apps that need the raw event and context (Mangum's names)."""
        return {"aws.event": self.event, "aws.context": self.context}


def split_headers(
    headers: RawHeaders,
) -> tuple[dict[str, str], dict[str, list[str]], list[str]]:
    """Response headers as (single-valued, repeated, Set-Cookie values).

    API Gateway takes only single values in ``headers``; a repeated header goes to
    ``multiValueHeaders`` whole, and cookies have their own ``cookies`` list.
    """
    values: dict[str, list[str]] = {}
    cookies: list[str] = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(value)
        else:
            values.setdefault(name, []).append(value)
    single = {name: vals[0] for name, vals in values.items() if len(vals) == 1}
    multi = {name: vals for name, vals in values.items() if len(vals) > 1}
    return single, multi, cookies


def encode_body(body: bytes, headers: Mapping[str, str]) -> tuple[str, bool]:
    """The body as proxy-response text, base64 unless it is text that decodes as UTF-8."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    textual = content_type.startswith("text/") or content_type.endswith(("+json", "+xml"))
    if (textual or content_type in _TEXT_TYPES) and "content-encoding" not in headers:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def header_pairs(headers: Mapping[str, Iterable[str] | str | None]) -> list[tuple[bytes, bytes]]:
    """Request headers as ASGI pairs: lower-case names, latin-1 bytes, repeats kept."""
    pairs = []
    for name, values in headers.items():
        if values is None:
            continue
        for value in [values] if isinstance(values, str) else values:
            pairs.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return pairs


def server_of(headers: Mapping[str, str], domain_name: str | None) -> tuple[str, int]:
    host = (headers.get("host") or domain_name or "localhost").split(":")[0]
    port = int(headers.get("x-forwarded-port", "443"))
    return host, port
