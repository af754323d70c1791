"""The status and headers API Gateway takes from a function's answer: a streamed response's
prelude, or the ``statusCode``/``headers``/``multiValueHeaders`` of a buffered proxy
response. A ValueError means API Gateway would refuse the answer.

- ``headers`` are single-valued and ``multiValueHeaders`` win over them for the same name;
- ``cookies`` (a prelude's) become ``Set-Cookie``;
- hop-by-hop headers are dropped: the gateway frames the client's body itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade")
)


def parse_prelude(data: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and response headers from a prelude; ValueError if API Gateway would
    refuse it."""
    prelude: Any = json.loads(data) if data.strip() else {}
    if not isinstance(prelude, dict):
        raise ValueError("the prelude is not a JSON object")
    return prelude_response(prelude)


def prelude_response(prelude: Mapping[str, Any]) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and response headers of a prelude already parsed as a JSON object."""
    status = status_code(prelude.get("statusCode", 200))
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} is out of range")
    merged = merge_headers(prelude.get("headers"), prelude.get("multiValueHeaders"))
    cookies = prelude.get("cookies") or []
    if not isinstance(cookies, list):
        raise ValueError("cookies is not a list")
    pairs = [(name, value) for name, values in merged.items() for value in values]
    pairs += [("set-cookie", str(cookie)) for cookie in cookies]
    if any(name == "transfer-encoding" for name, _ in pairs):
        # The function's own framing header is dropped: the server frames the body (and
        # Content-Length must not travel with Transfer-Encoding, RFC 9112 §6.1).
        pairs = [(name, value) for name, value in pairs if name != "content-length"]
    return status, [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in pairs
        if name not in _HOP_BY_HOP
    ]


def status_code(value: Any) -> int:
    """A proxy response's or prelude's ``statusCode`` (a number, or a string of one)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"statusCode {value!r} is not a number")
    return int(value)


def merge_headers(single: Any, multi: Any) -> dict[str, list[str]]:
    """``headers`` and ``multiValueHeaders`` merged with lower-case names; for a name in
    both, the multi-value list wins (as API Gateway merges them)."""
    if single is not None and not isinstance(single, dict):
        raise ValueError("headers is not an object")
    if multi is not None and not isinstance(multi, dict):
        raise ValueError("multiValueHeaders is not an object")
    merged: dict[str, list[str]] = {}
    for name, value in (single or {}).items():
        if value is not None:
            merged[str(name).lower()] = [_header_value(value)]
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
        merged[str(name).lower()] = [_header_value(value) for value in values]
    return merged


def content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The ``Content-Length`` among response headers, None when there is none."""
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _header_value(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(f"header value {value!r} is not a scalar")
    return str(value).lower() if isinstance(value, bool) else str(value)
