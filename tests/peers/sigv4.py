"""Checks an AWS Signature Version 4 the way an AWS endpoint does, from the request as received.

Written from the SigV4 specification rather than with botocore's signer, so a test that
passes shows botocore signed what actually crossed the socket with the expected secret.
Only what Bedrock Runtime requests use: header auth, no query string, a non-S3 service
(whose canonical URI is the already-encoded path encoded once more).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 "
    r"Credential=(?P<access_key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed_headers>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Credential:
    """The scope a request was signed for, parsed from its ``Authorization`` header."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Credential | None:
    match = _AUTHORIZATION.fullmatch(value)
    if match is None:
        return None
    return Credential(
        access_key=match["access_key"],
        date=match["date"],
        region=match["region"],
        service=match["service"],
        signed_headers=tuple(match["signed_headers"].split(";")),
        signature=match["signature"],
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(
    credential: Credential,
    secret_key: str,
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The signature a client holding ``secret_key`` must have sent for this request."""
    canonical_headers = "".join(
        f"{name}:{' '.join(headers[name].split())}\n" for name in credential.signed_headers
    )
    canonical_request = "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),
            "",  # no query string
            canonical_headers,
            ";".join(credential.signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{credential.date}/{credential.region}/{credential.service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            headers["x-amz-date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (credential.date, credential.region, credential.service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def is_signed_by(
    secret_key: str, *, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
) -> bool:
    """Whether the request carries a valid SigV4 signature made with ``secret_key``."""
    credential = parse_authorization(headers.get("authorization", ""))
    if credential is None or "x-amz-date" not in headers:
        return False
    if not set(credential.signed_headers) <= headers.keys():
        return False
    expected = expected_signature(
        credential, secret_key, method=method, raw_path=raw_path, headers=headers, body=body
    )
    return hmac.compare_digest(expected, credential.signature)
