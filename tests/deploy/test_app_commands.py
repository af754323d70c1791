"""``streamway synth|deploy --app`` as a user runs them, where they stop early: bad options and
files, a missing bundle, no credentials. Each is one line on stderr, never a traceback, and
none of them starts CDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.cli_run import cli_env, run_streamway

pytestmark = pytest.mark.timeout(120)


def _lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()


def test_a_missing_env_file_is_a_usage_error(tmp_path: Path) -> None:
    completed = run_streamway(
        ["synth", "--app", "main:app", "--env-file", "prod.env"], cli_env(tmp_path), tmp_path
    )
    assert completed.returncode == 2
    assert _lines(completed.stderr) == ["streamway: --env-file prod.env: no such file"]


def test_a_bad_policy_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text('{"Action": "s3:GetObject"}')
    completed = run_streamway(
        ["synth", "--handler", "main.stream", "--policy", "policy.json"],
        cli_env(tmp_path),
        tmp_path,
    )
    assert completed.returncode == 2
    assert _lines(completed.stderr) == [
        "streamway: --policy policy.json, statement 1: Resource must be a string or a "
        "non-empty list of strings"
    ]
    assert not (tmp_path / "cdk.out").exists()


def test_app_options_without_an_app(tmp_path: Path) -> None:
    completed = run_streamway(["deploy", "--function-url"], cli_env(tmp_path), tmp_path)
    assert completed.returncode == 2
    assert _lines(completed.stderr) == [
        "streamway: --function-url needs --app module:attr or --handler module.func"
    ]


def test_a_public_function_url_warns_and_a_missing_bundle_says_how_to_build_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "web").mkdir()
    args = ["synth", "--app", "main:app", "--source", "web", "--arch", "x86_64"]
    args += ["--function-url", "--function-url-auth", "NONE"]
    completed = run_streamway(args, cli_env(tmp_path), tmp_path)
    assert completed.returncode == 1
    warning, error = _lines(completed.stderr)
    assert warning.startswith("streamway: warning: the function URL is public")
    assert error == (
        "streamway: dist/lambda-3.12-x86_64.zip does not exist: build it with `streamway "
        "package --app main:app --source web --python 3.12 --arch x86_64 --out "
        "dist/lambda-3.12-x86_64.zip`"
    )


def test_an_app_needs_no_model(tmp_path: Path) -> None:
    """STREAMWAY_MODEL=local is refused for streamway's own stack only: a user's app has no
    model setting, so synth gets as far as the bundle."""
    env = cli_env(tmp_path, STREAMWAY_MODEL="local")
    completed = run_streamway(["synth", "--handler", "h.stream"], env, tmp_path)
    assert completed.returncode == 1
    (error,) = _lines(completed.stderr)
    assert "streamway package --handler h.stream --python 3.12" in error


def test_an_app_runs_on_the_native_runtime_only(tmp_path: Path) -> None:
    env = cli_env(tmp_path, STREAMWAY_DEPLOY_RUNTIME="lwa")
    completed = run_streamway(["synth", "--app", "main:app"], env, tmp_path)
    assert completed.returncode == 1
    (error,) = _lines(completed.stderr)
    assert "an app deploys on streamway's native runtime (a zip), not the LWA image" in error


def test_deploy_without_credentials_stops_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("app = None\n")
    completed = run_streamway(
        ["deploy", "--app", "main:app", "--out", "out"], cli_env(tmp_path), tmp_path
    )
    assert completed.returncode == 1
    assert "no AWS credentials found" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "out").exists()


def test_a_bad_setting_is_one_line_naming_its_variable_and_option(tmp_path: Path) -> None:
    env = cli_env(tmp_path, STREAMWAY_DEPLOY_MEMORY_MB="64")
    completed = run_streamway(["synth", "--app", "main:app", "--python", "3.10"], env, tmp_path)
    assert completed.returncode == 1
    assert _lines(completed.stderr) == [
        "streamway: STREAMWAY_DEPLOY_PYTHON (--python): Input should be '3.11', '3.12' or "
        "'3.13'; STREAMWAY_DEPLOY_MEMORY_MB: Input should be greater than or equal to 128"
    ]
