"""A dotenv file, as ``--env-file`` of ``local``, ``synth`` and ``deploy`` read it.

One reader for all three, so the same file means the same environment on this machine and on
AWS. python-dotenv parses it (comments, ``export``, single and double quotes, escapes in
double quotes); on top of it, a line that is not an assignment is an error naming the line
(python-dotenv would skip it with a warning), and there is no ``${VAR}`` expansion: a value
is what the file says, whatever the environment of the machine that reads it.
"""

from __future__ import annotations

import io
from pathlib import Path


class EnvFileError(ValueError):
    """The file cannot be read, or a line of it is not ``KEY=VALUE``."""


def read_env_file(path: Path) -> dict[str, str]:
    """The file's assignments, in order (a later one wins); raises :class:`EnvFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise EnvFileError(f"{path}: {error.strerror or error}") from None
    return parse_env(text, str(path))


def parse_env(text: str, name: str = "<env>") -> dict[str, str]:
    """The assignments of a dotenv text; ``name`` (the file) starts every error."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        where = f"{name}, line {binding.original.line}"
        if binding.error:
            raise EnvFileError(f"{where}: not KEY=VALUE: {binding.original.string.strip()!r}")
        if binding.key is not None and binding.value is None:
            raise EnvFileError(f"{where}: {binding.key} has no value (write {binding.key}=)")
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value or "" for key, value in parsed.items()}
