"""What a bundle's unzipped size is made of: bytes per distribution, largest first.

Each installed distribution names its top-level directories and modules in its
``*.dist-info/RECORD``; a file belongs to the distribution that owns its first path segment
(bytecode and all). What no RECORD owns is the bundle's own: the app's code, streamway's
runtime copied in, the start scripts.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

#: The name given to files no installed distribution owns.
OWN_FILES = "(app code and start scripts)"


def sizes_by_part(root: Path, *, own: dict[str, str] | None = None) -> list[tuple[str, int]]:
    """``(part, bytes)`` for every part of the bundle at ``root``, largest first. ``own`` names
    top-level entries that no RECORD lists (``{"streamway": "streamway runtime"}``)."""
    owners = dict(own or {})
    for info in root.glob("*.dist-info"):
        name = info.name.removesuffix(".dist-info").rpartition("-")[0]
        owners[info.name] = name
        record = info / "RECORD"
        if not record.is_file():
            continue
        with record.open(encoding="utf-8", newline="") as file:
            for row in csv.reader(file):
                if row and not row[0].startswith(".."):
                    owners.setdefault(row[0].split("/", 1)[0], name)
    sizes: Counter[str] = Counter()
    for path in root.rglob("*"):
        if path.is_file():
            top = path.relative_to(root).parts[0]
            sizes[owners.get(top, OWN_FILES)] += path.stat().st_size
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))


def describe(parts: list[tuple[str, int]], shown: int = 5) -> str:
    """``largest: a 3.1 MiB, b 0.4 MiB, ...`` for the summary line."""
    mib = 1024 * 1024
    return "largest: " + ", ".join(f"{name} {size / mib:.1f} MiB" for name, size in parts[:shown])
