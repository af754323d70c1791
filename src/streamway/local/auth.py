"""API Gateway's auth checks for ``streamway local``: API keys and the Cognito authorizer.

A route carries the security schemes it requires (``Route.security``, set by
``ApiDefinition.with_auth`` on every non-public route). :meth:`GatewayAuth.check` refuses a
request the way API Gateway would, with the same status code and body. The deployed API and
the emulator therefore reject the same requests.

What it answers (docs/local-auth.md has AWS's sources for each):

* API key missing or not one of the usage plan's keys: **403** ``{"message":"Forbidden"}``.
* Cognito user pool authorizer, token missing, invalid or expired: **401**
  ``{"message":"Unauthorized"}`` (API Gateway's UNAUTHORIZED gateway response).
* Without OAuth scopes on the route, ``token_use`` must be ``id``; with scopes it must be
  ``access`` and carry one of them.
* ``Authorization: Bearer <token>`` works as well as the bare token.

The authorizer runs before the API key check, as authorizers run before usage plans, so
when both fail the answer is 401, not 403.

Claims reach the function as REST APIs pass them in ``requestContext.authorizer.claims``:
every value a string, ``exp`` and ``iat`` as dates (``Sun Dec 17 07:28:12 UTC 2017``),
booleans as ``true``/``false``. See :func:`gateway_claims`.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from streamway.api.definition import API_KEY_SCHEME, JWT_SCHEME, ApiDefinition, Route

log = logging.getLogger("streamway.local.auth")

#: Cognito signs with RS256; ES256 is accepted too for locally minted keys. Never HS*/none:
#: a JWKS file holds public keys, and a symmetric "key" from it would be a forgery hole.
ALGORITHMS = ("RS256", "ES256")

API_KEY_HEADER = "x-api-key"
TOKEN_HEADER = "authorization"


class GatewayDenied(Exception):
    """A request API Gateway refuses before it reaches the function."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        #: API Gateway's ``x-amzn-ErrorType`` header for this refusal.
        self.error_type = error_type

    @property
    def body(self) -> bytes:
        """The response body, byte for byte as API Gateway sends it."""
        return json.dumps({"message": self.message}, separators=(",", ":")).encode()

    @classmethod
    def forbidden(cls) -> GatewayDenied:
        return cls(403, "Forbidden", "ForbiddenException")

    @classmethod
    def unauthorized(cls) -> GatewayDenied:
        return cls(401, "Unauthorized", "UnauthorizedException")


class AuthConfigError(ValueError):
    """The options cannot enforce what the definition's routes require."""


class _Refused(Exception):
    """Why a token was refused. Goes to the log; the client sees only 401 Unauthorized."""


