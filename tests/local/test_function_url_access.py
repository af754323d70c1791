"""A function URL's CORS configuration and its ``AWS_IAM`` auth type.

The URL is configured from the command line (``--function-url-cors``, ``--function-url-auth
AWS_IAM``); well-formed signatures come from botocore's own SigV4 signer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from streamway.local.function_url.config import UrlSettings
from streamway.local.function_url.cors import Cors
from tests.local.test_function_url import function_url
from tests.servers import REPO_ROOT, RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

ORIGIN = "https://app.example"
CORS = {
    "AllowOrigins": [ORIGIN],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["content-type", "x-custom"],
    "ExposeHeaders": ["x-amzn-requestid"],
    "MaxAge": 600,
    "AllowCredentials": True,
}
ACCESS_KEY = "AKIDEXAMPLE12345"


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    args = (
        "--app",
        "tests.local.apps:app",
        "--function-url-auth",
        "AWS_IAM",
        "--function-url-cors",
        json.dumps(CORS),
    )
    with streamway_local(args=args) as running:
        yield running


def signed_headers(url: str, method: str = "GET") -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=b"")
    SigV4Auth(Credentials(ACCESS_KEY, "secret"), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def invocations(running: RunningLocal) -> int:
    return int(running.functions()["StreamFunction"]["invocations"])


def test_the_configuration_is_listed(local: RunningLocal) -> None:
    listed = local.functions()["StreamFunction"]["function_url"]
    assert listed["auth_type"] == "AWS_IAM"
    assert listed["cors"] == CORS


def test_a_preflight_is_answered_by_the_url_itself(local: RunningLocal) -> None:
    before = invocations(local)
    response = httpx.options(
        f"{function_url(local)}/x/event",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert response.status_code == 200  # no signature needed: browsers send none
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET,POST"
    assert response.headers["access-control-allow-headers"] == "content-type,x-custom"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert invocations(local) == before  # the function never saw it


def test_a_preflight_from_another_origin_gets_no_cors_headers(local: RunningLocal) -> None:
    response = httpx.options(
        f"{function_url(local)}/x/event",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert "access-control-allow-origin" not in response.headers


def test_a_signed_request_passes_with_cors_headers_and_the_iam_authorizer(
    local: RunningLocal,
) -> None:
    url = f"{function_url(local)}/x/event"
    headers = {**signed_headers(url), "Origin": ORIGIN}
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == "x-amzn-requestid"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    context = response.json()["event"]["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["authorizer"]["iam"]["accessKey"] == ACCESS_KEY


def _malformed(headers: dict[str, str]) -> list[dict[str, str]]:
    authorization = headers["Authorization"]
    return [
        {},  # not signed at all
        {"Authorization": authorization},  # no X-Amz-Date
        {"X-Amz-Date": headers["X-Amz-Date"]},  # no Authorization
        {**headers, "Authorization": authorization.replace("AWS4-HMAC-SHA256", "AWS4-HMAC")},
        {**headers, "Authorization": authorization[:-8]},  # a short signature
        {
            **headers,
            "Authorization": authorization.replace("SignedHeaders=host;", "SignedHeaders="),
        },
        {**headers, "X-Amz-Date": "yesterday"},
    ]


@pytest.mark.parametrize("case", range(7))
def test_a_missing_or_malformed_signature_is_403(local: RunningLocal, case: int) -> None:
    url = f"{function_url(local)}/x/event"
    headers = _malformed(signed_headers(url))[case]
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 403
    assert response.json() == {"Message": "Forbidden"}
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"


# --- the configuration itself ----------------------------------------------------------------


def test_the_definition_configures_the_urls_and_options_win() -> None:
    document: dict[str, Any] = {
        "x-streamway-function-url": {"AuthType": "AWS_IAM", "Cors": {"AllowOrigins": ["*"]}}
    }
    settings = UrlSettings.resolve(document)
    assert settings.auth_type == "AWS_IAM"
    assert settings.cors == Cors(allow_origins=("*",))
    overridden = UrlSettings.resolve(document, "NONE", '{"AllowOrigins": ["https://a.example"]}')
    assert overridden.auth_type == "NONE"
    assert overridden.cors == Cors(allow_origins=("https://a.example",))
    assert UrlSettings.resolve({}) == UrlSettings("NONE", None)


def test_the_wildcard_origin_is_echoed_only_with_credentials() -> None:
    assert Cors(allow_origins=("*",)).allowed_origin("https://a.example") == "*"
    credentialed = Cors(allow_origins=("*",), allow_credentials=True)
    assert credentialed.allowed_origin("https://a.example") == "https://a.example"
    assert Cors(allow_origins=("https://a.example",)).allowed_origin("https://b.example") is None


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--function-url-cors", '{"AllowOrigin": ["*"]}'), b"unknown keys ['AllowOrigin']"),
        (("--function-url-cors", "not json"), b"Cors is not JSON"),
        (("--function-url-cors", '{"MaxAge": -1}'), b"Cors.MaxAge"),
        (("--function-url-auth", "SIGV4"), b"NONE or AWS_IAM, not 'SIGV4'"),
    ],
)
def test_a_bad_configuration_is_refused_at_start(option: tuple[str, str], message: bytes) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamway",
            "local",
            "--handler",
            "tests.aws_lambda.handlers.generator",
            *option,
        ],
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert b"streamway local: " in result.stderr
    assert message in result.stderr
