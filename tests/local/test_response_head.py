"""The STREAM prelude as API Gateway reads it (the relay itself is tested end to end in
test_gateway.py)."""

from __future__ import annotations

import json

import pytest

from streamway.local.response_head import content_length, parse_prelude


def test_multi_value_headers_win_and_cookies_become_set_cookie() -> None:
    prelude = {
        "statusCode": 206,
        "headers": {"Content-Type": "text/plain", "X-Both": "single", "X-Flag": True},
        "multiValueHeaders": {"x-both": ["m1", "m2"]},
        "cookies": ["a=1", "b=2; HttpOnly"],
    }
    status, headers = parse_prelude(json.dumps(prelude).encode())
    assert status == 206
    assert headers == [
        (b"content-type", b"text/plain"),
        (b"x-both", b"m1"),
        (b"x-both", b"m2"),
        (b"x-flag", b"true"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2; HttpOnly"),
    ]


def test_an_empty_prelude_is_a_plain_200() -> None:
    assert parse_prelude(b"") == (200, [])
    assert parse_prelude(b"{}") == (200, [])


def test_the_function_does_not_frame_the_clients_body() -> None:
    prelude = {
        "headers": {"Transfer-Encoding": "chunked", "Content-Length": "5", "Connection": "x"}
    }
    assert parse_prelude(json.dumps(prelude).encode()) == (200, [])
    length = {"headers": {"Content-Length": "5"}}
    assert parse_prelude(json.dumps(length).encode()) == (200, [(b"content-length", b"5")])


@pytest.mark.parametrize("status", [100, 101, 598, 599])
def test_a_status_from_100_to_599_is_taken(status: int) -> None:
    assert parse_prelude(json.dumps({"statusCode": status}).encode()) == (status, [])


def test_content_length_travels_unless_transfer_encoding_does() -> None:
    # Names that sort before and after the framing headers.
    headers = {"Cache-Control": "no-store", "Content-Length": "5", "X-A": "1"}
    kept = [(b"cache-control", b"no-store"), (b"content-length", b"5"), (b"x-a", b"1")]
    assert parse_prelude(json.dumps({"headers": headers}).encode()) == (200, kept)
    chunked = {"headers": {**headers, "Transfer-Encoding": "chunked"}}
    assert parse_prelude(json.dumps(chunked).encode()) == (200, [kept[0], kept[2]])


def test_the_content_length_is_that_header_and_no_other_number() -> None:
    headers = [(b"age", b"5"), (b"x-a", b"7"), (b"content-length", b"12"), (b"x-b", b"9")]
    assert content_length(headers) == 12
    assert content_length([(b"age", b"5"), (b"content-length", b"n/a")]) is None
    assert content_length([]) is None


@pytest.mark.parametrize(
    ("prelude", "reason"),
    [
        (b"not json", "Expecting value"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"statusCode": "abc"}', "invalid literal"),
        (b'{"statusCode": 99}', "out of range"),
        (b'{"statusCode": 600}', "out of range"),
        (b'{"statusCode": true}', "not a number"),
        (b'{"headers": ["a"]}', "headers is not an object"),
        (b'{"headers": {"a": {"b": 1}}}', "not a scalar"),
        (b'{"multiValueHeaders": {"a": "b"}}', "is not a list"),
        (b'{"cookies": "a=1"}', "cookies is not a list"),
    ],
)
def test_preludes_api_gateway_refuses(prelude: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_prelude(prelude)
