"""The machine a bundle is for: a Lambda Python version on a CPU architecture.

Everything the packager asks pip for, and everything the native check accepts, derives from
here: the wheel platform tags (manylinux up to the runtime's glibc), the CPython tag, and
the ELF machine its shared objects must be built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Arch = Literal["arm64", "x86_64"]

#: Lambda names the architectures arm64 / x86_64; wheels and ELF call the first aarch64.
MACHINES: dict[str, str] = {"arm64": "aarch64", "x86_64": "x86_64"}
#: ELF e_machine values (System V ABI): EM_X86_64 = 62, EM_AARCH64 = 183.
ELF_MACHINES: dict[str, int] = {"arm64": 183, "x86_64": 62}
#: The glibc of each runtime's OS: python3.11 runs on Amazon Linux 2 (glibc 2.26),
#: python3.12 and later on Amazon Linux 2023 (glibc 2.34).
RUNTIME_GLIBC: dict[str, int] = {"3.11": 26, "3.12": 34, "3.13": 34}
#: manylinux2014 is glibc 2.17, the oldest tag the wheels we need still ship.
MANYLINUX_OLDEST_GLIBC = 17


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
        """Wheel platform tags the runtime's OS can load, best first: manylinux2014 (what AWS
        documents) and every ``manylinux_2_x`` up to the runtime's glibc. pip does not expand
        ``manylinux_2_x`` to older ones by itself, so all are listed."""
        newest = RUNTIME_GLIBC[self.python]
        return [f"manylinux2014_{self.machine}"] + [
            f"manylinux_2_{minor}_{self.machine}"
            for minor in range(newest, MANYLINUX_OLDEST_GLIBC - 1, -1)
        ]
