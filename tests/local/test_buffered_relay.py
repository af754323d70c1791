"""The BUFFERED proxy response as API Gateway shapes it (end to end in test_gateway.py)."""

from __future__ import annotations

import base64

import pytest

from streamway.local.buffered_relay import ResponseTooLarge, shape

BINARY = ("image/*",)


def test_headers_merge_and_the_gateway_sets_the_length() -> None:
    answer = shape(
        {
            "statusCode": "201",
            "headers": {"X-A": "1", "X-B": "single", "Content-Length": "999"},
            "multiValueHeaders": {"x-b": ["m1", "m2"]},
            "body": "héllo",
        },
        None,
        BINARY,
    )
    assert answer.status == 201
    assert answer.body == "héllo".encode()
    assert answer.headers == [
        (b"x-a", b"1"),
        (b"x-b", b"m1"),
        (b"x-b", b"m2"),
        (b"content-length", b"6"),
    ]


@pytest.mark.parametrize(
    ("accept", "decoded"),
    [
        ("image/png", True),
        ("image/webp, text/html", True),
        ("text/html, image/png", False),  # only the first Accept type counts
        (None, False),
    ],
)
def test_base64_bodies_are_decoded_by_the_first_accept_type(
    accept: str | None, decoded: bool
) -> None:
    data = bytes(range(256))
    text = base64.b64encode(data).decode()
    answer = shape({"statusCode": 200, "body": text, "isBase64Encoded": True}, accept, BINARY)
    assert answer.body == (data if decoded else text.encode())


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ([], "not a JSON object"),
        ({"body": "no status"}, "statusCode None is not a number"),
        ({"statusCode": "x"}, "invalid literal"),
        ({"statusCode": 200, "body": 5}, "body is not a string"),
        ({"statusCode": 200, "headers": "x"}, "headers is not an object"),
    ],
)
def test_malformed_proxy_responses(response: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        shape(response, None, BINARY)


def test_a_body_of_10_mb_is_taken_and_one_byte_more_refused() -> None:
    # API Gateway's BUFFERED response limit, 10 MB read as MiB (docs/aws-behaviour.md §1).
    # Lambda's 6 MB payload cap comes first end to end, so only here can it be reached.
    limit = 10_485_760
    assert len(shape({"statusCode": 200, "body": "x" * limit}, None, BINARY).body) == limit
    with pytest.raises(ResponseTooLarge):
        shape({"statusCode": 200, "body": "x" * (limit + 1)}, None, BINARY)
