"""The bridge's event handlers against AWS's documented event examples: exact ASGI scopes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamway.aws_lambda.bridge import AsgiBridge
from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.events import HttpApiV2, PassThrough, RestApiV1
from streamway.aws_lambda.events.base import encode_body, header_pairs, server_of
from tests.aws_lambda.apps import app
from tests.aws_lambda.fixtures import load_event

CONTEXT = LambdaContext(
    aws_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    deadline_ms=1_700_000_000_000,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:streamway",
)
ASGI = {"version": "3.0", "spec_version": "2.3"}


def _scope_of(name: str) -> tuple[dict[str, Any], dict[str, Any], type[Any], bytes]:
    event = load_event(name)
    source = AsgiBridge(app).source_for(event, CONTEXT)
    scope = source.scope()
    assert scope.pop("aws.event") is event
    assert scope.pop("aws.context") is CONTEXT
    return event, scope, type(source), source.body()


def test_rest_v1_documented_get_event() -> None:
    _, scope, source, body = _scope_of("rest_v1_get")
    assert source is RestApiV1
    assert body == b""
    assert scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        # requestContext.path is /Prod/: the stage becomes the root path.
        "path": "/Prod/",
        "raw_path": None,
        "root_path": "/Prod",
        "query_string": b"",
        "headers": [
            (
                b"accept",
                b"text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,"
                b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.9",
            ),
            (b"accept-encoding", b"gzip, deflate, br"),
            (b"accept-language", b"en-US,en;q=0.9"),
            (b"cookie", b"s_fid=7AABXMPL1AFD9BBF-0643XMPL09956DE2; regStatus=pre-register;"),
            (b"host", b"70ixmpl4fl.execute-api.us-east-2.amazonaws.com"),
            (b"sec-fetch-dest", b"document"),
            (
                b"user-agent",
                b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                b"(KHTML, like Gecko) Chrome/80.0.3987.132 Safari/537.36",
            ),
            (b"x-amzn-trace-id", b"Root=1-5e66d96f-7491f09xmpl79d18acf3d050"),
            (b"x-forwarded-for", b"52.255.255.12"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
        ],
        "client": ("52.255.255.12", 0),
        "server": ("70ixmpl4fl.execute-api.us-east-2.amazonaws.com", 443),
    }


def test_rest_v1_post_with_stage_query_repeats_and_base64_body() -> None:
    event, scope, source, body = _scope_of("rest_v1_post_base64")
    assert source is RestApiV1
    assert body == b'{"request": "hi"}'
    assert scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/v1/streaming/chat",
        "raw_path": None,
        "root_path": "/v1",
        # multiValueQueryStringParameters, re-encoded: both `tag` values, the space escaped.
        "query_string": b"tag=a&tag=b&q=hello+world",
        "headers": [
            (b"content-type", b"application/json"),
            (b"host", b"abc123.execute-api.eu-west-1.amazonaws.com"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
            (b"x-custom", b"one"),
            (b"x-custom", b"two"),
        ],
        "client": ("203.0.113.7", 0),
        "server": ("abc123.execute-api.eu-west-1.amazonaws.com", 443),
    }
    assert event["requestContext"]["resourcePath"] == "/streaming/{proxy+}"


def test_rest_v1_path_arrives_percent_encoded_and_is_decoded() -> None:
    # REST APIs keep the client's percent-encoding in `path` and `requestContext.path`.
    event = load_event("rest_v1_get")
    event["path"] = "/download/big%20file%E2%9C%93.bin"
    event["requestContext"]["path"] = "/dev/download/big%20file%E2%9C%93.bin"
    scope = RestApiV1(event, CONTEXT).scope()
    assert (scope["path"], scope["root_path"]) == ("/dev/download/big file\u2713.bin", "/dev")


def test_a_function_urls_raw_path_is_decoded_and_an_http_apis_is_not() -> None:
    # A function URL keeps the client's percent-encoding in rawPath; an HTTP API decodes it.
    url_event = load_event("function_url")
    url_event["rawPath"] = "/caf%C3%A9/a%2520b"
    assert HttpApiV2(url_event, CONTEXT).scope()["path"] == "/caf\u00e9/a%20b"
    api_event = load_event("http_v2")
    api_event["rawPath"] = "/a%20b"  # already decoded by the HTTP API: a literal "%20"
    assert HttpApiV2(api_event, CONTEXT).scope()["path"] == "/a%20b"


@pytest.mark.parametrize(
    ("name", "client", "server"),
    [
        ("http_v2", ("192.0.2.1", 0), ("id.execute-api.us-east-1.amazonaws.com", 443)),
        (
            "function_url",
            ("123.123.123.123", 0),
            ("<url-id>.lambda-url.us-west-2.on.aws", 443),
        ),
    ],
)
def test_http_v2_and_function_url_documented_events(
    name: str, client: tuple[str, int], server: tuple[str, int]
) -> None:
    event, scope, source, body = _scope_of(name)
    assert source is HttpApiV2
    assert body == event["body"].encode()
    assert scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/my/path",
        "raw_path": None,
        "root_path": "",
        "query_string": b"parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            (b"header1", b"value1"),
            (b"header2", b"value1,value2"),
            # 2.0 moves cookies out of the headers; the scope gets them back as one header.
            (b"cookie", b"cookie1; cookie2"),
        ],
        "client": client,
        "server": server,
    }


def test_an_http_api_payload_1_0_event_is_rest_shaped() -> None:
    event = load_event("rest_v1_get")
    event["version"] = "1.0"
    assert RestApiV1.infer(event)
    assert not HttpApiV2.infer(event)


@pytest.mark.parametrize(
    "event",
    [
        {"Records": [{"eventSource": "aws:sqs", "body": "hi"}]},
        {"source": "aws.events", "detail-type": "Scheduled Event"},
        ["not", "an", "object"],
        "a string",
        # Keys of an HTTP event without its version: someone else's event.
        {"version": "1.0", "rawPath": "/not/http"},
        {"rawPath": "/not/http"},
    ],
)
def test_other_events_pass_through_as_json(event: Any) -> None:
    source = AsgiBridge(app, pass_through_path="/jobs").source_for(event, CONTEXT)
    assert type(source) is PassThrough
    assert PassThrough.infer(event)  # the last resort claims any event
    assert not source.streams
    scope = source.scope()
    assert (scope["method"], scope["path"]) == ("POST", "/jobs")
    assert json.loads(source.body()) == event


def test_response_shapes_for_each_source() -> None:
    headers = [
        (b"Content-Type", b"text/event-stream"),
        (b"vary", b"accept"),
        (b"vary", b"origin"),
        (b"set-cookie", b"s=1"),
    ]
    rest = RestApiV1(load_event("rest_v1_get"), CONTEXT)
    url = HttpApiV2(load_event("function_url"), CONTEXT)
    assert rest.prelude(200, headers) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream"},
        "multiValueHeaders": {"vary": ["accept", "origin"]},
        "cookies": ["s=1"],
    }
    assert url.prelude(200, headers) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream", "vary": "accept,origin"},
        "cookies": ["s=1"],
    }
    assert json.loads(rest.buffered(200, headers, b"data: 1\n\n")) == {
        "statusCode": 200,
        "headers": {"content-type": "text/event-stream", "set-cookie": "s=1"},
        "multiValueHeaders": {"vary": ["accept", "origin"]},
        "body": "data: 1\n\n",
        "isBase64Encoded": False,
    }
    assert json.loads(url.buffered(200, [(b"content-type", b"image/png")], b"\x89PNG")) == {
        "statusCode": 200,
        "headers": {"content-type": "image/png"},
        "cookies": [],
        "body": "iVBORw==",
        "isBase64Encoded": True,
    }


@pytest.mark.parametrize("version", ["0.1", "1.1", "2.0"])
def test_only_payload_version_1_0_is_read_as_a_rest_event(version: str) -> None:
    event = {**load_event("rest_v1_get"), "version": version}
    assert not RestApiV1.infer(event)
    assert RestApiV1.infer({**event, "version": "1.0"})


@pytest.mark.parametrize(
    ("path", "full_path", "root_path"),
    [
        ("/items", None, ""),  # no requestContext.path (a test invoke from the console)
        ("/items", "/items", ""),
        ("/items", "/prod/items", "/prod"),
        ("/", "/prod/", "/prod"),
        ("/items", "/prod/other/", ""),  # paths that disagree: no root path to guess
    ],
)
def test_the_root_path_is_what_precedes_the_path_in_the_called_one(
    path: str, full_path: str | None, root_path: str
) -> None:
    event = load_event("rest_v1_get")
    event["path"] = path
    event["requestContext"]["path"] = full_path
    scope = RestApiV1(event, CONTEXT).scope()
    assert (scope["path"], scope["root_path"]) == (root_path + path, root_path)


def test_a_buffered_rest_answer_without_cookies_has_no_set_cookie() -> None:
    rest = RestApiV1(load_event("rest_v1_get"), CONTEXT)
    assert json.loads(rest.buffered(200, [(b"content-type", b"text/plain")], b"ok")) == {
        "statusCode": 200,
        "headers": {"content-type": "text/plain"},
        "multiValueHeaders": {},
        "body": "ok",
        "isBase64Encoded": False,
    }


def test_a_rest_event_without_multi_value_headers_takes_its_headers() -> None:
    event = load_event("rest_v1_get")
    event["multiValueHeaders"] = None  # a hand-written test event may carry `headers` only
    event["headers"] = {"Accept": "text/plain", "X-Custom": "a"}
    scope = RestApiV1(event, CONTEXT).scope()
    assert scope["headers"] == [(b"accept", b"text/plain"), (b"x-custom", b"a")]


def test_a_buffered_rest_answer_repeats_set_cookie_for_two_cookies() -> None:
    rest = RestApiV1(load_event("rest_v1_get"), CONTEXT)
    headers = [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    answer = json.loads(rest.buffered(200, headers, b"ok"))
    assert answer["headers"] == {"content-type": "text/plain"}
    assert answer["multiValueHeaders"] == {"set-cookie": ["a=1", "b=2"]}


def test_http_sources_stream_and_pass_through_does_not() -> None:
    assert RestApiV1(load_event("rest_v1_get"), CONTEXT).streams
    assert HttpApiV2(load_event("http_v2"), CONTEXT).streams
    assert not PassThrough({}, CONTEXT).streams


@pytest.mark.parametrize(
    ("body", "headers", "answer"),
    [
        (b"hi", {"content-type": "text/plain; charset=utf-8"}, ("hi", False)),
        (b"{}", {"content-type": "application/json"}, ("{}", False)),
        (b"\xff", {"content-type": "text/plain"}, ("/w==", True)),  # text that is not UTF-8
        (b"hi", {"content-type": "text/plain", "content-encoding": "gzip"}, ("aGk=", True)),
        (b"hi", {"content-type": "image/png"}, ("aGk=", True)),
        (b"hi", {}, ("aGk=", True)),
    ],
)
def test_a_body_is_text_only_when_its_type_says_so_and_it_decodes(
    body: bytes, headers: dict[str, str], answer: tuple[str, bool]
) -> None:
    assert encode_body(body, headers) == answer


def test_header_pairs_skip_absent_values_and_keep_the_rest() -> None:
    headers = {"A": None, "B": ["1", "2"], "C": "3"}
    assert header_pairs(headers) == [(b"b", b"1"), (b"b", b"2"), (b"c", b"3")]


def test_the_server_is_the_host_without_its_port() -> None:
    assert server_of({"host": "example.com:8443", "x-forwarded-port": "8443"}, None) == (
        "example.com",
        8443,
    )
    assert server_of({}, "id.execute-api.us-east-1.amazonaws.com") == (
        "id.execute-api.us-east-1.amazonaws.com",
        443,
    )
