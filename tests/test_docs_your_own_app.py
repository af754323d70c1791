"""docs/your-own-app.md: every ``streamway ...`` command line in it parses with the real CLI.

Each line is parsed as the shell would split it (environment assignments in front and
comments dropped) and handed to the Typer app's click command without running it: unknown
options, missing values and values of the wrong type or choice fail here, as they would fail
for a reader who copies the line. The files the commands name are created in a temporary
directory first, so options that must name an existing path are checked too.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

# typer (0.29) carries its own copy of click; its usage error is what a bad line raises.
from typer._click.exceptions import UsageError

from streamway.cli import cli

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "your-own-app.md"

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def guide_commands() -> list[list[str]]:
    """The argument lists of the ``streamway`` lines of the guide's ``sh`` blocks."""
    commands: list[list[str]] = []
    in_shell = False
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_shell = line.strip() == "```sh"
            continue
        if not in_shell:
            continue
        words = shlex.split(line, comments=True)
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words[:1] == ["streamway"]:
            commands.append(words[1:])
    return commands


def _parse(args: list[str]) -> None:
    group = typer.main.get_command(cli)
    assert isinstance(group, typer.core.TyperGroup)
    with group.make_context("streamway", [args[0]]) as context:
        command = group.get_command(context, args[0])
        assert command is not None, args
        command.make_context(args[0], args[1:], parent=context).close()


def test_the_guide_shows_each_step() -> None:
    subcommands = [args[0] for args in guide_commands()]
    assert {"local", "package", "synth", "deploy"} <= set(subcommands)
    assert ["local", "--app", "main:app"] in guide_commands()
    assert ["deploy", "--app", "main:app"] in guide_commands()


def _cases() -> list[object]:
    return [pytest.param(args, id=" ".join(args)) for args in guide_commands()]


@pytest.mark.parametrize("args", _cases())
def test_each_command_parses(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("main.py", "handlers.py", "requirements.txt", ".env", "prod.env"):
        (tmp_path / name).write_text("")
    (tmp_path / "policy.json").write_text("[]")
    monkeypatch.chdir(tmp_path)
    _parse(args)


def test_a_wrong_option_does_not_parse() -> None:
    """The check above can fail: a misspelt option is refused."""
    with pytest.raises(UsageError, match="No such option: --function-urls"):
        _parse(["deploy", "--app", "main:app", "--function-urls"])
