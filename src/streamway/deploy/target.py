"""The machine a bundle is for: a Lambda Python version on a CPU architecture.

Everything the packager asks pip for, and everything the native check accepts, derives from
here: the wheel platform tags (manylinux up to the runtime's glibc), the CPython tag, and
the ELF machine its shared objects must be built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Arch = Literal["arm64", "x86_64"]

#: Lambda names the architectures arm64 / x86_64; wheels and ELF call the first aarch64.
MACHINES: dict[str, str] = {"arm64": "aarch64", "x86_64": "x86_64"}
#: ELF e_machine values (System V ABI): EM_X86_64 = 62, EM_AARCH64 = 183.
ELF_MACHINES: dict[str, int] = {"arm64": 183, "x86_64": 62}
#: The glibc of each runtime's OS: python3.11 runs on Amazon Linux 2 (glibc 2.26),
#: python3.12 and later on Amazon Linux 2023 (glibc 2.34).
RUNTIME_GLIBC: dict[str, int] = {"3.11": 26, "3.12": 34, "3.13": 34}
#: manylinux_2_5 (alias manylinux1) is the oldest manylinux; older wheels load on newer glibc.
MANYLINUX_OLDEST_GLIBC = 5
#: PEP 600's aliases for the legacy manylinux names: glibc 2.5, 2.12 and 2.17.
LEGACY_ALIASES = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}


@dataclass(frozen=True)
class Target:
    python: str  # "3.12"
    arch: Arch

    def __post_init__(self) -> None:
        if self.python not in RUNTIME_GLIBC:
            raise ValueError(
                f"Lambda has no managed Python {self.python}; use one of {sorted(RUNTIME_GLIBC)}"
            )
        if self.arch not in MACHINES:
            raise ValueError(f"the architecture is arm64 or x86_64, not {self.arch}")

    @property
    def machine(self) -> str:
        return MACHINES[self.arch]

    @property
    def elf_machine(self) -> int:
        return ELF_MACHINES[self.arch]

    @property
    def minor(self) -> int:
        return int(self.python.split(".")[1])

    @property
    def cpython_tag(self) -> str:
        return f"cp3{self.minor}"

    @property
    def runtime(self) -> str:
        return f"python{self.python}"

    def platforms(self) -> list[str]:
        """Wheel platform tags the runtime's OS can load: manylinux2014 first (what AWS
        documents), then every ``manylinux_2_x`` from the runtime's glibc down, with the legacy
        aliases. pip does not expand ``manylinux_2_x`` to older ones by itself, so all are
        listed."""
        tags = [f"manylinux2014_{self.machine}"]
        for minor in range(RUNTIME_GLIBC[self.python], MANYLINUX_OLDEST_GLIBC - 1, -1):
            tags.append(f"manylinux_2_{minor}_{self.machine}")
            if minor in LEGACY_ALIASES and minor != 17:
                tags.append(f"{LEGACY_ALIASES[minor]}_{self.machine}")
        return tags


def default_bundle_path(python: str, arch: str) -> Path:
    """Where ``streamway package`` writes a bundle, and where synth and deploy look for it."""
    return Path("dist") / f"lambda-{python}-{arch}.zip"
