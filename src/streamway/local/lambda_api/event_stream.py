"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``), encoding side.

What Lambda's ``InvokeWithResponseStream`` answers in (and the tests' Bedrock peer).
botocore only ships a decoder (``botocore.eventstream.EventStreamBuffer``): clients never
send event streams, so a server frames its messages itself. One message:

    prelude   total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes
    headers   name length (uint8) | name | value type (uint8, 7 = string)
              | value length (uint16) | value            ... repeated
    payload   the event's JSON
    trailer   CRC32 of everything above

All integers are big-endian; both CRCs are plain CRC32 (zlib's).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return (
        struct.pack(">B", len(name_bytes))
        + name_bytes
        + struct.pack(">BH", _STRING, len(value_bytes))
        + value_bytes
    )


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One framed message with string-valued ``headers``."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total_length = _PRELUDE.size + _CRC.size + len(encoded_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total_length, len(encoded_headers))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + encoded_headers + payload
    return message + _CRC.pack(zlib.crc32(message))


#: The content type of the whole response.
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def event_message(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``event`` message, e.g. ``contentBlockDelta`` with its JSON body."""
    return _typed("event", event_type, "application/json", _json(body))


def blob_message(event_type: str, payload: bytes) -> bytes:
    """An ``event`` message whose payload is raw bytes (Lambda's ``PayloadChunk``)."""
    return _typed("event", event_type, "application/octet-stream", payload)


def exception_message(exception_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``exception`` message: how Bedrock reports a failure after the stream started."""
    return _typed("exception", exception_type, "application/json", _json(body))


def _typed(message_type: str, type_name: str, content_type: str, payload: bytes) -> bytes:
    """A message of ``message_type`` (``event``, ``exception``) named ``type_name`` in its
    ``:event-type`` or ``:exception-type`` header."""
    return encode_message(
        {
            f":{message_type}-type": type_name,
            ":content-type": content_type,
            ":message-type": message_type,
        },
        payload,
    )


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
