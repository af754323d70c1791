"""What every settings group shares: the ``STREAMWAY_`` prefix, and the AWS Region.

Each group is its own ``BaseSettings`` with ``env_prefix="STREAMWAY_"``, so a field ``port``
is read from ``STREAMWAY_PORT`` whichever group holds it: grouping changed no variable's name.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GroupSettings(BaseSettings):
    """A group of settings, read from ``STREAMWAY_<FIELD>`` (and a field's own aliases)."""

    model_config = SettingsConfigDict(env_prefix="STREAMWAY_", extra="ignore")


class AwsRegionSettings(GroupSettings):
    """The AWS Region, which both Bedrock (the model group) and S3 (the store group) use."""

    aws_region: str | None = Field(
        default=None,
        # The AWS SDKs' own names, so a function's or a shell's AWS configuration applies.
        validation_alias=AliasChoices("STREAMWAY_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="The Region of the Bedrock Runtime and S3 endpoints; by default the SDK's.",
    )
