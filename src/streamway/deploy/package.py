"""``streamway package``: a Lambda zip of streamway and its dependencies for a target Python
and CPU, whatever machine builds it.

1. Build a wheel of streamway from the checkout (``pip wheel --no-deps``).
2. ``pip install --target`` it with its ``service`` extra, with ``--platform manylinux...
   --only-binary=:all: --python-version 3.X --implementation cp``: pip fetches the target's
   wheels, never the build machine's, and never compiles anything. The ``local`` extra
   (llama.cpp) only on request: it has no manylinux wheel on PyPI, so it needs
   ``--find-links`` to one you built.
3. Put ``bootstrap`` and ``exec-wrapper`` at the zip root, executable, and
   ``streamway_agentcore.py``, AgentCore Runtime's entry point for the same zip.
4. :func:`finish`: prune caches, test suites and pip, compile bytecode for the target
   (:mod:`.bytecode`), check every native file against the target (:mod:`.native`), zip
   reproducibly (:mod:`.archive`), and refuse a bundle over Lambda's 250 MB unzipped limit.

A user's app is bundled by :mod:`.user_bundle`, which shares steps 3 and 4.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from streamway.deploy.archive import ZipReport, prune, write_zip
from streamway.deploy.bytecode import compile_tree, find_interpreter
from streamway.deploy.native import BundleMismatch, check_bundle
from streamway.deploy.parts import describe, sizes_by_part
from streamway.deploy.target import Target

#: "250 MB" unzipped, deployment package and layers together (Lambda quotas), in bytes.
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: The entry points at the zip root: bootstrap for provided.al2023, exec-wrapper for python3.x.
ENTRY_POINTS = ("bootstrap", "exec-wrapper")
_PACKAGING = Path("streamway") / "aws_lambda" / "packaging"
#: What AgentCore Runtime's direct code deployment starts (``python <file>`` from the zip
#: root): the service on 0.0.0.0:8080, as deploy/agentcore/Dockerfile's CMD runs it.
AGENTCORE_ENTRY = "streamway_agentcore.py"
AGENTCORE_ARGS = ("serve", "--host", "0.0.0.0", "--port", "8080")
_AGENTCORE_SOURCE = f'''"""AgentCore Runtime starts this file: streamway's service on port 8080."""

import sys

from streamway.cli import main

