"""An S3 upload's state record: what state.json holds, read back as written, the ETag apart.

The record's round trip through S3 (written with If-Match, read by another process) is in
test_s3_uploads.py; here, the JSON itself, which must survive a process that knows nothing
but the bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from streamway.storage.s3_upload_state import UploadState
from streamway.storage.uploads import UploadInfo


def a_state() -> UploadState:
    created = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    info = UploadInfo(
        upload_id="A" * 32,
        key="dir/レポート 2025.pdf",
        offset=12 * 1024 * 1024 + 3,
        length=None,
        created=created,
        expires=created + timedelta(hours=24),
        metadata={"filename": "ZGlyL3g=", "type": ""},
    )
    return UploadState(
        info=info,
        overwrite=True,
        multipart_id="mp-1",
        parts=[{"n": 1, "etag": '"e1"', "size": 5 * 1024 * 1024}],
        tail=3,
        etag='"state-etag"',
    )


def test_the_record_reads_back_as_written_with_the_etag_it_was_read_with() -> None:
    state = a_state()
    raw = state.to_json()
    again = UploadState.from_json(raw, '"etag-of-the-read"')
    assert again.info == state.info
    assert (again.overwrite, again.multipart_id, again.parts, again.tail) == (
        True,
        "mp-1",
        [{"n": 1, "etag": '"e1"', "size": 5 * 1024 * 1024}],
        3,
    )
    assert again.etag == '"etag-of-the-read"'
    assert again.info.expires.tzinfo is not None  # compared with datetime.now(UTC)


def test_the_etag_is_not_part_of_the_record() -> None:
    data = json.loads(a_state().to_json())
    assert "etag" not in data
    assert '"state-etag"' not in json.dumps(data)
    assert data["multipart_id"] == "mp-1"


def with_created(value: object) -> bytes:
    data = json.loads(a_state().to_json())
    data["created"] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json", ValueError),
        (b"[]", TypeError),
        (b'{"upload_id": "x"}', KeyError),
        (with_created(1), TypeError),
        (with_created("yesterday"), ValueError),
    ],
    ids=["not-json", "not-an-object", "fields-missing", "wrong-type", "bad-time"],
)
def test_a_broken_record_raises_what_the_store_turns_into_store_failed(
    raw: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        UploadState.from_json(raw, '"e"')
