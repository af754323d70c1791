"""A function URL's configuration: its port, invoke mode, auth type and CORS.

As ``CreateFunctionUrlConfig`` takes them (``AuthType``, ``Cors``; ``InvokeMode`` follows
the function: StreamFunction's URL is ``RESPONSE_STREAM``, BufferedFunction's ``BUFFERED``,
as the deploy stack's function URL streams). The definition may carry them as a top-level
``x-streamway-function-url`` object (``{"AuthType": ..., "Cors": {...}}``); the command
line's ``--function-url-auth`` and ``--function-url-cors`` win over it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamway.local.function_url.cors import Cors
from streamway.local.runtime_api import FunctionConfig

#: The OpenAPI extension holding the function URLs' settings.
EXTENSION = "x-streamway-function-url"

AuthType = Literal["NONE", "AWS_IAM"]
AUTH_TYPES: tuple[AuthType, ...] = ("NONE", "AWS_IAM")
UrlInvokeMode = Literal["RESPONSE_STREAM", "BUFFERED"]


@dataclass(frozen=True)
class UrlSettings:
    """What every function URL of one ``streamway local`` shares."""

    auth_type: AuthType = "NONE"
    cors: Cors | None = None

    @classmethod
    def resolve(
        cls,
        document: Mapping[str, Any],
        auth_type: str | None = None,
        cors: str | None = None,
    ) -> UrlSettings:
        """The definition's extension, overridden by the options given (``cors`` as JSON
        text); ValueError when either is malformed."""
        extension = document.get(EXTENSION) or {}
        if not isinstance(extension, Mapping):
            raise ValueError(f"{EXTENSION} must be an object")
        unknown = set(extension) - {"AuthType", "Cors"}
        if unknown:
            raise ValueError(f"{EXTENSION}: unknown keys {sorted(unknown)}")
        auth = auth_type or extension.get("AuthType") or "NONE"
        if auth not in AUTH_TYPES:
            raise ValueError(f"the function URL auth type is NONE or AWS_IAM, not {auth!r}")
        cors_config = _json(cors) if cors is not None else extension.get("Cors")
        return cls(auth, Cors.parse(cors_config) if cors_config is not None else None)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"the function URLs' Cors is not JSON: {error}") from None


@dataclass(frozen=True)
class UrlConfig:
    """One function's URL."""

    function: str
    port: int
    invoke_mode: UrlInvokeMode
    settings: UrlSettings = field(default_factory=UrlSettings)

    @property
    def url_id(self) -> str:
        """A stable 32-character id like the ``<url-id>`` of ``https://<url-id>.lambda-url...``."""
        return hashlib.sha1(self.function.encode()).hexdigest()[:32]

    @property
    def domain_name(self) -> str:
        """The host name the function URL would have on AWS (the event's ``domainName``)."""
        return f"{self.url_id}.lambda-url.{FunctionConfig.region}.on.aws"

    def describe(self, host: str) -> dict[str, Any]:
        """The URL as ``/_local/functions`` and the start-up lines show it."""
        shown = f"[{host}]" if ":" in host else host
        cors = self.settings.cors
        return {
            "url": f"http://{shown}:{self.port}/",
            "invoke_mode": self.invoke_mode,
            "auth_type": self.settings.auth_type,
            "cors": cors.as_config() if cors else None,
        }
