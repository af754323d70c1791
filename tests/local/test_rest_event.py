"""The REST proxy event, built from a request exactly as API Gateway builds it."""

from __future__ import annotations

import base64

import pytest

from streamway.api.definition import load_definition
from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.events import RestApiV1
from streamway.local.rest_event import (
    ClientRequest,
    RequestIds,
    StageContext,
    api_id_for,
    build_event,
    is_binary,
)

DEFINITION = load_definition()
STAGE = StageContext(
    stage="dev", api_id=api_id_for("streamway"), binary_media_types=("application/octet-stream",)
)
IDS = RequestIds("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "BQGojGgiCYcFhLQ=")
# 2020-03-10T00:03:59.428Z, the documented example's time.
AT = 1583798639.428


def request(
    method: str = "GET",
    raw_path: str = "/dev/download/a%20b.bin",
    query: str = "",
    headers: tuple[tuple[str, str], ...] = (("host", "127.0.0.1:3000"),),
    body: bytes = b"",
) -> ClientRequest:
    return ClientRequest(
        method=method,
        raw_path=raw_path,
        query_string=query,
        headers=headers,
        body=body,
        source_ip="127.0.0.1",
        server_port=3000,
        received_at=AT,
    )


def event_for(client: ClientRequest, **options: str) -> dict[str, object]:
    in_stage = client.raw_path.removeprefix("/dev")
    found = DEFINITION.find(client.method, in_stage)
    assert found is not None
    route, params = found
    return build_event(client, route, in_stage, params, STAGE, IDS, **options)  # type: ignore[arg-type]


def test_a_get_with_a_greedy_path_parameter() -> None:
    event = event_for(
        request(
            query="tag=a&tag=b&q=x%20y",
            headers=(
                ("host", "127.0.0.1:3000"),
                ("user-agent", "curl/8"),
                ("x-n", "1"),
                ("x-n", "2"),
            ),
        )
    )
    assert event == {
        "resource": "/download/{proxy+}",
        "path": "/download/a%20b.bin",
        "httpMethod": "GET",
        "headers": {
            "host": "127.0.0.1:3000",
            "user-agent": "curl/8",
            "x-n": "2",
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Port": "3000",
            "X-Forwarded-Proto": "http",
            "X-Amzn-Trace-Id": event["headers"]["X-Amzn-Trace-Id"],  # type: ignore[index]
        },
        "multiValueHeaders": {
            "host": ["127.0.0.1:3000"],
            "user-agent": ["curl/8"],
            "x-n": ["1", "2"],
            "X-Forwarded-For": ["127.0.0.1"],
            "X-Forwarded-Port": ["3000"],
            "X-Forwarded-Proto": ["http"],
            "X-Amzn-Trace-Id": [event["headers"]["X-Amzn-Trace-Id"]],  # type: ignore[index]
        },
        "queryStringParameters": {"tag": "b", "q": "x y"},
        "multiValueQueryStringParameters": {"tag": ["a", "b"], "q": ["x y"]},
        "pathParameters": {"proxy": "a b.bin"},
        "stageVariables": None,
        "requestContext": {
            "resourceId": event["requestContext"]["resourceId"],  # type: ignore[index]
            "resourcePath": "/download/{proxy+}",
            "httpMethod": "GET",
            "extendedRequestId": "BQGojGgiCYcFhLQ=",
            "requestTime": "10/Mar/2020:00:03:59 +0000",
            "path": "/dev/download/a%20b.bin",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "dev",
            "domainPrefix": "127",
            "requestTimeEpoch": 1583798639428,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "127.0.0.1",
                "user": None,
                "userAgent": "curl/8",
                "userArn": None,
            },
            "domainName": "127.0.0.1",
            "apiId": STAGE.api_id,
        },
        "body": None,
        "isBase64Encoded": False,
    }
    assert str(event["headers"]["X-Amzn-Trace-Id"]).startswith("Root=1-5e66d96f-")  # type: ignore[index]


def test_the_runtime_reads_the_event_back_into_the_request() -> None:
    event = event_for(request(query="a=1&a=2"))
    context = LambdaContext("r", 0, "arn:aws:lambda:us-east-1:123456789012:function:f")
    scope = RestApiV1(event, context).scope()
    assert (scope["path"], scope["root_path"]) == ("/dev/download/a b.bin", "/dev")
    assert scope["query_string"] == b"a=1&a=2"
    assert scope["scheme"] == "http"
    assert scope["server"] == ("127.0.0.1", 3000)


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [("application/octet-stream", True), ("application/json", False), (None, False)],
)
def test_binary_media_types_decide_the_body_encoding(
    content_type: str | None, encoded: bool
) -> None:
    headers = (("content-type", content_type),) if content_type else ()
    body = b'{"request": "hi \xe2\x9c\x93"}'
    event = event_for(request("POST", "/dev/streaming", headers=headers, body=body))
    assert event["isBase64Encoded"] is encoded
    assert event["body"] == (base64.b64encode(body).decode() if encoded else body.decode())


def test_forwarded_for_is_appended_and_claims_and_key_reach_the_context() -> None:
    client = request(headers=(("X-Forwarded-For", "203.0.113.9"), ("x-api-key", "k")))
    route, params = DEFINITION.find("GET", "/download/a%20b.bin")  # type: ignore[misc]
    event = build_event(
        client, route, "/download/a%20b.bin", params, STAGE, IDS, claims={"sub": "u1"}, api_key="k"
    )
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert event["requestContext"]["authorizer"] == {"claims": {"sub": "u1"}}
    assert event["requestContext"]["identity"]["apiKey"] == "k"


@pytest.mark.parametrize(
    ("content_type", "types", "expected"),
    [
        ("image/png", ("image/*",), True),
        ("IMAGE/PNG; q=1", ("image/*",), True),
        ("text/html", ("*/*",), True),
        ("text/html", ("application/octet-stream",), False),
        ("", ("*/*",), False),
    ],
)
def test_is_binary(content_type: str, types: tuple[str, ...], expected: bool) -> None:
    assert is_binary(content_type, types) is expected
