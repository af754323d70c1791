"""The uploads group: whether ``/uploads`` (tus resumable uploads) writes to the store, and its
limits (docs/uploads.md)."""

from __future__ import annotations

from pydantic import Field, model_validator

from streamway.aws_contract import API_GATEWAY_MAX_REQUEST_BYTES
from streamway.config.base import GroupSettings

MIB = 1024 * 1024


class UploadSettings(GroupSettings):
    uploads: bool = Field(
        default=False,
        description="Serve `/uploads` (tus 1.0 resumable uploads into the store). Off by "
        "default: anyone who can reach the service could then write files into its store.",
    )
    upload_part_max_bytes: int = Field(
        default=8 * MIB,
        gt=0,
        # Below API Gateway's 10 MB request body limit, with room for the request head.
        le=API_GATEWAY_MAX_REQUEST_BYTES - 64 * 1024,
        description="Largest PATCH body (one part) of an upload; larger ones get 413. Must "
        "stay below API Gateway's 10 MB request limit.",
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
        return self