@dataclass(frozen=True)
class GatewayAuth:
    """The API keys of the usage plan and the JWKS that stands in for the user pool."""

    api_keys: tuple[str, ...]
    jwks: jwt.PyJWKSet | None
    issuer: str | None = None
    audience: str | None = None
    #: OAuth scopes on the methods; empty means ID tokens only, as API Gateway does.
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_options(
        cls,
        definition: ApiDefinition,
        api_keys: Sequence[str],
        jwks_path: Path | None,
        issuer: str | None = None,
        audience: str | None = None,
        *,
        scopes: Sequence[str] = (),
    ) -> GatewayAuth:
        """Checks the options against what the routes require, then loads the JWKS.

        Raises :class:`AuthConfigError` when a route needs a key or a token and nothing was
        given to check it with. Otherwise such a route would refuse every request.
        """
        if any(not key for key in api_keys):
            raise AuthConfigError("an API key cannot be empty")
        required = {scheme for route in definition.routes for scheme in route.security}
        if API_KEY_SCHEME in required and not api_keys:
            raise AuthConfigError("routes require an API key but no API key was given")
        if JWT_SCHEME in required and jwks_path is None:
            raise AuthConfigError("routes require a JWT but no JWKS file was given")
        # The opposite mismatch does not break anything. It usually means the definition was
        # not built with ``with_auth``, so the option would silently do nothing: say so.
        if api_keys and API_KEY_SCHEME not in required:
            log.warning("API keys were given but no route requires one")
        if jwks_path is not None and JWT_SCHEME not in required:
            log.warning("a JWKS was given but no route requires a JWT")
        jwks = load_jwks(jwks_path) if jwks_path is not None else None
        return cls(tuple(api_keys), jwks, issuer, audience, tuple(scopes))

    def check(self, route: Route, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """Lets the request through or raises :class:`GatewayDenied`.

        ``headers`` has lower-case names. Returns the claims for
        ``requestContext.authorizer.claims`` when the route uses the JWT authorizer, else
        None.
        """
        claims = None
        if JWT_SCHEME in route.security:
            try:
                claims = gateway_claims(self._verify(headers.get(TOKEN_HEADER, "")))
            except _Refused as refused:
                log.warning(
                    "token refused: %s",
                    refused,
                    extra={"route": f"{route.method} {route.resource}", "reason": str(refused)},
                )
                raise GatewayDenied.unauthorized() from None
        if API_KEY_SCHEME in route.security and not self._known_key(
            headers.get(API_KEY_HEADER, "")
        ):
            reason = "no x-api-key header" if not headers.get(API_KEY_HEADER) else "unknown key"
            log.warning(
                "API key refused: %s",
                reason,
                extra={"route": f"{route.method} {route.resource}", "reason": reason},
            )
            raise GatewayDenied.forbidden()
        return claims

    def _known_key(self, presented: str) -> bool:
        # Compare against every key in constant time, so timing does not reveal a near miss.
        found = False
        for key in self.api_keys:
            found |= hmac.compare_digest(presented.encode(), key.encode())
        return found

    def _verify(self, header: str) -> dict[str, Any]:
        if not header.strip():
            raise _Refused("no Authorization header")
        scheme, _, rest = header.strip().partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header.strip()
        if not token:
            raise _Refused("Authorization: Bearer without a token")
        if self.jwks is None:  # from_options refuses this configuration for jwt routes
            raise _Refused("no JWKS configured")
        try:
            header_fields = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise _Refused(f"not a JWT ({error})") from None
        algorithm, kid = header_fields.get("alg"), header_fields.get("kid")
        if algorithm not in ALGORITHMS:
            raise _Refused(f"algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        try:
            key = self.jwks[str(kid)]
        except KeyError:
            raise _Refused(f"key id {kid!r} is not in the JWKS") from None
        if key.algorithm_name != algorithm:
            raise _Refused(f"key {kid!r} is {key.algorithm_name}, the token says {algorithm}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                # Cognito puts the app client in `aud` of ID tokens but in `client_id` of
                # access tokens, so the audience is checked below, by token type.
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _Refused("token expired") from None
        except jwt.InvalidIssuerError:
            raise _Refused(f"issuer is not {self.issuer!r}") from None
        except jwt.PyJWTError as error:
            raise _Refused(str(error)) from None
        self._check_use(claims)
        return claims

    def _check_use(self, claims: Mapping[str, Any]) -> None:
        use = claims.get("token_use")
        if not self.scopes:
            if use != "id":
                raise _Refused(
                    f"token_use is {use!r}: without OAuth scopes API Gateway takes ID tokens"
                )
            client = claims.get("aud")
        else:
            if use != "access":
                raise _Refused(f"token_use is {use!r}: with OAuth scopes it must be access")
            granted = str(claims.get("scope", "")).split()
            if not set(granted) & set(self.scopes):
                raise _Refused(f"none of the scopes {list(self.scopes)} is granted")
            client = claims.get("client_id")
        if self.audience is not None:
            audiences = client if isinstance(client, list) else [client]
            if self.audience not in audiences:
                raise _Refused(f"audience is not {self.audience!r}")


def load_jwks(path: Path) -> jwt.PyJWKSet:
    """A JWKS file (``{"keys": [...]}``, what Cognito serves at ``/.well-known/jwks.json``)."""
    try:
        return jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))
    except (OSError, jwt.PyJWKSetError, jwt.PyJWKError) as error:
        raise AuthConfigError(f"cannot read the JWKS {path}: {error}") from error


_DATE_CLAIMS = ("exp", "iat")


def gateway_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Claims as a REST API's Cognito authorizer hands them to Lambda: all strings.

    A captured event shows ``"email_verified": "true"``, ``"auth_time": "1513492092"`` and
    ``"exp": "Sun Dec 17 07:28:12 UTC 2017"``, i.e. Java's ``Date.toString``. Lists such as
    ``cognito:groups`` are joined with commas (**UNCONFIRMED**: we found no captured event
    with more than one group).
    """
    rendered: dict[str, Any] = {}
    for name, value in claims.items():
        if name in _DATE_CLAIMS and isinstance(value, int | float):
            rendered[name] = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        elif isinstance(value, bool):
            rendered[name] = "true" if value else "false"
        elif isinstance(value, list):
            rendered[name] = ",".join(str(item) for item in value)
        elif isinstance(value, dict):
            rendered[name] = json.dumps(value, separators=(",", ":"))
        else:
            rendered[name] = str(value)
    return rendered
