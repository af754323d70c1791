"""The function's IAM permissions, least privilege, as plain data the stack turns into policy.

Kept free of aws_cdk so the rules can be read and tested on their own:

- **Bedrock**: ``InvokeModel`` and ``InvokeModelWithResponseStream`` (Strands' Converse and
  ConverseStream calls are authorised by these two actions) on the configured model only.
  A cross-Region inference profile (``us.``, ``eu.``, ``jp.``, ... ``global.``) needs three
  grants (Bedrock user guide, "IAM policy requirements for Geographic cross-Region
  inference"): the profile in the source Region, and the underlying foundation model in the
  source Region *and in every destination Region the profile routes to*; a ``global.``
  profile also needs the Region-less foundation-model ARN. Missing a destination Region fails
  only when Bedrock happens to route there, so the Regions are listed explicitly.
- **S3**: ``GetObject`` and ``GetObjectTagging`` on ``bucket/prefix*`` (GET and HEAD of
  objects, the presigned URLs of ``STREAMWAY_S3_REDIRECT_OVER``, which S3 checks against the
  signer, and the ``streamway-sha256`` tag of uploaded objects) and ``ListBucket`` on the
  bucket limited by an ``s3:prefix`` condition (the page lists objects). No writes, no other
  buckets, unless uploads are on: then :func:`upload_statement` lets the function that serves
  ``/uploads`` write under the prefix (storage/s3_uploads.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

#: Where each geography's system-defined profiles route, per the Bedrock user guide's
#: "Supported Regions and models for inference profiles" (November 2026). The list differs per
#: model; pass STREAMWAY_DEPLOY_MODEL_REGIONS when your model's page says otherwise.
PROFILE_DESTINATIONS: Mapping[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "ca": ("ca-central-1", "ca-west-1"),
    "eu": ("eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"),
    "apac": (
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-4",
    ),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
}
GLOBAL_PREFIX = "global"


@dataclass(frozen=True)
class Statement:
    """One statement: actions on resources, under optional conditions (Allow unless a user's
    ``--policy`` file says Deny)."""

    sid: str | None
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    effect: Literal["Allow", "Deny"] = "Allow"


def bedrock_statement(
    model_id: str,
    *,
    region: str,
    account: str,
    destinations: Sequence[str] | None = None,
    extra_arns: Sequence[str] = (),
) -> Statement:
    """Invoke rights on ``model_id`` (a foundation model id or a system-defined profile id).

    ``account`` may be a CloudFormation token (``${AWS::AccountId}``); inference profile ARNs
    carry it, foundation-model ARNs do not.
    """
    geography, _, base_model = model_id.partition(".")
    if model_id.startswith("arn:"):
        resources = [model_id]
    elif base_model and (geography in PROFILE_DESTINATIONS or geography == GLOBAL_PREFIX):
        regions = list(destinations or PROFILE_DESTINATIONS.get(geography, ()))
        regions = [region, *(r for r in regions if r != region)]
        resources = [f"arn:aws:bedrock:{region}:{account}:inference-profile/{model_id}"]
        resources += [_foundation_model(r, base_model) for r in regions]
        if geography == GLOBAL_PREFIX:
            # Global profiles route to any commercial Region; Bedrock authorises the
            # destination against the Region-less foundation-model ARN.
            resources.append(_foundation_model("", base_model))
    else:
        resources = [_foundation_model(region, model_id)]
    return Statement(
        sid="InvokeConfiguredModel",
        actions=BEDROCK_ACTIONS,
        resources=tuple(dict.fromkeys([*resources, *extra_arns])),
    )


def _foundation_model(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def s3_statements(bucket: str, prefix: str) -> tuple[Statement, Statement]:
    """Read objects under ``prefix`` and list only that part of the bucket.

    The store treats ``prefix`` as a folder (``reports`` serves ``reports/...``), so the grant
    is ``reports/*``, which does not open a sibling ``reports-old/``.
    """
    folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
    read = Statement(
        sid="ReadObjects",
        actions=("s3:GetObject", "s3:GetObjectTagging"),
        resources=(f"arn:aws:s3:::{bucket}/{folder}*",),
    )
    listing = Statement(
        sid="ListObjects",
        actions=("s3:ListBucket",),
        resources=(f"arn:aws:s3:::{bucket}",),
        conditions={"StringLike": {"s3:prefix": [f"{folder}*"]}},
    )
    return read, listing


#: What storage/s3_uploads.py calls, by the IAM action that authorises it: GetObject (state,
#: tail, the HEAD that checks the key is free, the read that hashes the finished object);
#: PutObject (state, lease, tail, small objects, and CreateMultipartUpload, UploadPart and
#: CompleteMultipartUpload, which S3 authorises as PutObject); DeleteObject (lease, tail,
#: DeleteObjects); AbortMultipartUpload (terminate, expire); PutObjectTagging (the sha-256).
UPLOAD_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:PutObjectTagging",
)


def upload_statement(bucket: str, prefix: str) -> Statement:
    """Write uploads under ``prefix`` (tus ``/uploads`` into S3); nothing outside it."""
    folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
    return Statement(
        sid="WriteUploads",
        actions=UPLOAD_ACTIONS,
        resources=(f"arn:aws:s3:::{bucket}/{folder}*",),
    )
