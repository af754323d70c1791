"""The check that a bundle's native code runs on its target: read, not trusted.

pip with ``--platform`` evaluates dependency markers against the machine it runs on, not the
target, and a hand-added file can be anything; so after installing, every file is looked at:

- **ELF files** (any file starting with ``\\x7fELF``, not only ``*.so``): 64-bit, little-endian
  and ``e_machine`` equal to the target's (62 x86_64, 183 aarch64).
- **Extension module names**: ``*.cpython-3XY-<machine>-linux-gnu.so`` must name the target's
  Python and machine (``*.abi3.so`` is fine for any 3.x).
- **Wheel tags** in ``*.dist-info/WHEEL``: at least one tag whose interpreter, ABI and
  platform the target accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamway.deploy.target import Target

ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EXTENSION = re.compile(r"\.cpython-3(\d+)-([a-z0-9_]+)-linux-gnu\.so$")


@dataclass(frozen=True)
class Mismatch:
    path: str  # relative to the bundle root
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BundleMismatch(ValueError):
    """Native code in the bundle would not load on the target."""

    def __init__(self, target: Target, mismatches: list[Mismatch]) -> None:
        self.mismatches = mismatches
        shown = "\n  ".join(str(m) for m in mismatches[:20])
        more = f"\n  ... and {len(mismatches) - 20} more" if len(mismatches) > 20 else ""
        super().__init__(
            f"the bundle does not match Python {target.python} on {target.arch}:\n  {shown}{more}"
        )


def check_bundle(root: Path, target: Target) -> list[Mismatch]:
    """Every reason the bundle at ``root`` would fail to load on ``target``; empty if none."""
    mismatches: list[Mismatch] = []
    for path in sorted(_files(root)):
        relative = path.relative_to(root).as_posix()
        if path.name == "WHEEL" and path.parent.name.endswith(".dist-info"):
            mismatches += _check_wheel(path, relative, target)
        reason = _check_elf(path, target)
        if reason is None:
            reason = _check_extension_name(path.name, target)
        if reason:
            mismatches.append(Mismatch(relative, reason))
    return mismatches


def _files(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def elf_machine(path: Path) -> int | None:
    """``e_machine`` of a 64-bit little-endian ELF file; None if not ELF at all."""
    with path.open("rb") as file:
        header = file.read(20)
    if not header.startswith(ELF_MAGIC):
        return None
    if len(header) < 20 or header[4] != _ELFCLASS64 or header[5] != _ELFDATA2LSB:
        return -1  # 32-bit or big-endian: loads on neither Lambda architecture
    return int.from_bytes(header[18:20], "little")


def _check_elf(path: Path, target: Target) -> str | None:
    machine = elf_machine(path)
    if machine is None or machine == target.elf_machine:
        return None
    if machine == -1:
        return "ELF file is not 64-bit little-endian"
    return f"ELF e_machine {machine} ({_MACHINE_NAMES.get(machine, 'unknown')}), " + (
        f"not {target.elf_machine} ({target.machine})"
    )


_MACHINE_NAMES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}


def _check_extension_name(name: str, target: Target) -> str | None:
    found = _EXTENSION.search(name)
    if found is None:
        return None
    minor, machine = int(found.group(1)), found.group(2)
    if minor != target.minor or machine != target.machine:
        return f"extension module built for CPython 3.{minor} on {machine}"
    return None


def _check_wheel(path: Path, relative: str, target: Target) -> list[Mismatch]:
    tags = [
        line.split(":", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lower().startswith("tag:")
    ]
    if any(tag_matches(tag, target) for tag in tags):
        return []
    return [Mismatch(relative, f"wheel tags {', '.join(tags) or '(none)'} do not fit the target")]


def tag_matches(tag: str, target: Target) -> bool:
    """Whether a wheel tag (``cp312-cp312-manylinux_2_17_x86_64``, compressed sets with
    dots allowed) names something the target's CPython can load."""
    try:
        interpreters, abis, platforms = tag.split("-")
    except ValueError:
        return False
    allowed_platforms = {"any", *target.platforms()}
    return any(p in allowed_platforms for p in platforms.split(".")) and any(
        _interpreter_and_abi_fit(i, a, target)
        for i in interpreters.split(".")
        for a in abis.split(".")
    )


def _interpreter_and_abi_fit(interpreter: str, abi: str, target: Target) -> bool:
    found = re.fullmatch(r"(py|cp)(\d)(\d*)", interpreter)
    if found is None:
        return False
    kind, major, minor = found.group(1), found.group(2), found.group(3)
    if major != "3" or (minor and int(minor) > target.minor):
        return False
    if abi == "none":
        return True
    if abi == "abi3":
        return kind == "cp"
    # A version-specific ABI (cp312) loads only on that exact version.
    return kind == "cp" and abi == target.cpython_tag and interpreter == target.cpython_tag
