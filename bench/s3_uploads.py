"""The S3 upload store beside a direct multipart upload of the same bytes, on one moto server.

    .venv/bin/python bench/s3_uploads.py [--size-mib 64] [--part-mib 8] [--runs 3]

Both run in this one invocation, alternating (direct first, then the store, then the other
way round...), against one ``moto_server`` on loopback:

* store: ``S3UploadStore`` (storage/s3_uploads.py) as ``/uploads`` drives it: create, then one
  append per PATCH body of --part-mib, each taking the lease, reading and writing the state,
  holding bodies under 5 MiB in a tail object, and the last one completing the upload and
  tagging it with its SHA-256 (from the running hash: one process took every append);
* direct (the baseline): aiobotocore's CreateMultipartUpload, UploadPart per part (at least
  5 MiB: --part-mib when it is, else 8 MiB), CompleteMultipartUpload. No state, no lease, no
  checksum: the floor of what the bytes into S3 cost.

The figure is the ratio of the best runs (store / direct throughput); moto is slow per
request, so per-request overhead weighs more here than on S3.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service.downloads_server import BUCKET, moto_s3

from streamway.storage import S3Store
from streamway.storage.s3_uploads import S3_MIN_PART, S3UploadStore

MiB = 1024 * 1024


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):  # as a request body arrives
        yield data[start : start + 256 * 1024]


async def via_store(uploads: S3UploadStore, data: bytes, part: int, run: int) -> None:
    info = await uploads.create(
        f"bench/store-{run}.bin",
        len(data),
        metadata={},
        expires=datetime.now(UTC) + timedelta(hours=1),
        overwrite=False,
    )
    for offset in range(0, len(data), part):
        info = await uploads.append(
            info.upload_id, offset, _body(data[offset : offset + part]), max_bytes=part
        )
    if info.sha256 != hashlib.sha256(data).digest():
        raise RuntimeError("the store published the wrong bytes")


async def direct(s3: Any, data: bytes, part: int, run: int) -> None:
    key = f"files/bench/direct-{run}.bin"
    created = await s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    parts = []
    for number, offset in enumerate(range(0, len(data), part), 1):
        answer = await s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=created["UploadId"],
            PartNumber=number,
            Body=data[offset : offset + part],
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    await s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=created["UploadId"], MultipartUpload={"Parts": parts}
    )


async def measure(endpoint: str, size: int, part: int, runs: int) -> dict[str, list[float]]:
    data = os.urandom(size)
    direct_part = part if part >= S3_MIN_PART else 8 * MiB
    store = await S3Store.connect(
        BUCKET, "files", endpoint_url=endpoint, region=None, max_connections=8, chunk_size=MiB
    )
    uploads = S3UploadStore(store, max_bytes=size)
    seconds: dict[str, list[float]] = {"store": [], "direct": []}
    try:
        for run in range(runs):
            order = ["direct", "store"] if run % 2 == 0 else ["store", "direct"]
            for name in order:
                started = time.perf_counter()
                if name == "store":
                    await via_store(uploads, data, part, run)
                else:
                    await direct(store.client, data, direct_part, run)
                seconds[name].append(time.perf_counter() - started)
    finally:
        await store.aclose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=64, help="object size")
    parser.add_argument("--part-mib", type=float, default=8, help="PATCH body size")
    parser.add_argument("--runs", type=int, default=3, help="uploads per path, alternating")
    args = parser.parse_args()
    size, part = args.size_mib * MiB, int(args.part_mib * MiB)
    with moto_s3() as moto:
        seconds = asyncio.run(measure(moto.endpoint, size, part, args.runs))
    best = {name: min(values) for name, values in seconds.items()}
    for name, values in seconds.items():
        rates = ", ".join(f"{size / MiB / s:.1f}" for s in values)
        print(f"{name:>6}: {rates} MiB/s (best {size / MiB / best[name]:.1f})")
    print(
        f"store / direct: {best['direct'] / best['store']:.2f}x "
        f"({args.size_mib} MiB in {args.part_mib:g} MiB PATCHes, best of {args.runs})"
    )


if __name__ == "__main__":
    main()
