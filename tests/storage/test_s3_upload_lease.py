"""An S3 upload's lease against a real S3-protocol server (moto_server over HTTP on loopback).

Each taker has its own client, as separate Lambda sandboxes would; S3 itself is read through
boto3 to see the lease object a holder wrote, replaced or left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streamway.storage.s3_upload_lease import LEASE_S, UploadLease
from streamway.storage.uploads import UploadBusy
from tests.service.downloads_server import BUCKET, MotoS3
from tests.storage.test_s3_uploads import HIDDEN, connect


def with_clients(moto: MotoS3, test: Callable[[Any, Any], Awaitable[None]]) -> None:
    """Runs ``test(first, second)``: two aiobotocore clients, each of its own store."""

    async def run() -> None:
        first, second = await connect(moto), await connect(moto)
        try:
            await test(first.client, second.client)
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(run())


def lease_key(name: str) -> str:
    return f"{HIDDEN}{name}/lease"


def lease_object(moto: MotoS3, key: str) -> tuple[str, datetime] | None:
    """The lease object's ETag and expiry as S3 has them; None when there is none."""
    if key not in moto.keys(key):
        return None
    got = moto.client().get_object(Bucket=BUCKET, Key=key)
    return got["ETag"], datetime.fromisoformat(json.loads(got["Body"].read())["until"])


def test_a_lease_is_taken_once_and_freed_on_release(moto: MotoS3) -> None:
    key = lease_key("taken-once")

    async def test(first: Any, second: Any) -> None:
        before = datetime.now(UTC)
        async with UploadLease(first, BUCKET, key, "taken-once") as held:
            written = lease_object(moto, key)
            assert written is not None
            etag, until = written
            assert etag == held.etag
            assert before + timedelta(seconds=LEASE_S) <= until  # its expiry, a lease_s on
            assert until <= datetime.now(UTC) + timedelta(seconds=LEASE_S)
            with pytest.raises(UploadBusy):  # a second taker is refused at once, not queued
                async with UploadLease(second, BUCKET, key, "taken-once"):
                    pytest.fail("a held lease was taken twice")
            assert lease_object(moto, key) == written  # and left the holder's lease alone
        assert lease_object(moto, key) is None
        async with UploadLease(second, BUCKET, key, "taken-once") as again:
            assert again.etag is not None

    with_clients(moto, test)
    assert lease_object(moto, key) is None


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("expired", json.dumps({"until": "2000-01-01T00:00:00+00:00"})),
        ("unreadable", "{"),
        ("no-until", "{}"),
        ("no-time-zone", json.dumps({"until": "2999-01-01T00:00:00"})),
    ],
)
def test_an_expired_or_unreadable_lease_is_taken_over(
    moto: MotoS3, name: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = lease_key(name)
    moto.client().put_object(Bucket=BUCKET, Key=key, Body=body)

    async def test(first: Any, second: Any) -> None:
        with caplog.at_level(logging.WARNING, logger="streamway.uploads"):
            async with UploadLease(first, BUCKET, key, name) as held:
                written = lease_object(moto, key)
                assert written is not None
                assert written[0] == held.etag
                assert written[1] > datetime.now(UTC)
        assert "taking over a stale upload lease" in caplog.text

    with_clients(moto, test)
    assert lease_object(moto, key) is None


def test_a_live_lease_of_another_process_is_not_taken_over(moto: MotoS3) -> None:
    key = lease_key("live")
    live = json.dumps({"until": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()})
    moto.client().put_object(Bucket=BUCKET, Key=key, Body=live)
    before = lease_object(moto, key)

    async def test(first: Any, second: Any) -> None:
        with pytest.raises(UploadBusy):
            async with UploadLease(first, BUCKET, key, "live"):
                pytest.fail("a live lease was taken")

    with_clients(moto, test)
    assert lease_object(moto, key) == before
    moto.client().delete_object(Bucket=BUCKET, Key=key)


def test_a_holder_whose_lease_ran_out_cannot_release_its_successors(
    moto: MotoS3, caplog: pytest.LogCaptureFixture
) -> None:
    key = lease_key("ran-out")

    async def test(first: Any, second: Any) -> None:
        # lease_s=0: the first holder's lease has run out as soon as it is written, as a
        # sandbox's does when it outlives lease_s.
        slow = UploadLease(first, BUCKET, key, "ran-out", lease_s=0)
        with caplog.at_level(logging.WARNING, logger="streamway.uploads"):
            await slow.__aenter__()
            async with UploadLease(second, BUCKET, key, "ran-out") as successor:
                assert "taking over a stale upload lease" in caplog.text
                assert successor.etag != slow.etag
                await slow.__aexit__(None, None, None)  # If-Match on its own ETag: refused
                assert "could not release an upload lease" in caplog.text
                written = lease_object(moto, key)
                assert written is not None
                assert written[0] == successor.etag
        assert lease_object(moto, key) is None

    with_clients(moto, test)


def test_a_cancelled_holder_still_releases_its_lease(moto: MotoS3) -> None:
    key = lease_key("cancelled")

    async def test(first: Any, second: Any) -> None:
        holding = asyncio.Event()

        async def hold() -> None:
            async with UploadLease(first, BUCKET, key, "cancelled"):
                holding.set()
                await asyncio.Event().wait()  # until cancelled, as an append whose client left

        task = asyncio.create_task(hold())
        await asyncio.wait_for(holding.wait(), 30)
        assert lease_object(moto, key) is not None
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert lease_object(moto, key) is None
        async with UploadLease(second, BUCKET, key, "cancelled"):
            pass

    with_clients(moto, test)
