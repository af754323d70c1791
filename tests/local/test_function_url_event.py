"""The function URL event (payload format 2.0) as the function sees it.

The function is tests/local/apps.py's app: ``/<any>/event`` answers the event it got
(``scope["aws.event"]``), the ASGI scope's path and the body it read, so every field is
checked as the function saw it, through an ASGI app the Lambda runtime served.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.local.test_function_url import function_url
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(args=("--app", "tests.local.apps:app")) as running:
        yield running


def echo(running: RunningLocal, method: str = "GET", path: str = "/x/event", **kwargs: Any) -> Any:
    response = httpx.request(method, f"{function_url(running)}{path}", timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_event_has_payload_2_0s_fields(local: RunningLocal) -> None:
    seen = echo(
        local,
        path="/x/event?b=2&a=1&a=3&empty=",
        headers=[("X-Custom", "one"), ("x-custom", "two"), ("User-Agent", "furl-test/1")],
    )
    event = seen["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/x/event"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2", "empty": ""}
    assert event["headers"]["x-custom"] == "one,two"  # lower-case, joined with commas
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["isBase64Encoded"] is False
    assert "body" not in event  # no body, no key
    assert "cookies" not in event
    assert seen["scope_path"] == "/x/event"
    assert seen["scope_root_path"] == ""


def test_the_request_context(local: RunningLocal) -> None:
    context = echo(local, headers={"User-Agent": "furl-test/1"})["event"]["requestContext"]
    url_id = context["apiId"]
    assert re.fullmatch(r"[0-9a-f]{32}", url_id)
    assert context["accountId"] == "anonymous"
    assert context["domainPrefix"] == url_id
    assert context["domainName"] == f"{url_id}.lambda-url.us-east-1.on.aws"
    assert context["http"] == {
        "method": "GET",
        "path": "/x/event",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "furl-test/1",
    }
    assert context["routeKey"] == "$default"
    assert context["stage"] == "$default"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert "authorizer" not in context


def test_cookies_move_out_of_the_headers(local: RunningLocal) -> None:
    event = echo(local, headers={"Cookie": "a=1; b=2"})["event"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]


def test_a_text_body_is_passed_as_text(local: RunningLocal) -> None:
    seen = echo(
        local, "POST", content=b'{"q": "caf\xc3\xa9"}', headers={"Content-Type": "application/json"}
    )
    assert seen["event"]["body"] == '{"q": "café"}'
    assert seen["event"]["isBase64Encoded"] is False
    assert seen["body"].encode("latin-1") == b'{"q": "caf\xc3\xa9"}'  # the app read the bytes


def test_a_binary_body_is_base64(local: RunningLocal) -> None:
    data = bytes(range(256))
    seen = echo(local, "PUT", content=data, headers={"Content-Type": "application/octet-stream"})
    assert seen["event"]["isBase64Encoded"] is True
    assert base64.b64decode(seen["event"]["body"]) == data
    assert seen["event"]["requestContext"]["http"]["method"] == "PUT"
    assert seen["body"].encode("latin-1") == data


def test_a_percent_encoded_path_stays_raw(local: RunningLocal) -> None:
    seen = echo(local, path="/caf%C3%A9/event")
    assert seen["event"]["rawPath"] == "/caf%C3%A9/event"
    assert seen["scope_path"] == "/café/event"
