"""Real bundles from PyPI wheels: built for both architectures and two Pythons, inspected,
and the one for this machine run against the Runtime API emulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from streamway.aws_contract import HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE
from streamway.deploy.bytecode import cache_tag, find_interpreter
from streamway.deploy.native import BundleMismatch, check_bundle, tag_matches
from streamway.deploy.package import LAMBDA_UNZIPPED_LIMIT, package
from streamway.deploy.target import Target
from streamway.local.runtime_api import RuntimeAPIServer, split_prelude
from tests.aws_lambda.fixtures import rest_event
from tests.deploy.bundles import HERE, lambda_python, start_function, unpack
from tests.deploy.conftest import BuildBundle
from tests.servers import REPO_ROOT, stop_process

# Building a bundle is a pip install of ~80 wheels: minutes on a cold cache.
pytestmark = pytest.mark.timeout(900)

#: Both architectures and two Pythons (this machine's and 3.12) in two builds: each build is a
#: pip install of ~80 wheels, close to a minute, so not all four combinations.
TARGETS = [("3.12", "arm64"), (HERE, "x86_64")]


@pytest.mark.parametrize(("python", "arch"), TARGETS)
def test_bundle_layout_and_tags(build_bundle: BuildBundle, python: str, arch: str) -> None:
    report = build_bundle(python, arch)
    target = Target(python, arch)  # type: ignore[arg-type]
    machine = "aarch64" if arch == "arm64" else "x86_64"
    with zipfile.ZipFile(report.path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        wheels = {
            name: archive.read(name).decode() for name in infos if name.endswith(".dist-info/WHEEL")
        }
    # The start scripts sit at the root, executable; Lambda keeps these mode bits.
    for name in ("bootstrap", "exec-wrapper"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) == 0o755, name
        assert infos[name].create_system == 3
    assert "streamway/aws_lambda/runtime.py" in infos
    # AgentCore Runtime's entry point for the same zip (python streamway_agentcore.py).
    assert "streamway_agentcore.py" in infos
    assert "streamway/api/openapi.yaml" in infos
    # Reproducible: every entry at the zip epoch, in sorted order.
    assert list(infos) == sorted(infos)
    assert {info.date_time for info in infos.values()} == {(1980, 1, 1, 0, 0, 0)}
    # Trimmed: no test suites, no console scripts, no aws_cdk, local model or pip.
    assert not [n for n in infos if "/tests/" in n or n.startswith("bin/")]
    assert not [n for n in infos if n.startswith(("aws_cdk", "llama_cpp", "jsii", "pip/"))]
    # Bytecode for the target's Python only, compiled ahead (when this machine has one).
    tag = cache_tag(python)
    pycs = [n for n in infos if n.endswith((".pyc", ".pyo"))]
    assert all("__pycache__/" in n and n.endswith(f".{tag}.pyc") for n in pycs)
    assert (report.compiled_by is not None) == (find_interpreter(python) is not None)
    if report.compiled_by is not None:
        assert f"streamway/aws_lambda/__pycache__/runtime.{tag}.pyc" in infos
        assert f"fastapi/__pycache__/applications.{tag}.pyc" in infos

    # Native wheels are the target's, read from their own WHEEL files.
    native = {
        name: text
        for name, text in wheels.items()
        if "-none-any" not in text and "py3-none" not in text
    }
    assert any(name.startswith("pydantic_core-") for name in native)
    for name, text in native.items():
        tags = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Tag:")]
        assert any(tag_matches(tag, target) for tag in tags), (name, tags)
        assert all(machine in tag for tag in tags), (name, tags)
    extensions = [n for n in infos if n.endswith(".so") and ".cpython-" in n]
    assert extensions
    assert all(f"cpython-3{target.minor}-{machine}-linux-gnu" in n for n in extensions)

    assert report.zip.unzipped_bytes == sum(info.file_size for info in infos.values())
    assert report.zip.zipped_bytes == report.path.stat().st_size
    assert report.zip.unzipped_bytes < LAMBDA_UNZIPPED_LIMIT
    assert f"zipped {report.zip.zipped_bytes / 1024 / 1024:.1f} MiB" in report.summary()
    print(report.summary())


def test_the_same_inputs_give_the_same_zip(build_bundle: BuildBundle, tmp_path: Path) -> None:
    first = build_bundle("3.12", "arm64")
    again = package(Target("3.12", "arm64"), tmp_path / "again.zip", project=REPO_ROOT)
    assert again.path.read_bytes() == first.path.read_bytes()
    with zipfile.ZipFile(again.path) as archive:
        # Nothing in the bundle names the machine or directory it was built in.
        names = archive.namelist()
        assert not [n for n in names if n.endswith("direct_url.json")]
        (record_name,) = [n for n in names if n.startswith("streamway-") and n.endswith("/RECORD")]
        record = archive.read(record_name).decode()
    assert "direct_url.json" not in record


def test_the_check_refuses_a_bundle_with_a_wrong_arch_extension(
    build_bundle: BuildBundle, tmp_path: Path
) -> None:
    arm = unpack(build_bundle("3.12", "arm64").path, tmp_path / "arm")
    assert check_bundle(arm, Target("3.12", "arm64")) == []
    # The same files are wrong for another architecture or Python, and the check says why.
    other_arch = " ".join(m.reason for m in check_bundle(arm, Target("3.12", "x86_64")))
    assert "ELF e_machine 183 (aarch64), not 62 (x86_64)" in other_arch
    assert "cp312-cp312-manylinux_2_17_aarch64" in other_arch  # a WHEEL file's tags
    other_python = " ".join(m.reason for m in check_bundle(arm, Target("3.11", "arm64")))
    assert "ELF" not in other_python
    assert "extension module built for CPython 3.12 on aarch64" in other_python

    # One x86_64 shared object slipped into the arm64 bundle, under an innocent name.
    x86 = unpack(build_bundle(HERE, "x86_64").path, tmp_path / "x86")
    (so,) = list((x86 / "pydantic_core").glob("_pydantic_core.*.so"))
    intruder = arm / "pydantic_core" / "_pydantic_core.abi3.so"
    intruder.write_bytes(so.read_bytes())
    (mismatch,) = check_bundle(arm, Target("3.12", "arm64"))
    assert mismatch.path == "pydantic_core/_pydantic_core.abi3.so"
    assert mismatch.reason == "ELF e_machine 62 (x86_64), not 183 (aarch64)"


def test_package_refuses_a_bundle_that_carries_a_wrong_arch_file(
    build_bundle: BuildBundle, tmp_path: Path
) -> None:
    """package() itself, not only the checker: an aarch64 shared object shipped inside the
    project's own wheel makes the x86_64 build fail, naming the file, and no zip is left."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, project / name)
    shutil.copytree(
        REPO_ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    arm = unpack(build_bundle("3.12", "arm64").path, tmp_path / "arm")
    (aarch64_so,) = list((arm / "pydantic_core").glob("_pydantic_core.*.so"))
    shutil.copy2(aarch64_so, project / "src" / "streamway" / "_vendored.so")

    out = tmp_path / "lambda.zip"
    with pytest.raises(BundleMismatch) as refused:
        package(Target(HERE, "x86_64"), out, project=project)  # type: ignore[arg-type]
    (mismatch,) = refused.value.mismatches
    assert mismatch.path == "streamway/_vendored.so"
    assert mismatch.reason == "ELF e_machine 183 (aarch64), not 62 (x86_64)"
    assert "streamway/_vendored.so" in str(refused.value)
    assert not out.exists()


async def test_bundle_for_this_machine_streams_a_download_through_the_runtime_api(
    build_bundle: BuildBundle, tmp_path: Path
) -> None:
    report = await asyncio.to_thread(build_bundle, HERE, "x86_64")
    task_root = unpack(report.path, tmp_path / "task")
    store = tmp_path / "store"
    store.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 7)
    (store / "big.bin").write_bytes(payload)

    async with RuntimeAPIServer() as api:
        env = {
            "PATH": os.environ["PATH"],
            **api.function_env(),
            "LAMBDA_TASK_ROOT": str(task_root),
            "STREAMWAY_STORE_URL": store.as_uri(),
            "STREAMWAY_MODEL": "openai:unused",
            "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
        }
        log = tmp_path / "function.log"
        process = start_function(task_root, lambda_python(tmp_path), env, log)
        try:
            invocation = await api.invoke(rest_event("/download/big.bin"))
            result = await asyncio.wait_for(invocation.result(), 120)
        finally:
            await asyncio.to_thread(stop_process, process)
    assert result.ok, (result.error, log.read_text()[-3000:])
    assert result.mode == "streaming"
    assert result.response_headers["content-type"] == HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE
    prelude, body = split_prelude(result.body)
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-length"] == str(len(payload))
    assert body == payload
    # Streamed, not buffered: the body arrived as many chunks after the prelude.
    assert len(result.chunks) > 3
