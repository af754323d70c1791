"""API keys, the JWT authorizer and bandwidth throttling through a real ``streamway local``.

The key pair, the JWKS file and the tokens are made here with cryptography and pyjwt, as a
Cognito user pool would make them; the gateway only ever sees the public JWKS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.local.test_gateway import TEST_API
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

KEY = "local-test-key-1"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test"
CLIENT = "test-client"
KID = "test-kid"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "cognito:username": "alice",
        "email_verified": True,
        "token_use": "id",
        "aud": CLIENT,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="module")
def secured(
    signing_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningLocal]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    jwks = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    args = (
        *TEST_API,
        "--api-key",
        KEY,
        "--jwks",
        str(jwks),
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        CLIENT,
    )
    with streamway_local(args=args) as running:
        yield running


def call(server: RunningLocal, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.url}/stream/event", headers=headers, timeout=30)


def test_a_missing_or_wrong_api_key_is_403(
    secured: RunningLocal, signing_key: rsa.RSAPrivateKey
) -> None:
    bearer = f"Bearer {token(signing_key)}"
    for headers in ({"authorization": bearer}, {"authorization": bearer, "x-api-key": "nope"}):
        response = call(secured, headers)
        assert response.status_code == 403
        assert response.content == b'{"message":"Forbidden"}'


def test_a_missing_expired_or_foreign_token_is_401(
    secured: RunningLocal, signing_key: rsa.RSAPrivateKey
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for authorization in (
        None,
        f"Bearer {token(signing_key, exp=int(time.time()) - 60)}",
        f"Bearer {token(signing_key, iss='https://elsewhere')}",
        f"Bearer {token(other_key)}",
        "Bearer not-a-jwt",
    ):
        headers = {"x-api-key": KEY}
        if authorization:
            headers["authorization"] = authorization
        response = call(secured, headers)
        assert response.status_code == 401, authorization
        assert response.content == b'{"message":"Unauthorized"}'


def test_a_valid_key_and_token_reach_the_function_with_claims(
    secured: RunningLocal, signing_key: rsa.RSAPrivateKey
) -> None:
    response = call(secured, {"x-api-key": KEY, "authorization": token(signing_key)})
    assert response.status_code == 200
    context = response.json()["event"]["requestContext"]
    claims = context["authorizer"]["claims"]
    # As a REST API's Cognito authorizer passes them: every value a string.
    assert claims["sub"] == "user-1"
    assert claims["cognito:username"] == "alice"
    assert claims["email_verified"] == "true"
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime()))
    assert context["identity"]["apiKey"] == KEY


def test_auth_options_that_cannot_work_stop_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "streamway", "local", "--jwks", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot read the JWKS" in result.stderr


# --- throttling -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def throttled() -> Iterator[RunningLocal]:
    with streamway_local(args=(*TEST_API, "--throttle")) as running:
        httpx.get(f"{running.url}/stream/pid", timeout=30)  # cold start out of the way
        yield running


def test_throttle_lets_6_mib_through_then_2_mib_per_second(throttled: RunningLocal) -> None:
    # 9 MiB: 6 MiB free, then 3 MiB at 2 MiB/s, so no less than 1.5 s. A lower bound only:
    # the throttle guarantees it however fast or slow the machine is.
    started = time.monotonic()
    response = httpx.get(f"{throttled.url}/stream/large?mib=9", timeout=60)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert len(response.content) == 9 * 1024 * 1024
    assert elapsed >= 1.45, f"9 MiB took {elapsed:.2f} s: not throttled"


# --- metering -------------------------------------------------------------------------------


def test_metering_counts_requests_bytes_and_billing_and_logs_on_exit() -> None:
    with streamway_local(args=TEST_API) as running:
        assert httpx.get(f"{running.url}/buffered/pid", timeout=30).status_code == 200
        streamed = httpx.get(f"{running.url}/stream/large?mib=25", timeout=60)
        assert len(streamed.content) == 25 * 1024 * 1024
        assert httpx.get(f"{running.url}/nope", timeout=30).status_code == 403
        summary = httpx.get(f"{running.root}/_local/metering", timeout=10).json()
        access = running.wait_for_log(lambda e: e.get("responseTransferMode") == "STREAMED")
    exit_line = running.wait_for_log(lambda e: e.get("message", "").startswith("metering"))

    assert summary["requests"] == 3
    # 1 buffered + 3 for 25 MiB streamed (one per 10 MB started) + 1 refused.
    assert summary["requests_billed"] == 5
    assert summary["invocations"] == 2
    assert summary["cold_starts"] == 2
    assert summary["bytes_streamed"] == 25 * 1024 * 1024
    assert summary["lambda_gb_seconds"] > 0
    assert summary["estimated_cost_usd"]["total"] > 0
    # API Gateway's fields as its access log writes them: strings.
    assert access["status"] == "200"
    assert access["resourcePath"] == "/stream/{proxy+}"
    assert access["streamway.path"] == "/dev/stream/large"
    assert access["responseLength"] == str(25 * 1024 * 1024)
    assert int(access["timeToAllHeaders"]) <= int(access["integrationLatency"])
    assert access["streamway.coldStart"] is True
    assert access["requestTime"].endswith(" +0000")
    assert exit_line["requests_billed"] == 5
