"""Which function a Lambda API request names: a name, a partial or full ARN, a qualifier.

The Lambda API accepts ``NAME``, ``ACCOUNT:function:NAME`` and
``arn:aws:lambda:REGION:ACCOUNT:function:NAME``, each optionally ending in ``:QUALIFIER``
(a version or alias), and the qualifier also as ``?Qualifier=``; the two must agree.
``streamway local`` has one version of each function (``$LATEST``), so any well-formed
qualifier reaches it (docs/local.md, "The Lambda API").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streamway.local.lambda_api.errors import LambdaApiError, invalid_parameter
from streamway.local.runtime_api import FunctionConfig

# The FunctionName pattern of the Invoke API's reference.
_FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?"
    r"(?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?"
    r"(function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_QUALIFIER = re.compile(r"\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+")
#: The longest FunctionName (a full ARN); a name alone has at most 64 characters.
_MAX_LENGTH = 256
_MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class FunctionRef:
    """A function as a request named it."""

    name: str
    qualifier: str | None

    def arn(self, region: str = FunctionConfig.region) -> str:
        """The ARN Lambda's messages name the function by."""
        arn = f"arn:aws:lambda:{region}:{FunctionConfig.account_id}:function:{self.name}"
        return f"{arn}:{self.qualifier}" if self.qualifier else arn


def parse_function_name(function_name: str, qualifier: str | None) -> FunctionRef:
    """The function a path's ``FunctionName`` and the ``Qualifier`` parameter name;
    :class:`LambdaApiError` (InvalidParameterValueException) when malformed or disagreeing."""
    match = _FUNCTION_NAME.fullmatch(function_name)
    too_long = len(function_name) > _MAX_LENGTH or (
        match is not None and len(match.group("name")) > _MAX_NAME_LENGTH
    )
    if match is None or too_long:
        raise LambdaApiError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{function_name}' at 'functionName' failed "
            "to satisfy constraint: Member must satisfy regular expression pattern: "
            f"{_FUNCTION_NAME.pattern}",
        )
    derived = match.group("qualifier")
    if qualifier is not None:
        if not _QUALIFIER.fullmatch(qualifier):
            raise invalid_parameter(f"Invalid qualifier: {qualifier}")
        if derived is not None and derived != qualifier:
            raise invalid_parameter(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
    return FunctionRef(match.group("name"), derived or qualifier)
