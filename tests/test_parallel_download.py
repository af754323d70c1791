"""The arithmetic of ``streamway get --parallel``: which ranges are written, how the rest is
cut into parts, how many connections; and ``--part-size`` values."""

from __future__ import annotations

import itertools

import pytest
import typer

from streamway.cli.client import parse_size
from streamway.parallel_download import (
    DEFAULT_CONNECTIONS,
    DEFAULT_PART_SIZE,
    Have,
    RangedObject,
    connections_for,
    plan,
)

MiB = 1024 * 1024


def test_written_ranges_merge_and_leave_the_gaps_missing() -> None:
    have = Have()
    for start, end in [(10, 20), (0, 5), (20, 30), (5, 8), (40, 50)]:
        have.add(start, end)
    assert have.ranges == [[0, 8], [10, 30], [40, 50]]
    assert have.total() == 38
    assert have.missing(60) == [(8, 10), (30, 40), (50, 60)]
    assert Have().missing(7) == [(0, 7)]
    have.add(0, 60)
    assert (have.ranges, have.missing(60)) == ([[0, 60]], [])


def test_parts_never_exceed_the_part_size_and_use_every_connection() -> None:
    size = 1000 * MiB + 3
    parts = plan([(0, size)], 8, DEFAULT_PART_SIZE)
    assert max(end - start for start, end in parts) <= DEFAULT_PART_SIZE
    assert parts[0][0] == 0
    assert parts[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))  # in file order
    small = plan([(0, 40 * 10**6)], 8, DEFAULT_PART_SIZE)
    assert len(small) == 8  # 40 MB over 8 connections: 8 parts of 5 MB
    gaps = plan([(0, 3 * MiB), (50 * MiB, 51 * MiB)], 8, DEFAULT_PART_SIZE)
    assert gaps == [(0, MiB), (MiB, 2 * MiB), (2 * MiB, 3 * MiB), (50 * MiB, 51 * MiB)]


def test_the_default_is_one_stream_up_to_one_part_and_eight_beyond() -> None:
    def remote(size: int) -> RangedObject:
        return RangedObject(size, '"v"', None)

    assert connections_for(remote(DEFAULT_PART_SIZE), None, DEFAULT_PART_SIZE) == 1
    assert connections_for(remote(DEFAULT_PART_SIZE + 1), None, DEFAULT_PART_SIZE) == 8
    assert DEFAULT_CONNECTIONS == 8
    assert connections_for(remote(40 * MiB), 8, DEFAULT_PART_SIZE) == 8
    assert connections_for(remote(3 * MiB), 8, DEFAULT_PART_SIZE) == 3  # parts of >= 1 MiB
    assert connections_for(remote(0), 8, DEFAULT_PART_SIZE) == 1


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 * MiB),
        ("64M", 64 * MiB),
        ("64m", 64 * MiB),
        ("1G", 1024 * MiB),
        ("100MB", 100 * 10**6),
        (str(2 * MiB), 2 * MiB),
    ],
)
def test_part_sizes_read_as_bytes_with_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "64X", "-1M", "1.5M", "100K", "12"])
def test_part_sizes_that_are_not_sizes_or_too_small_are_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_size(text)
