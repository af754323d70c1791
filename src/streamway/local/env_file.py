"""``--env-file``: a dotenv file read into the functions' environment.

The syntax is the common subset of dotenv files (python-dotenv, Docker's ``--env-file``,
``sam local --env-vars`` aside), one assignment per line:

- ``KEY=VALUE``, optionally after ``export``; spaces around the name, the ``=`` and an
  unquoted value are dropped; an empty value is the empty string;
- blank lines and lines starting with ``#`` are skipped, and `` #`` starts a comment after an
  unquoted value;
- ``'single quotes'`` keep their text as is; ``"double quotes"`` understand ``\\n``, ``\\t``,
  ``\\"`` and ``\\\\``; a quoted value ends on its own line.

No ``${VAR}`` expansion and no multi-line values: a file that needs them says so with an
error naming the line, rather than being read differently from what the user meant.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class EnvFileError(ValueError):
    """The file cannot be read, or a line is not an assignment."""


def read_env_file(path: Path) -> dict[str, str]:
    """The file's assignments, in order (a later one wins); raises :class:`EnvFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise EnvFileError(f"cannot read the env file {path}: {reason}") from None
    return parse_env(text, str(path))


def parse_env(text: str, name: str = "<env>") -> dict[str, str]:
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            key, value = _assignment(stripped)
        except ValueError as error:
            raise EnvFileError(f"{name}, line {number}: {error}") from None
        env[key] = value
    return env


def _assignment(line: str) -> tuple[str, str]:
    if line.startswith("export ") or line.startswith("export\t"):
        line = line[len("export") :].lstrip()
    key, equals, rest = line.partition("=")
    key = key.strip()
    if not equals:
        raise ValueError(f"expected KEY=VALUE, not {line!r}")
    if not _NAME.fullmatch(key):
        raise ValueError(f"{key!r} is not a variable name")
    return key, _value(rest.strip())


def _value(text: str) -> str:
    if not text or text[0] not in "'\"":
        # Unquoted: up to a comment (a # after whitespace), trailing spaces dropped.
        return re.split(r"\s#", text, maxsplit=1)[0].rstrip()
    quote = text[0]
    value: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == quote:
            _after_quote(text[index + 1 :])
            return "".join(value)
        if char == "\\" and quote == '"' and index + 1 < len(text):
            following = text[index + 1]
            value.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        value.append(char)
        index += 1
    raise ValueError(f"the {quote} quote is not closed on this line")


def _after_quote(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"unexpected {rest!r} after the closing quote")
