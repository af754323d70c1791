"""The uploads group: whether ``/uploads`` (tus resumable uploads) writes to the store, and its
limits (docs/uploads.md)."""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from streamway.aws_contract import API_GATEWAY_MAX_REQUEST_BYTES, LAMBDA_MAX_REQUEST_BYTES
from streamway.config.base import GroupSettings

MIB = 1024 * 1024

#: The largest part that reaches a Lambda function: API Gateway (and a function URL) hands
#: a binary body over base64-encoded inside the event, and Lambda takes an event of at most
#: 6 MiB. base64 of 4 MiB is 5,592,408 bytes, which leaves 699,048 for the headers and the
#: rest of the event; a larger part is refused before the function runs (API Gateway: 500).
LAMBDA_PART_MAX_BYTES = 4 * MIB
assert LAMBDA_PART_MAX_BYTES * 4 // 3 + 512 * 1024 < LAMBDA_MAX_REQUEST_BYTES


def _on_lambda() -> bool:
    # Set for every Lambda runtime, and for streamway local's function processes.
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _default_part_max_bytes() -> int:
    return LAMBDA_PART_MAX_BYTES if _on_lambda() else 8 * MIB


class UploadSettings(GroupSettings):
    uploads: bool = Field(
        default=False,
        description="Serve `/uploads` (tus 1.0 resumable uploads into the store). Off by "
        "default: anyone who can reach the service could then write files into its store.",
    )
    upload_part_max_bytes: int = Field(
        default_factory=_default_part_max_bytes,
        gt=0,
        # Below API Gateway's 10 MB request body limit, with room for the request head.
        le=API_GATEWAY_MAX_REQUEST_BYTES - 64 * 1024,
        description="Largest PATCH body (one part) of an upload; larger ones get 413. "
        "Default 8 MiB (8388608), below API Gateway's 10 MB request limit; on Lambda 4 MiB "
        "(4194304) and no more, since a part reaches the function base64-encoded in an event "
        "of at most 6 MB.",
    )
    upload_max_bytes: int = Field(
        default=50 * 1024 * MIB,
        gt=0,
        description="Largest upload (`Tus-Max-Size`); a larger `Upload-Length` gets 413.",
    )
    upload_expiry: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Seconds an unfinished upload is kept after its creation (`Upload-Expires`); "
        "then its bytes are removed.",
    )
    upload_overwrite: bool = Field(
        default=False,
        description="Whether a finished upload may replace an existing object of the same "
        "key; when off, such an upload is refused with 409.",
    )

    @model_validator(mode="after")
    def _part_within_whole(self) -> UploadSettings:
        if self.upload_part_max_bytes > self.upload_max_bytes:
            raise ValueError("STREAMWAY_UPLOAD_PART_MAX_BYTES is above STREAMWAY_UPLOAD_MAX_BYTES")
        if _on_lambda() and self.upload_part_max_bytes > LAMBDA_PART_MAX_BYTES:
            raise ValueError(
                f"STREAMWAY_UPLOAD_PART_MAX_BYTES is over {LAMBDA_PART_MAX_BYTES}: on Lambda a "
                "larger part does not fit, base64-encoded, in the 6 MB event"
            )
        return self
