"""What a target asks pip for."""

from __future__ import annotations

import pytest

from streamway.deploy.target import Target


def test_platforms_run_from_manylinux2014_to_the_runtime_glibc() -> None:
    al2023 = Target("3.12", "arm64").platforms()
    assert al2023[0] == "manylinux2014_aarch64"
    assert "manylinux_2_34_aarch64" in al2023
    assert "manylinux_2_35_aarch64" not in al2023
    assert "manylinux1_aarch64" in al2023
    # python3.11 runs on Amazon Linux 2: glibc 2.26, so no manylinux_2_28 wheels.
    al2 = Target("3.11", "x86_64").platforms()
    assert "manylinux_2_26_x86_64" in al2
    assert "manylinux_2_28_x86_64" not in al2
    assert all(tag.endswith("_x86_64") for tag in al2)


def test_tags_and_machines() -> None:
    target = Target("3.13", "arm64")
    assert (target.cpython_tag, target.machine, target.elf_machine) == ("cp313", "aarch64", 183)
    assert Target("3.11", "x86_64").elf_machine == 62


@pytest.mark.parametrize(("python", "arch"), [("3.10", "x86_64"), ("3.12", "i686")])
def test_unknown_targets_are_refused(python: str, arch: str) -> None:
    with pytest.raises(ValueError, match=r"Python|architecture"):
        Target(python, arch)  # type: ignore[arg-type]
