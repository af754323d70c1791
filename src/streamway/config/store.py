"""The store group: where ``/download`` and ``/api/objects`` read objects, and in what chunks."""

from __future__ import annotations

from pydantic import Field

from streamway.config.base import AwsRegionSettings

#: Where downloads come from unless configured: ``./samples`` under the working directory,
#: which ``streamway serve`` fills with sample files when it is missing or empty.
DEFAULT_STORE_URL = "file://./samples"


class StoreSettings(AwsRegionSettings):
    store_url: str = Field(
        default=DEFAULT_STORE_URL,
        description=(
            "Where objects are read from: `file:///abs/dir`, `file://./rel/dir` (against the "
            "working directory), a plain directory path, or `s3://bucket/prefix`."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="An S3-compatible endpoint (`http://127.0.0.1:9000`); path-style addressing.",
    )
    s3_max_connections: int = Field(
        default=32, gt=0, description="Most open connections to S3 per process."
    )
    download_chunk_size: int = Field(
        default=1024 * 1024,
        ge=4096,
        description="Bytes per ranged read from the store and per ASGI body message.",
    )
    download_chunks_in_flight: int = Field(
        default=2,
        gt=0,
        description=(
            "Chunks read ahead of the client per download; with the one being read and the "
            "one being sent, a download holds at most this + 2 chunks."
        ),
    )
    s3_redirect_over: int | None = Field(
        default=None,
        gt=0,
        description=(
            "With an S3 store, a GET of an object larger than this many bytes answers 307 to "
            "a presigned S3 URL instead of streaming it; off when unset."
        ),
    )
    s3_redirect_expiry_s: int = Field(
        default=300,
        ge=1,
        # SigV4's longest presigned URL: seven days.
        le=7 * 24 * 3600,
        description=(
            "Seconds a presigned redirect URL stays valid; never longer than the credentials "
            "that sign it."
        ),
    )
