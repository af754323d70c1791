"""API keys and the Cognito authorizer, checked with real keys, a real JWKS file and tokens
signed in the test: nothing about the verification is stubbed."""

from __future__ import annotations

import json
import logging
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from streamway.api.definition import ApiDefinition, Route, load_definition
from streamway.local.auth import (
    AuthConfigError,
    GatewayAuth,
    GatewayDenied,
    gateway_claims,
    load_jwks,
)
from streamway.local.dev_keys import dev_keys

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST"
CLIENT = "app-client-1"
KID = "rsa-key-1"
API_KEY = "k3y-for-tests-0123456789"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks_path(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> Path:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update({"kid": "ec-key-1", "alg": "ES256", "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_jwk, ec_jwk]}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def definition() -> ApiDefinition:
    return load_definition().with_auth(api_key=True, authorizer=True)


def route(definition: ApiDefinition, method: str, path: str) -> Route:
    found = definition.find(method, path)
    assert found is not None
    return found[0]


def id_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "aud": CLIENT,
        "email_verified": True,
        "token_use": "id",
        "auth_time": now,
        "iss": ISSUER,
        "cognito:username": "janedoe",
        "exp": now + 3600,
        "iat": now,
    }
    claims.update(overrides)
    return claims


def sign(key: Any, claims: Mapping[str, Any], *, kid: str = KID, alg: str = "RS256") -> str:
    return jwt.encode(dict(claims), key, algorithm=alg, headers={"kid": kid})


def make_auth(definition: ApiDefinition, jwks_path: Path, **options: Any) -> GatewayAuth:
    return GatewayAuth.from_options(definition, [API_KEY, "second-key"], jwks_path, **options)


def denied(auth: GatewayAuth, target: Route, headers: Mapping[str, str]) -> GatewayDenied:
    with pytest.raises(GatewayDenied) as caught:
        auth.check(target, headers)
    return caught.value


# --- API keys --------------------------------------------------------------------------


@pytest.fixture
def key_only(tmp_path: Path) -> tuple[GatewayAuth, Route]:
    definition = load_definition().with_auth(api_key=True)
    auth = GatewayAuth.from_options(definition, [API_KEY, "second-key"], None)
    return auth, route(definition, "POST", "/streaming")


def test_a_missing_api_key_is_403_forbidden(key_only: tuple[GatewayAuth, Route]) -> None:
    auth, streaming = key_only
    refusal = denied(auth, streaming, {})
    assert (refusal.status, refusal.message) == (403, "Forbidden")
    assert refusal.body == b'{"message":"Forbidden"}'
    assert refusal.error_type == "ForbiddenException"


def test_a_wrong_api_key_is_403_forbidden(key_only: tuple[GatewayAuth, Route]) -> None:
    auth, streaming = key_only
    assert denied(auth, streaming, {"x-api-key": API_KEY + "x"}).status == 403
    assert denied(auth, streaming, {"x-api-key": ""}).status == 403


def test_any_key_of_the_usage_plan_passes(key_only: tuple[GatewayAuth, Route]) -> None:
    auth, streaming = key_only
    assert auth.check(streaming, {"x-api-key": API_KEY}) is None
    assert auth.check(streaming, {"x-api-key": "second-key"}) is None


def test_a_refused_key_is_logged_without_the_key(
    key_only: tuple[GatewayAuth, Route], caplog: pytest.LogCaptureFixture
) -> None:
    auth, streaming = key_only
    with caplog.at_level(logging.WARNING, logger="streamway.local.auth"):
        denied(auth, streaming, {"x-api-key": "guessed-key-123"})
    assert "unknown key" in caplog.text
    assert "guessed-key-123" not in caplog.text


def test_public_routes_need_neither_key_nor_token(
    definition: ApiDefinition, jwks_path: Path
) -> None:
    auth = make_auth(definition, jwks_path)
    for method, path in (("GET", "/"), ("GET", "/ping")):
        assert auth.check(route(definition, method, path), {}) is None


def test_routes_without_security_are_untouched(
    jwks_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    definition = load_definition()  # built without auth: no route has security
    with caplog.at_level(logging.WARNING, logger="streamway.local.auth"):
        auth = GatewayAuth.from_options(definition, [API_KEY], jwks_path)
    assert auth.check(route(definition, "POST", "/streaming"), {}) is None
    # Options that protect nothing are worth a warning: with_auth was probably forgotten.
    assert "no route requires one" in caplog.text
    assert "no route requires a JWT" in caplog.text
    assert API_KEY not in caplog.text


# --- the Cognito authorizer --------------------------------------------------------------


@pytest.fixture
def jwt_only(jwks_path: Path) -> tuple[GatewayAuth, Route]:
    definition = load_definition().with_auth(authorizer=True)
    auth = GatewayAuth.from_options(definition, [], jwks_path, issuer=ISSUER, audience=CLIENT)
    return auth, route(definition, "GET", "/download/a/b.bin")


def test_a_valid_id_token_passes_and_yields_the_claims_as_api_gateway_renders_them(
    jwt_only: tuple[GatewayAuth, Route], rsa_key: rsa.RSAPrivateKey
) -> None:
    auth, download = jwt_only
    live = id_claims()
    got = auth.check(download, {"authorization": sign(rsa_key, live)})
    assert got == gateway_claims(live)
    assert got["cognito:username"] == "janedoe"
    assert got["email_verified"] == "true"
    assert got["auth_time"] == str(live["auth_time"])
    # The dates of the captured event in the module docstring, rendered the same way.
    fixed = gateway_claims(id_claims(exp=1513495692, iat=1513492092))
    assert (fixed["exp"], fixed["iat"]) == (
        "Sun Dec 17 07:28:12 UTC 2017",
        "Sun Dec 17 06:28:12 UTC 2017",
    )


def test_the_bearer_prefix_is_tolerated(
    jwt_only: tuple[GatewayAuth, Route], rsa_key: rsa.RSAPrivateKey
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims())
    assert auth.check(download, {"authorization": f"Bearer {token}"}) is not None
    assert auth.check(download, {"authorization": f"bearer  {token}"}) is not None


def test_an_es256_key_from_the_jwks_verifies(
    jwt_only: tuple[GatewayAuth, Route], ec_key: ec.EllipticCurvePrivateKey
) -> None:
    auth, download = jwt_only
    token = sign(ec_key, id_claims(), kid="ec-key-1", alg="ES256")
    assert auth.check(download, {"authorization": token}) is not None


def refused(
    auth: GatewayAuth,
    target: Route,
    headers: Mapping[str, str],
    caplog: pytest.LogCaptureFixture,
) -> str:
    """Asserts API Gateway's 401 and returns the reason logged for it."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamway.local.auth"):
        refusal = denied(auth, target, headers)
    assert (refusal.status, refusal.body) == (401, b'{"message":"Unauthorized"}')
    assert refusal.error_type == "UnauthorizedException"
    token = headers.get("authorization", "").removeprefix("Bearer ")
    if len(token) > 16:  # a real token (not "" or "Bearer ") is never logged, nor a part
        assert token not in caplog.text
        signature = token.rsplit(".", 1)[-1]
        assert not signature or signature not in caplog.text
    return caplog.text


def test_a_missing_token_is_401(
    jwt_only: tuple[GatewayAuth, Route], caplog: pytest.LogCaptureFixture
) -> None:
    auth, download = jwt_only
    assert "no Authorization header" in refused(auth, download, {}, caplog)
    assert "without a token" in refused(auth, download, {"authorization": "Bearer "}, caplog)


def test_garbage_is_401(
    jwt_only: tuple[GatewayAuth, Route], caplog: pytest.LogCaptureFixture
) -> None:
    auth, download = jwt_only
    assert "not a JWT" in refused(auth, download, {"authorization": "not-a-jwt"}, caplog)


def test_an_unknown_kid_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims(), kid="rotated-away")
    assert "'rotated-away' is not in the JWKS" in refused(
        auth, download, {"authorization": token}, caplog
    )


def test_a_token_signed_by_another_key_under_a_known_kid_is_401(
    jwt_only: tuple[GatewayAuth, Route], caplog: pytest.LogCaptureFixture
) -> None:
    auth, download = jwt_only
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = sign(forger, id_claims())
    assert "Signature verification failed" in refused(
        auth, download, {"authorization": token}, caplog
    )


def test_symmetric_and_unsigned_tokens_are_401(
    jwt_only: tuple[GatewayAuth, Route], caplog: pytest.LogCaptureFixture
) -> None:
    auth, download = jwt_only
    hs256 = jwt.encode(
        id_claims(),
        "a-shared-secret-long-enough-for-hs256",
        algorithm="HS256",
        headers={"kid": KID},
    )
    assert "'HS256' is not one of" in refused(auth, download, {"authorization": hs256}, caplog)
    unsigned = jwt.encode(id_claims(), None, algorithm="none", headers={"kid": KID})
    assert "'none' is not one of" in refused(auth, download, {"authorization": unsigned}, caplog)


def test_an_algorithm_that_does_not_fit_the_key_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    ec_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(ec_key, id_claims(), kid=KID, alg="ES256")  # the RSA key's id
    assert "is RS256, the token says ES256" in refused(
        auth, download, {"authorization": token}, caplog
    )


def test_an_expired_token_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims(exp=int(time.time()) - 10))
    assert "token expired" in refused(auth, download, {"authorization": token}, caplog)


def test_a_token_without_exp_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    claims = id_claims()
    del claims["exp"]
    assert '"exp"' in refused(auth, download, {"authorization": sign(rsa_key, claims)}, caplog)


def test_a_token_not_yet_valid_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims(nbf=int(time.time()) + 600))
    assert "not yet valid" in refused(auth, download, {"authorization": token}, caplog)


def test_a_token_from_another_issuer_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims(iss=ISSUER + "-other"))
    assert f"issuer is not '{ISSUER}'" in refused(auth, download, {"authorization": token}, caplog)


def test_a_token_for_another_app_client_is_401(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    token = sign(rsa_key, id_claims(aud="another-client"))
    assert f"audience is not '{CLIENT}'" in refused(
        auth, download, {"authorization": token}, caplog
    )


def test_issuer_and_audience_are_only_checked_when_configured(
    jwks_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    definition = load_definition().with_auth(authorizer=True)
    auth = GatewayAuth.from_options(definition, [], jwks_path)
    token = sign(rsa_key, id_claims(iss="https://elsewhere", aud="anyone"))
    assert auth.check(route(definition, "POST", "/streaming"), {"authorization": token})


def test_without_scopes_an_access_token_is_401_as_on_api_gateway(
    jwt_only: tuple[GatewayAuth, Route],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, download = jwt_only
    access = id_claims(token_use="access", client_id=CLIENT, scope="openid")
    del access["aud"]
    assert "takes ID tokens" in refused(
        auth, download, {"authorization": sign(rsa_key, access)}, caplog
    )


def test_with_scopes_an_access_token_carrying_one_passes(
    jwks_path: Path, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    definition = load_definition().with_auth(authorizer=True)
    auth = GatewayAuth.from_options(
        definition, [], jwks_path, audience=CLIENT, scopes=["streamway/api"]
    )
    streaming = route(definition, "POST", "/streaming")
    access = id_claims(token_use="access", client_id=CLIENT, scope="openid streamway/api")
    del access["aud"]
    claims = auth.check(streaming, {"authorization": sign(rsa_key, access)})
    assert claims is not None
    assert claims["scope"] == "openid streamway/api"
    narrow = {**access, "scope": "openid"}
    assert "none of the scopes" in refused(
        auth, streaming, {"authorization": sign(rsa_key, narrow)}, caplog
    )
    other_client = {**access, "client_id": "another-client"}
    assert "audience" in refused(
        auth, streaming, {"authorization": sign(rsa_key, other_client)}, caplog
    )
    assert "must be access" in refused(
        auth, streaming, {"authorization": sign(rsa_key, id_claims())}, caplog
    )


# --- both together -----------------------------------------------------------------------


def test_the_authorizer_answers_before_the_api_key(
    definition: ApiDefinition, jwks_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = make_auth(definition, jwks_path)
    streaming = route(definition, "POST", "/streaming")
    assert denied(auth, streaming, {}).status == 401
    token = sign(rsa_key, id_claims())
    assert denied(auth, streaming, {"authorization": token}).status == 403
    assert denied(auth, streaming, {"x-api-key": API_KEY}).status == 401
    claims = auth.check(streaming, {"authorization": token, "x-api-key": API_KEY})
    assert claims is not None
    assert claims["sub"] == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


# --- configuration -----------------------------------------------------------------------


def test_routes_requiring_a_key_need_keys(jwks_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="API key"):
        GatewayAuth.from_options(load_definition().with_auth(api_key=True), [], None)
    with pytest.raises(AuthConfigError, match="empty"):
        GatewayAuth.from_options(load_definition().with_auth(api_key=True), [""], None)


def test_routes_requiring_a_token_need_a_jwks() -> None:
    with pytest.raises(AuthConfigError, match="JWKS"):
        GatewayAuth.from_options(load_definition().with_auth(authorizer=True), [], None)


def test_an_unreadable_jwks_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_jwks(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": []}', encoding="utf-8")
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_jwks(broken)


def test_gateway_claims_are_strings_like_a_rest_event() -> None:
    rendered = gateway_claims(
        {
            "email_verified": False,
            "cognito:groups": ["admin", "users"],
            "custom:n": 7,
            "address": {"country": "JP"},
            "exp": 0,
        }
    )
    assert rendered == {
        "email_verified": "false",
        "cognito:groups": "admin,users",
        "custom:n": "7",
        "address": '{"country":"JP"}',
        "exp": "Thu Jan 01 00:00:00 UTC 1970",
    }


# --- the dev key helper ------------------------------------------------------------------


def test_dev_keys_mint_tokens_the_authorizer_accepts(tmp_path: Path) -> None:
    keys = dev_keys(tmp_path / "dev")
    assert stat.S_IMODE(keys.key_path.stat().st_mode) == 0o600
    definition = load_definition().with_auth(authorizer=True)
    auth = GatewayAuth.from_options(
        definition, [], keys.jwks_path, issuer=keys.issuer, audience=keys.client_id
    )
    streaming = route(definition, "POST", "/streaming")
    claims = auth.check(streaming, {"authorization": f"Bearer {keys.token}"})
    assert claims is not None
    assert claims["cognito:username"] == "developer"
    expired = keys.mint(now=lambda: time.time() - 7200)
    with pytest.raises(GatewayDenied):
        auth.check(streaming, {"authorization": expired})
    custom = auth.check(streaming, {"authorization": keys.mint(claims={"cognito:username": "al"})})
    assert custom is not None
    assert custom["cognito:username"] == "al"
