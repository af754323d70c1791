"""Telling a plain handler's shape at start-up, and the stream's headers, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamway.aws_lambda import ResponseHeaders, ResponseStream
from streamway.aws_lambda.handler import load_handler, shape_of
from streamway.aws_lambda.loading import InitError
from tests.aws_lambda import handlers


@pytest.mark.parametrize(
    ("spec", "function", "shape"),
    [
        # Lambda's own handler setting: the last dot splits module and function.
        ("tests.aws_lambda.handlers.async_generator", handlers.async_generator, "async_generator"),
        ("tests.aws_lambda.handlers:generator", handlers.generator, "generator"),
        ("tests/aws_lambda/handlers.stream", handlers.stream, "stream"),
    ],
)
def test_the_handler_setting_names_a_function_and_its_shape(
    spec: str, function: object, shape: str
) -> None:
    assert load_handler(spec) == (function, shape)


class StreamingObject:
    async def __call__(self, event: Any, context: Any, stream: ResponseStream) -> None:
        await stream.write("from an object")


class GeneratingObject:
    async def __call__(self, event: Any, context: Any) -> AsyncIterator[str]:
        yield "from an object"


class Handlers:
    async def method(self, event: Any, context: Any, stream: ResponseStream) -> None:
        await stream.write("from a method")


def test_callable_objects_and_methods_are_judged_by_what_they_call() -> None:
    assert shape_of(StreamingObject(), "o") == "stream"
    assert shape_of(GeneratingObject(), "o") == "async_generator"
    assert shape_of(Handlers().method, "m") == "stream"


@pytest.mark.parametrize(
    ("function", "error_type"),
    [
        (handlers.plain_function, "Runtime.MalformedStreamingHandler"),
        (handlers.two_arguments, "Runtime.MalformedStreamingHandler"),
        (handlers.NOT_CALLABLE, "Runtime.HandlerNotFound"),
    ],
)
def test_what_is_not_a_plain_handler_is_refused_with_lambdas_error_type(
    function: object, error_type: str
) -> None:
    with pytest.raises(InitError) as refused:
        shape_of(function, "name")
    assert refused.value.error_type == error_type


def test_response_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = ResponseHeaders({"Content-Type": "text/plain"})
    headers["X-One"] = "1"
    headers["x-one"] = "2"  # replaces
    headers.add("Set-Cookie", "a=1")
    headers.add("set-cookie", "b=2")
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers) == ["content-type", "x-one", "set-cookie"]
    assert len(headers) == 3
    del headers["X-ONE"]
    assert "x-one" not in headers
    assert headers.raw() == [
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    with pytest.raises(KeyError):
        del headers["x-one"]
