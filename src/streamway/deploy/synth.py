"""Synthesizing the stack in-process, offline: no credentials, no CDK CLI, no Docker.

``streamway synth`` and ``deploy/app.py`` (what ``cdk`` runs) both come here, so the
template a test inspects is the template ``cdk deploy`` uploads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamway.deploy.app_inputs import UserApp
from streamway.deploy.settings import DeploySettings

if TYPE_CHECKING:  # aws_cdk is imported only when a stack is actually built
    import aws_cdk

    from streamway.deploy.agentcore_settings import AgentCoreDeploySettings


class MissingBundle(FileNotFoundError):
    """The native runtime needs the zip from ``streamway package`` before synthesis."""


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stack_name: str

    @property
    def template(self) -> Path:
        return self.outdir / f"{self.stack_name}.template.json"


def synth(
    settings: DeploySettings,
    outdir: Path,
    *,
    project_root: Path | None = None,
    user_app: UserApp | None = None,
    agentcore: AgentCoreDeploySettings | None = None,
) -> Synthesized:
    """Writes the cloud assembly (templates and assets) to ``outdir``: streamway's own stack,
    with ``user_app`` the stack of a user's app, with ``agentcore`` an AgentCore Runtime."""
    if user_app is None:
        settings.require_remote_model()  # before anything slow
    if needs_bundle(settings, agentcore) and not settings.bundle_path.is_file():
        command = package_command(settings, user_app)
        raise MissingBundle(f"{settings.bundle_path} does not exist: build it with `{command}`")
    # jsii prints a banner about Node 20's end of life on every import otherwise.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk

    cdk_app = aws_cdk.App(outdir=str(outdir))
    build_stack(
        cdk_app, settings, project_root=project_root, user_app=user_app, agentcore=agentcore
    )
    cdk_app.synth()
    return Synthesized(outdir, settings.stack_name)


def needs_bundle(
    settings: DeploySettings, agentcore: AgentCoreDeploySettings | None = None
) -> bool:
    """Whether the stack deploys the zip of ``streamway package`` (not a container image)."""
    if agentcore is not None:
        return not agentcore.container
    return settings.runtime == "native"


def package_command(settings: DeploySettings, app: UserApp | None = None) -> str:
    """The ``streamway package`` command line that writes the bundle these settings deploy."""
    words = ["streamway", "package"]
    if app is not None:
        words += ["--app", app.app] if app.app else ["--handler", app.spec]
        if app.source != Path():
            words += ["--source", str(app.source)]
    words += ["--python", settings.python, "--arch", settings.arch]
    return " ".join([*words, "--out", str(settings.bundle_path)])


def build_stack(
    app: aws_cdk.App,
    settings: DeploySettings,
    *,
    project_root: Path | None = None,
    user_app: UserApp | None = None,
    agentcore: AgentCoreDeploySettings | None = None,
) -> aws_cdk.Stack:
    """The stack inside ``app``, for the region and account the settings name: streamway's
    own, with ``user_app`` the stack of a user's app, with ``agentcore`` an AgentCore
    Runtime."""
    import aws_cdk

    env = aws_cdk.Environment(region=settings.region, account=settings.account)
    name = settings.stack_name
    if agentcore is not None:
        from streamway.deploy.agentcore_stack import AgentCoreStack

        return AgentCoreStack(
            app, name, settings=settings, agentcore=agentcore, project_root=project_root, env=env
        )
    if user_app is not None:
        from streamway.deploy.app_stack import AppStack

        return AppStack(app, name, settings=settings, app=user_app, env=env)
    from streamway.deploy.stack import StreamwayStack

    return StreamwayStack(app, name, settings=settings, project_root=project_root, env=env)
