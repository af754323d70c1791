"""A function URL's CORS configuration, applied as Lambda applies it.

With ``Cors`` set on the URL, Lambda answers a preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) itself, without invoking the function, and puts the CORS
headers on every response to a request with an allowed ``Origin``, replacing whatever
``Access-Control-*`` headers the function sent. Without ``Cors`` nothing is added and an
``OPTIONS`` request reaches the function like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Headers = list[tuple[bytes, bytes]]

_LISTS = ("AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders")
_KEYS = (*_LISTS, "MaxAge", "AllowCredentials")


@dataclass(frozen=True)
class Cors:
    """The ``Cors`` object of ``CreateFunctionUrlConfig``."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def parse(cls, config: Any) -> Cors:
        """From the AWS spelling (``{"AllowOrigins": ["*"], "MaxAge": 300, ...}``);
        ValueError when it is not that."""
        if not isinstance(config, Mapping):
            raise ValueError("the function URL's Cors must be an object")
        unknown = set(config) - set(_KEYS)
        if unknown:
            raise ValueError(f"Cors: unknown keys {sorted(unknown)} (known: {', '.join(_KEYS)})")
        lists = {}
        for key in _LISTS:
            values = config.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"Cors.{key} must be a list of strings")
            lists[key] = tuple(values)
        max_age = config.get("MaxAge")
        if max_age is not None and (not isinstance(max_age, int) or not 0 <= max_age <= 86400):
            raise ValueError("Cors.MaxAge must be a number of seconds from 0 to 86400")
        return cls(
            lists["AllowOrigins"],
            tuple(method.upper() for method in lists["AllowMethods"]),
            lists["AllowHeaders"],
            lists["ExposeHeaders"],
            max_age,
            bool(config.get("AllowCredentials", False)),
        )

    def as_config(self) -> dict[str, Any]:
        return {
            "AllowOrigins": list(self.allow_origins),
            "AllowMethods": list(self.allow_methods),
            "AllowHeaders": list(self.allow_headers),
            "ExposeHeaders": list(self.expose_headers),
            "MaxAge": self.max_age,
            "AllowCredentials": self.allow_credentials,
        }

    def allowed_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` for a request from ``origin``; None when the
        origin is not allowed (no CORS headers then)."""
        if origin is None:
            return None
        if "*" in self.allow_origins:
            # A credentialed request may not be answered with the wildcard (Fetch standard).
            return origin if self.allow_credentials else "*"
        lowered = origin.lower()
        return origin if any(lowered == o.lower() for o in self.allow_origins) else None

    def is_preflight(self, method: str, headers: Mapping[str, str]) -> bool:
        return (
            method == "OPTIONS"
            and "origin" in headers
            and "access-control-request-method" in headers
        )

    def preflight_headers(self, origin: str | None) -> Headers:
        """The headers of Lambda's own answer to a preflight."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return []
        headers = self._common(allowed)
        if self.allow_methods:
            headers.append((b"access-control-allow-methods", _joined(self.allow_methods)))
        if self.allow_headers:
            headers.append((b"access-control-allow-headers", _joined(self.allow_headers)))
        if self.max_age is not None:
            headers.append((b"access-control-max-age", str(self.max_age).encode()))
        return headers

    def response_headers(
        self, origin: str | None, headers: Sequence[tuple[bytes, bytes]]
    ) -> Headers:
        """A response's headers with the function's own CORS headers replaced by the URL's."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return list(headers)
        kept = [(n, v) for n, v in headers if not n.lower().startswith(b"access-control-")]
        return [*kept, *self._common(allowed)]

    def _common(self, allowed: str) -> Headers:
        headers = [(b"access-control-allow-origin", allowed.encode("latin-1"))]
        if allowed != "*":
            headers.append((b"vary", b"Origin"))
        if self.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if self.expose_headers:
            headers.append((b"access-control-expose-headers", _joined(self.expose_headers)))
        return headers


def _joined(values: Sequence[str]) -> bytes:
    return ",".join(values).encode("latin-1")
