"""What ``streamway package | synth | deploy`` do, apart from typer: each returns an exit
status and explains failures in one message on stderr instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streamway.deploy.agentcore_settings import (
    AgentCoreDeploySettings,
    NotForAgentCore,
    agentcore_for,
)
from streamway.deploy.app_inputs import NATIVE_ONLY, AppInputError, UserApp, default_stack_name
from streamway.deploy.package_command import run_package, run_package_app
from streamway.deploy.settings import DeploySettings, LocalModelRefused
from streamway.deploy.synth import needs_bundle

#: The settings synth and deploy also take as options.
_FLAGS = {
    "python": "--python",
    "arch": "--arch",
    "stack_name": "--stack-name",
    "bundle": "--bundle",
    "max_concurrency": "--max-concurrency",
    "subnet_ids": "--subnet",
    "security_group_ids": "--security-group",
    "container": "--container",
    "idle_timeout_s": "--idle-timeout",
    "max_lifetime_s": "--max-lifetime",
    "discovery_url": "--discovery-url",
    "allowed_clients": "--allowed-client",
}


def _fail(message: object) -> int:
    if isinstance(message, ValidationError):
        message = _one_line(message)
    print(f"streamway: {message}", file=sys.stderr)
    return 1


def _one_line(error: ValidationError) -> str:
    """Each invalid setting by the variable (and option) that sets it, rather than pydantic's
    multi-line report."""
    parts = []
    for item in error.errors():
        field = "_".join(map(str, item["loc"]))
        if not field:
            parts.append(item["msg"])
            continue
        prefix = "AGENTCORE_" if error.title == "AgentCoreDeploySettings" else ""
        name = field if field.isupper() else f"STREAMWAY_DEPLOY_{prefix}{field.upper()}"
        flag = f" ({_FLAGS[field]})" if field in _FLAGS else ""
        parts.append(f"{name}{flag}: {item['msg']}")
    return "; ".join(parts)


@dataclass(frozen=True)
class StackRequest:
    """What ``synth`` and ``deploy`` were asked for on the command line: overrides of
    :class:`DeploySettings` and, with ``--app``/``--handler``, the user's app."""

    overrides: Mapping[str, Any] = field(default_factory=dict)
    app: UserApp | None = None
    #: For deploy's package step of an app: its requirements file (else found in --source).
    requirements: Path | None = None
    #: ``lambda`` (API Gateway and functions) or ``agentcore`` (an AgentCore Runtime), and
    #: the latter's overrides of :class:`AgentCoreDeploySettings`.
    target: str = "lambda"
    agentcore: Mapping[str, Any] = field(default_factory=dict)


def _settings(request: StackRequest) -> DeploySettings:
    settings = DeploySettings(**request.overrides)
    if request.app is None:
        settings.require_remote_model()
    elif settings.runtime != "native":
        raise AppInputError(NATIVE_ONLY)
    elif "stack_name" not in settings.model_fields_set:
        settings = settings.model_copy(
            update={"stack_name": default_stack_name(request.app.source)}
        )
    return settings


def _stack_settings(request: StackRequest) -> tuple[DeploySettings, AgentCoreDeploySettings | None]:
    settings = _settings(request)
    found = agentcore_for(
        request.target, request.agentcore, settings, user_app=request.app is not None
    )
    return settings, found


def _announce(request: StackRequest) -> None:
    app = request.app
    if app is not None and app.function_url and app.function_url_auth == "NONE":
        print(
            "streamway: warning: the function URL is public (--function-url-auth NONE): anyone "
            "with the URL can call the app, without the API's key, Cognito or WAF",
            file=sys.stderr,
        )


def run_synth(out: Path, request: StackRequest = StackRequest()) -> int:
    try:
        settings, agentcore = _stack_settings(request)
        from streamway.deploy.synth import MissingBundle, synth
    except (LocalModelRefused, ValidationError, AppInputError, NotForAgentCore) as error:
        return _fail(error)
    except ImportError as error:
        return _fail(f"{error}: synth needs the deploy extra (pip install 'streamway[deploy]')")
    _announce(request)
    try:
        result = synth(settings, out, user_app=request.app, agentcore=agentcore)
    except MissingBundle as error:
        return _fail(error)
    print(f"wrote {result.template}")
    return 0


def run_deploy(
    out: Path, *, approve: bool, profile: str | None, request: StackRequest = StackRequest()
) -> int:
    from streamway.deploy.cdk_cli import NoCdkCli, deploy_command
    from streamway.deploy.credentials import NoCredentials, require_credentials

    # Cheap refusals first: the model, then credentials; packaging and synth take minutes.
    try:
        settings, agentcore = _stack_settings(request)
        method = require_credentials(profile)
        print(f"AWS credentials found ({method})", file=sys.stderr)
    except (
        LocalModelRefused,
        ValidationError,
        AppInputError,
        NotForAgentCore,
        NoCredentials,
    ) as error:
        return _fail(error)
    missing = needs_bundle(settings, agentcore) and not settings.bundle_path.is_file()
    if missing and (status := _package_for(settings, request)):
        return status
    if status := run_synth(out, request):
        return status
    try:
        command = deploy_command(
            out,
            settings.stack_name,
            approve=approve,
            profile=profile,
            outputs_file=out / "outputs.json",
        )
    except NoCdkCli as error:
        return _fail(error)
    print("running " + " ".join(command), file=sys.stderr)
    return subprocess.run(command, check=False).returncode


def _package_for(settings: DeploySettings, request: StackRequest) -> int:
    """Builds the missing bundle the stack deploys: streamway's own, or the user's app."""
    if request.app is None:
        return run_package(
            python=settings.python,
            arch=settings.arch,
            out=settings.bundle_path,
            with_local_model=False,
            find_links=(),
            pin=True,
            project=None,
        )
    app = request.app
    status: int = run_package_app(
        app=app.app,
        handler=app.handler,
        source=app.source,
        requirements=request.requirements,
        python=settings.python,
        arch=settings.arch,
        out=settings.bundle_path,
        find_links=(),
    )
    return status
