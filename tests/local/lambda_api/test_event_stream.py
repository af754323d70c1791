"""The event-stream encoder, read back by botocore's own decoder (a parser no one here wrote)."""

from __future__ import annotations

from botocore.eventstream import EventStreamBuffer

from streamway.local.lambda_api.event_stream import (
    blob_message,
    event_message,
    exception_message,
)


def _decode(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_messages_decode_with_botocore_and_their_crcs_check() -> None:
    data = (
        blob_message("PayloadChunk", b"\x00\x01 raw bytes")
        + event_message("InvokeComplete", {"ErrorCode": "E"})
        + exception_message("throttlingException", {"message": "slow down"})
    )
    (chunk, complete, exception) = _decode(data)
    assert chunk == (
        {
            ":event-type": "PayloadChunk",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        b"\x00\x01 raw bytes",
    )
    assert complete[0][":event-type"] == "InvokeComplete"
    assert complete[1] == b'{"ErrorCode":"E"}'
    assert exception[0][":message-type"] == "exception"
    assert exception[0][":exception-type"] == "throttlingException"


def test_an_empty_payload_and_a_multibyte_header_value() -> None:
    ((headers, payload),) = _decode(blob_message("Ünïcode", b""))
    assert headers[":event-type"] == "Ünïcode"
    assert payload == b""
