"""``AWS_IAM`` auth for a function URL: a SigV4 ``Authorization`` header must be there and
well formed.

``AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request,
SignedHeaders=a;b;host, Signature=<64 hex>`` with an ``X-Amz-Date`` of ``YYYYMMDDTHHMMSSZ``.
The signature itself is not verified: there are no real credentials to check it against
(docs/local.md, "Function URLs"). What passes gives the event's ``authorizer.iam``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamway.local.runtime_api import FunctionConfig

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<key>[A-Za-z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/(?P<service>[a-z0-9-]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9-]+(;[a-z0-9-]+)*),\s*"
    r"Signature=[0-9a-f]{64}"
)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")


class NotSigned(Exception):
    """No SigV4 signature, or a malformed one: the URL's 403."""


@dataclass(frozen=True)
class Caller:
    """Who signed: the access key of the signature's credential scope."""

    access_key: str

    def authorizer(self) -> dict[str, Any]:
        """The event's ``requestContext.authorizer`` for a signed request."""
        account = FunctionConfig.account_id
        return {
            "iam": {
                "accessKey": self.access_key,
                "accountId": account,
                "callerId": self.access_key,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{account}:user/local",
                "userId": self.access_key,
            }
        }


def check_signature(headers: Mapping[str, str]) -> Caller:
    """The caller of a request whose lower-cased ``headers`` carry a well-formed SigV4
    signature; :class:`NotSigned` otherwise."""
    match = _AUTHORIZATION.fullmatch((headers.get("authorization") or "").strip())
    if match is None:
        raise NotSigned("no well-formed AWS4-HMAC-SHA256 Authorization header")
    if "host" not in match.group("signed").split(";"):
        raise NotSigned("the signature does not cover the host header")
    amz_date = headers.get("x-amz-date") or ""
    if not _AMZ_DATE.fullmatch(amz_date):
        raise NotSigned("no well-formed X-Amz-Date header")
    if amz_date[:8] != match.group("date"):
        raise NotSigned("X-Amz-Date is not the credential scope's date")
    return Caller(match.group("key"))
