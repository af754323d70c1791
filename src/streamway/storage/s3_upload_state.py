"""One S3 upload's state record: ``.uploads/<id>/state.json``, and the ETag it was read with.

It holds the upload's :class:`UploadInfo` and its multipart bookkeeping: the ``UploadId``,
each part's number, ETag and size (CompleteMultipartUpload is checked against those ETags,
so a part someone else uploaded under the same number cannot be published), and the size of
the tail object. The ETag is not in the JSON: it is what S3 answered the read, and the next
write of the record carries it as ``If-Match`` (s3_uploads.py), so a writer whose view is
stale loses instead of writing over a newer state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamway.storage.uploads import UploadInfo


@dataclass
class UploadState:
    """What ``state.json`` holds: the upload's info and its multipart bookkeeping."""

    info: UploadInfo
    overwrite: bool
    multipart_id: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    """``{"n": PartNumber, "etag": ETag, "size": bytes}``, in order."""
    tail: int = 0
    """Bytes held in the tail object (not yet a part)."""
    etag: str | None = None
    """The ETag of ``state.json`` as read: the next write's ``If-Match``."""

    def to_json(self) -> bytes:
        info = self.info
        return json.dumps(
            {
                "upload_id": info.upload_id,
                "key": info.key,
                "offset": info.offset,
                "length": info.length,
                "created": info.created.isoformat(),
                "expires": info.expires.isoformat(),
                "metadata": dict(info.metadata),
                "overwrite": self.overwrite,
                "multipart_id": self.multipart_id,
                "parts": self.parts,
                "tail": self.tail,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, etag: str) -> UploadState:
        """The record ``raw`` as read with ``etag``; ValueError, KeyError or TypeError when it
        is not one."""
        data = json.loads(raw)
        info = UploadInfo(
            upload_id=data["upload_id"],
            key=data["key"],
            offset=data["offset"],
            length=data["length"],
            created=datetime.fromisoformat(data["created"]),
            expires=datetime.fromisoformat(data["expires"]),
            metadata=data["metadata"],
        )
        return cls(
            info=info,
            overwrite=data["overwrite"],
            multipart_id=data["multipart_id"],
            parts=data["parts"],
            tail=data["tail"],
            etag=etag,
        )
