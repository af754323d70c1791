"""What the emulator reads from a runtime's bytes, on its own (not through aws_lambda)."""

from __future__ import annotations

import base64
import json

import pytest

from streamway.aws_contract import PRELUDE_MAX_BYTES
from streamway.local.http1 import BadRequest, PayloadTooLarge
from streamway.local.runtime_api import PreludeError, split_prelude
from streamway.local.runtime_api.wire import (
    ResponseTooLarge,
    function_error,
    json_or_text,
    refusal,
    response_mode,
    trailer_error,
)


def test_split_prelude_parts_a_stream_at_the_first_delimiter() -> None:
    prelude, body = split_prelude(b'{"statusCode":201}' + b"\0" * 8 + b"body\0\0\0\0\0\0\0\0")
    assert (prelude, body) == ({"statusCode": 201}, b"body" + b"\0" * 8)
    assert split_prelude(b"\0" * 8 + b"x") == ({}, b"x")


@pytest.mark.parametrize(
    "data",
    [b'{"statusCode":200}', b" " * PRELUDE_MAX_BYTES + b"{}" + b"\0" * 8, b"[1]" + b"\0" * 8],
)
def test_split_prelude_refuses_a_stream_without_a_json_object_prelude(data: bytes) -> None:
    with pytest.raises(PreludeError):
        split_prelude(data)


def test_response_mode_is_streaming_only_when_the_header_says_so() -> None:
    assert response_mode({"lambda-runtime-function-response-mode": "Streaming"}) == "streaming"
    assert response_mode({"lambda-runtime-function-response-mode": "buffered"}) == "buffered"
    assert response_mode({}) == "buffered"


def test_trailer_error_decodes_the_base64_body_and_keeps_the_type() -> None:
    body = base64.b64encode(json.dumps({"errorMessage": "late"}).encode()).decode()
    trailers = {
        "lambda-runtime-function-error-type": "Runtime.X",
        "lambda-runtime-function-error-body": body,
    }
    assert trailer_error(trailers) == {"errorMessage": "late", "errorType": "Runtime.X"}
    assert trailer_error({"lambda-runtime-function-error-type": "T"}) == {
        "errorMessage": "",
        "errorType": "T",
    }
    assert trailer_error(
        {
            "lambda-runtime-function-error-type": "T",
            **{"lambda-runtime-function-error-body": "not base64!"},
        }
    ) == {"errorMessage": "not base64!", "errorType": "T"}
    assert trailer_error({}) is None


def test_function_error_takes_its_type_from_the_header_when_the_body_has_none() -> None:
    headers = {"lambda-runtime-function-error-type": "KeyError"}
    assert function_error(b'{"errorMessage":"x"}', headers) == {
        "errorMessage": "x",
        "errorType": "KeyError",
    }
    assert function_error(b"plain", {}) == {"errorMessage": "plain", "errorType": "Unhandled"}
    assert function_error(b'{"errorType":"Own"}', headers) == {"errorType": "Own"}
    assert json_or_text(b"\xff") == "\ufffd"


def test_refusals_are_lambda_error_objects_by_status() -> None:
    assert refusal(BadRequest("bad"))["errorType"] == "BadRequest"
    assert refusal(BadRequest("slow", 408))["errorType"] == "RequestTimeout"
    assert refusal(BadRequest("gzip", 501))["errorType"] == "NotImplemented"
    assert refusal(PayloadTooLarge("big", 10)) == {
        "errorType": "RequestTooLargeException",
        "errorMessage": "Request must be smaller than 10 bytes",
    }
    assert refusal(ResponseTooLarge("over", 10)) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "over",
    }
