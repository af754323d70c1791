"""FunctionName as the Lambda API reads it: name, partial ARN, ARN, qualifier."""

from __future__ import annotations

import pytest

from streamway.local.lambda_api.errors import LambdaApiError
from streamway.local.lambda_api.names import FunctionRef, parse_function_name


@pytest.mark.parametrize(
    ("function_name", "qualifier", "expected"),
    [
        ("StreamFunction", None, FunctionRef("StreamFunction", None)),
        ("StreamFunction:live", None, FunctionRef("StreamFunction", "live")),
        ("StreamFunction", "7", FunctionRef("StreamFunction", "7")),
        ("StreamFunction:7", "7", FunctionRef("StreamFunction", "7")),
        ("123456789012:function:Fn", None, FunctionRef("Fn", None)),
        ("arn:aws:lambda:eu-west-1:123456789012:function:Fn", None, FunctionRef("Fn", None)),
        (
            "arn:aws:lambda:us-gov-west-1:123456789012:function:Fn:$LATEST",
            None,
            FunctionRef("Fn", "$LATEST"),
        ),
        ("Fn", "$LATEST.PUBLISHED", FunctionRef("Fn", "$LATEST.PUBLISHED")),
    ],
)
def test_the_forms_lambda_accepts(
    function_name: str, qualifier: str | None, expected: FunctionRef
) -> None:
    assert parse_function_name(function_name, qualifier) == expected


@pytest.mark.parametrize(
    ("function_name", "qualifier", "code"),
    [
        ("Fn:one", "two", "InvalidParameterValueException"),
        ("Fn", "not/valid", "InvalidParameterValueException"),
        ("has space", None, "ValidationException"),
        ("F" * 65, None, "ValidationException"),
        ("arn:aws:lambda:us-east-1:123456789012:function:Fn:a:b", None, "ValidationException"),
    ],
)
def test_malformed_or_disagreeing_names_are_refused(
    function_name: str, qualifier: str | None, code: str
) -> None:
    with pytest.raises(LambdaApiError) as raised:
        parse_function_name(function_name, qualifier)
    assert raised.value.code == code
    assert raised.value.status == 400


def test_the_arn_in_messages_names_the_qualifier() -> None:
    ref = FunctionRef("Fn", "live")
    assert ref.arn() == "arn:aws:lambda:us-east-1:123456789012:function:Fn:live"