sys.argv = {["streamway", *AGENTCORE_ARGS]!r}
main()
'''
#: Installed only because streamway's light install runs the packager with it; a function
#: never runs pip, so it is left out of every bundle (about 12 MB).
PRUNED_DISTRIBUTIONS = ("pip",)


class PackagingError(RuntimeError):
    """The bundle could not be built, or is not fit for Lambda."""


class BundleTooLarge(PackagingError):
    pass


@dataclass(frozen=True)
class BundleReport:
    target: Target
    zip: ZipReport
    distributions: tuple[str, ...]  # "name version", sorted
    pruned_bytes: int
    #: (part, unzipped bytes), largest first: see :mod:`.parts`.
    parts: tuple[tuple[str, int], ...] = ()
    #: The interpreter that compiled the bytecode; None: built without (none was found).
    compiled_by: Path | None = None

    @property
    def path(self) -> Path:
        return self.zip.path

    def summary(self) -> str:
        mib = 1024 * 1024
        return (
            f"{self.path}: Python {self.target.python} on {self.target.arch}, "
            f"{len(self.distributions)} distributions, {self.zip.files} files; "
            f"unzipped {self.zip.unzipped_bytes / mib:.1f} MiB of Lambda's "
            f"{LAMBDA_UNZIPPED_LIMIT / mib:.0f} MiB, zipped {self.zip.zipped_bytes / mib:.1f} MiB"
            + (f"; {describe(list(self.parts))}" if self.parts else "")
        )

    def bytecode_note(self) -> str:
        """One line on the bytecode: who compiled it, or that there is none and why."""
        if self.compiled_by is not None:
            return f"bytecode compiled ahead by {self.compiled_by}"
        version = self.target.python
        return (
            f"no Python {version} found on this machine (uv-managed, pyenv, python{version} "
            "on PATH): built without bytecode, so each cold start compiles what it imports"
        )


def package(
    target: Target,
    out: Path,
    *,
    project: Path,
    with_local_model: bool = False,
    find_links: Sequence[str] = (),
    pin: bool = True,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT,
    bytecode: bool = True,
) -> BundleReport:
    """Builds ``out`` for ``target`` from the checkout at ``project``: streamway's own app
    with its ``service`` extra."""
    with tempfile.TemporaryDirectory(prefix="streamway-package-") as scratch:
        work = Path(scratch)
        wheel = build_wheel(project, work / "wheel")
        root = work / "bundle"
        extras = "service,local" if with_local_model else "service"
        constraints = _pins(work / "constraints.txt") if pin else None
        requirement = f"streamway[{extras}] @ {wheel.as_uri()}"
        install([requirement], root, target, find_links=find_links, constraints=constraints)
        add_entry_points(root)
        # The same zip serves AgentCore Runtime (the target's Python on arm64).
        (root / AGENTCORE_ENTRY).write_text(_AGENTCORE_SOURCE, encoding="utf-8")
        forget_build_paths(root)
        return finish(root, target, out, limit_bytes=limit_bytes, compile_bytecode=bytecode)


def finish(
    root: Path,
    target: Target,
    out: Path,
    *,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT,
    compile_bytecode: bool = True,
    own: dict[str, str] | None = None,
) -> BundleReport:
    """From a bundle directory to a checked zip: prune, compile the bytecode for the target
    (when an interpreter of its version is found), check the native files, zip, and refuse
    what is over ``limit_bytes``. ``own`` names parts no distribution owns (:mod:`.parts`)."""
    pruned = prune(root) + prune_distributions(root)
    python = find_interpreter(target.python) if compile_bytecode else None
    if python is not None:
        compile_tree(python, root)
    mismatches = check_bundle(root, target)
    if mismatches:
        raise BundleMismatch(target, mismatches)
    distributions = _distributions(root)
    parts = tuple(sizes_by_part(root, own=own))
    report = write_zip(root, out, executables=ENTRY_POINTS)
    require_within_limit(report, limit_bytes)
    return BundleReport(target, report, distributions, pruned, parts, python)


def prune_distributions(root: Path, names: Sequence[str] = PRUNED_DISTRIBUTIONS) -> int:
    """Removes the named distributions (their RECORD's files, then the dist-info); returns
    the bytes freed."""
    freed = 0
    for name in names:
        for info in root.glob(f"{name}-*.dist-info"):
            tops = {info.name}
            record = info / "RECORD"
            if record.is_file():
                lines = record.read_text(encoding="utf-8").splitlines()
                tops |= {line.split(",", 1)[0].split("/", 1)[0] for line in lines if line}
            # Console scripts are listed as ../bin/...: only entries inside the bundle.
            for top in sorted(t for t in tops if not t.startswith(".") and t != "__pycache__"):
                path = root / top
                if path.is_dir():
                    freed += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                    shutil.rmtree(path)
                elif path.is_file():
                    freed += path.stat().st_size
                    path.unlink()
    return freed


def require_within_limit(report: ZipReport, limit_bytes: int = LAMBDA_UNZIPPED_LIMIT) -> None:
    """Deletes and refuses a zip Lambda would reject at deploy time: better now than after
    an upload."""
    if report.unzipped_bytes > limit_bytes:
        report.path.unlink()
        raise BundleTooLarge(
            f"the bundle unzips to {report.unzipped_bytes:,} bytes, over Lambda's "
            f"{limit_bytes:,}: use the container image (STREAMWAY_DEPLOY_RUNTIME=lwa)"
        )


def build_wheel(project: Path, wheel_dir: Path) -> Path:
    """streamway's own wheel, built from the checkout (pure Python: one wheel fits all)."""
    _pip(["wheel", "--no-deps", "--wheel-dir", str(wheel_dir), str(project)])
    wheels = sorted(wheel_dir.glob("streamway-*.whl"))
    if len(wheels) != 1:
        raise PackagingError(f"expected one streamway wheel in {wheel_dir}, found {wheels}")
    return wheels[0]


def pip_install_args(
    requirements: Sequence[str],
    root: Path,
    target: Target,
    *,
    find_links: Sequence[str] = (),
    constraints: Path | None = None,
) -> list[str]:
    """The ``pip install`` arguments for ``target``: wheels only, for its platform and ABI."""
    args = ["install", "--target", str(root), "--only-binary=:all:", "--no-compile"]
    for platform in target.platforms():
        args += ["--platform", platform]
    args += ["--python-version", target.python, "--implementation", "cp"]
    args += ["--abi", target.cpython_tag, "--abi", "abi3", "--abi", "none"]
    for link in find_links:
        args += ["--find-links", link]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    return [*args, *requirements]


def install(
    requirements: Sequence[str],
    root: Path,
    target: Target,
    *,
    find_links: Sequence[str] = (),
    constraints: Path | None = None,
) -> None:
    _pip(
        pip_install_args(requirements, root, target, find_links=find_links, constraints=constraints)
    )


def add_entry_points(root: Path) -> None:
    """Copies the runtime's start scripts from the installed package to the zip root."""
    for name in ENTRY_POINTS:
        source = root / _PACKAGING / name
        if not source.is_file():
            raise PackagingError(f"{source} is missing from the installed streamway")
        shutil.copyfile(source, root / name)
        (root / name).chmod(0o755)


def forget_build_paths(root: Path) -> None:
    """Drops pip's ``direct_url.json`` for what was installed from a local file (streamway's
    own wheel): it names the build's temporary directory, so it would make every zip differ
    and tell the function where it was built. RECORD loses the matching line."""
    for direct_url in root.glob("*.dist-info/direct_url.json"):
        if '"file://' not in direct_url.read_text(encoding="utf-8"):
            continue
        direct_url.unlink()
        record = direct_url.with_name("RECORD")
        if record.is_file():
            lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
            name = f"{direct_url.parent.name}/direct_url.json,"
            record.write_text("".join(line for line in lines if not line.startswith(name)))


def _pins(path: Path) -> Path:
    """Constraints pinning every distribution to the version installed here, so the bundle
    runs the versions this checkout was tested with (uv.lock), not whatever is newest."""
    lines = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in metadata.distributions()
            if dist.metadata["Name"] and dist.metadata["Name"].lower() != "streamway"
        }
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _distributions(root: Path) -> tuple[str, ...]:
    found = []
    for info in root.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found.append(f"{name} {version}")
    return tuple(sorted(found, key=str.lower))


def _pip(args: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise PackagingError(
            f"pip {args[0]} failed (exit {completed.returncode}):\n"
            + (completed.stderr or completed.stdout).strip()[-4000:]
        )
