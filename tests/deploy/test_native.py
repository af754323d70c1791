"""The native-code check on files made here (the real-bundle cases are in test_package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamway.deploy.native import check_bundle, elf_machine, tag_matches
from streamway.deploy.target import Target

ARM_312 = Target("3.12", "arm64")


def _elf(machine: int, *, bits: int = 2) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = bits, 1
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


@pytest.mark.parametrize(
    ("tag", "fits"),
    [
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
        ("cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64", True),
        ("cp39-abi3-manylinux2014_aarch64", True),
        ("cp312-cp312-manylinux_2_34_aarch64", True),
        ("cp312-cp312-manylinux_2_35_aarch64", False),  # newer glibc than AL2023's
        ("cp311-cp311-manylinux2014_aarch64", False),  # another Python's ABI
        ("cp313-abi3-manylinux2014_aarch64", False),  # needs a newer Python
        ("cp312-cp312-manylinux2014_x86_64", False),  # another CPU
        ("cp312-cp312-musllinux_1_2_aarch64", False),  # another libc
        ("cp312-cp312-macosx_11_0_arm64", False),
        ("garbage", False),
    ],
)
def test_tag_matches(tag: str, fits: bool) -> None:
    assert tag_matches(tag, ARM_312) is fits


def test_elf_headers_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.so").write_bytes(_elf(183))
    (tmp_path / "b.txt").write_bytes(b"hello")
    (tmp_path / "c.so").write_bytes(_elf(62, bits=1))
    assert elf_machine(tmp_path / "a.so") == 183
    assert elf_machine(tmp_path / "b.txt") is None
    assert elf_machine(tmp_path / "c.so") == -1


def test_any_elf_file_is_checked_whatever_its_name(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.cpython-312-aarch64-linux-gnu.so").write_bytes(_elf(183))
    (tmp_path / "pkg" / "helper").write_bytes(_elf(62))
    (tmp_path / "pkg" / "old.cpython-311-aarch64-linux-gnu.so").write_bytes(_elf(183))
    (tmp_path / "pkg" / "i386.so").write_bytes(_elf(3, bits=1))
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-manylinux2014_aarch64\n")
    found = {m.path: m.reason for m in check_bundle(tmp_path, ARM_312)}
    assert found == {
        "pkg/helper": "ELF e_machine 62 (x86_64), not 183 (aarch64)",
        "pkg/old.cpython-311-aarch64-linux-gnu.so": (
            "extension module built for CPython 3.11 on aarch64"
        ),
        "pkg/i386.so": "ELF file is not 64-bit little-endian",
        "pkg-1.0.dist-info/WHEEL": (
            "wheel tags cp311-cp311-manylinux2014_aarch64 do not fit the target"
        ),
    }
