"""The headers that describe an object: type, validators, name and checksum.

Sent alike on 200, 206, 304 (the validators) and HEAD; the object listing uses the same
media type rules.
"""

from __future__ import annotations

import base64
import mimetypes
import re

from streamway.http.content_disposition import content_disposition
from streamway.http.ranges import format_http_date
from streamway.storage import ObjectInfo

#: The checksum header (RFC 9530): SHA-256 of the whole object, on 200, 206 and HEAD alike.
DIGEST_HEADER = "repr-digest"


def representation_headers(info: ObjectInfo) -> dict[str, str]:
    """The headers of the object as a whole; the caller adds its length and range."""
    filename = info.key.rsplit("/", 1)[-1]
    headers = {
        "content-type": safe_media_type(info.content_type) or guess_content_type(filename),
        "accept-ranges": "bytes",
        "etag": info.etag,
        "last-modified": format_http_date(info.last_modified),
        "content-disposition": content_disposition(filename),
    }
    if info.sha256 is not None:
        headers[DIGEST_HEADER] = f"sha-256=:{base64.b64encode(info.sha256).decode()}:"
    return headers


#: A media type with parameters, in printable ASCII: what a Content-Type header can carry.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ -~]*)")


def safe_media_type(value: str | None) -> str | None:
    """``value`` if it can go out as a Content-Type header, else None (guess from the name).

    An object's stored type is whatever its uploader sent: S3 keeps a type with non-Latin-1
    characters, which no HTTP header can carry (encoding it failed the download with a 500).
    """
    if value is None or _MEDIA_TYPE.fullmatch(value) is None:
        return None
    return value


def guess_content_type(filename: str) -> str:
    """A media type from the name, for stores that keep none (and for listings)."""
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"
