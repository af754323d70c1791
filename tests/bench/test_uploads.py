"""bench/uploads.py on a small file: every row runs against real servers, and its figures are
measured ones (no speed is asserted: timings never go into tests).

The two tus rows (with and without part checksums) go through `streamway serve` with uploads
on and streamway's own client, which checks the object's `Repr-Digest` against the file; the
PUT side's file is compared with the source by the bench itself. Either failing stops the
bench with an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.servers import REPO_ROOT


def test_a_small_upload_bench_measures_every_row(tmp_path: Path) -> None:
    out = tmp_path / "uploads.json"
    subprocess.run(
        [
            sys.executable,
            "bench/uploads.py",
            "--size-mib",
            "24",
            "--part-mib",
            "4",
            "--runs",
            "2",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        check=True,
        timeout=240,
    )
    result = json.loads(out.read_text())

    assert result["size"] == 24 * 1024 * 1024
    for side in ("tus", "tus_no_checksum", "put"):
        figures = result[side]
        assert len(figures["seconds"]) == 2
        assert all(seconds > 0 for seconds in figures["seconds"])
        assert figures["server_cpu_s"] > 0
        assert figures["client_cpu_s"] > 0
        assert figures["peak_rss_mib"] >= figures["rss_start_mib"] > 0
    for suffix in ("", "_no_checksum"):
        assert result[f"ratio_best{suffix}"] > 0
        assert result[f"ratio_median{suffix}"] > 0
        assert result[f"ratio_cpu{suffix}"] > 0
