"""The least-privilege statements, exactly."""

from __future__ import annotations

from streamway.deploy.policy import bedrock_statement, s3_statements, upload_statement

ACCOUNT = "123456789012"


def test_foundation_model_in_the_stack_region_only() -> None:
    statement = bedrock_statement("amazon.nova-lite-v1:0", region="eu-west-1", account=ACCOUNT)
    assert statement.actions == ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
    assert statement.resources == (
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0",
    )


def test_geographic_profile_needs_the_model_in_every_destination() -> None:
    model = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
    statement = bedrock_statement(model, region="ap-northeast-1", account=ACCOUNT)
    assert statement.resources == (
        f"arn:aws:bedrock:ap-northeast-1:{ACCOUNT}:inference-profile/{model}",
        "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    )


def test_destinations_can_be_given_explicitly() -> None:
    statement = bedrock_statement(
        "eu.amazon.nova-pro-v1:0",
        region="eu-west-3",
        account=ACCOUNT,
        destinations=["eu-central-1", "eu-west-3"],
        extra_arns=["arn:aws:bedrock:eu-west-3:123456789012:application-inference-profile/x"],
    )
    assert statement.resources == (
        f"arn:aws:bedrock:eu-west-3:{ACCOUNT}:inference-profile/eu.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:eu-west-3::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:bedrock:eu-central-1::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:bedrock:eu-west-3:123456789012:application-inference-profile/x",
    )


def test_global_profile_also_needs_the_regionless_model_arn() -> None:
    statement = bedrock_statement(
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0", region="us-west-2", account=ACCOUNT
    )
    assert statement.resources == (
        f"arn:aws:bedrock:us-west-2:{ACCOUNT}:inference-profile/"
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
    )


def test_an_arn_is_taken_as_is() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    assert bedrock_statement(arn, region="us-east-1", account=ACCOUNT).resources == (arn,)


def test_s3_reads_and_lists_only_the_prefix() -> None:
    read, listing = s3_statements("bucket", "/reports/")
    assert read.actions == ("s3:GetObject", "s3:GetObjectTagging")  # the sha-256 tag of uploads
    assert read.resources == ("arn:aws:s3:::bucket/reports/*",)
    assert (listing.actions, listing.resources) == (("s3:ListBucket",), ("arn:aws:s3:::bucket",))
    assert listing.conditions == {"StringLike": {"s3:prefix": ["reports/*"]}}
    whole, whole_listing = s3_statements("bucket", "")
    assert whole.resources == ("arn:aws:s3:::bucket/*",)
    assert whole_listing.conditions == {"StringLike": {"s3:prefix": ["*"]}}


def test_uploads_write_only_under_the_prefix() -> None:
    write = upload_statement("bucket", "/reports/")
    assert write.actions == (
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:PutObjectTagging",
    )
    assert write.resources == ("arn:aws:s3:::bucket/reports/*",)
    assert upload_statement("bucket", "").resources == ("arn:aws:s3:::bucket/*",)
