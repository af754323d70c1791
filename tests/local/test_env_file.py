"""--env-file's dotenv reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamway.local.env_file import EnvFileError, parse_env, read_env_file


def test_assignments_comments_quotes_and_export() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "  SPACED = some value   # a comment after it",
            "EMPTY=",
            "export EXPORTED=1",
            "SINGLE='keeps $HOME and \\n as typed'",
            'DOUBLE="line\\nbreak, a \\"quote\\" and # no comment"  # a comment',
            "HASH=a#b",
            "EQUALS=a=b",
            "PLAIN=later wins",
        ]
    )
    assert parse_env(text) == {
        "PLAIN": "later wins",
        "SPACED": "some value",
        "EMPTY": "",
        "EXPORTED": "1",
        "SINGLE": "keeps $HOME and \\n as typed",
        "DOUBLE": 'line\nbreak, a "quote" and # no comment',
        "HASH": "a#b",
        "EQUALS": "a=b",
    }


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("NOT AN ASSIGNMENT", "line 2: expected KEY=VALUE, not 'NOT AN ASSIGNMENT'"),
        ("1ABC=x", "line 2: '1ABC' is not a variable name"),
        ('OPEN="no end', 'line 2: the " quote is not closed on this line'),
        ("AFTER='x' y", "line 2: unexpected 'y' after the closing quote"),
    ],
)
def test_a_bad_line_is_named(line: str, error: str) -> None:
    with pytest.raises(EnvFileError) as raised:
        parse_env(f"OK=1\n{line}\n", "app.env")
    assert str(raised.value) == f"app.env, {error}"


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=r"cannot read the env file .*nope\.env: No such file"):
        read_env_file(tmp_path / "nope.env")
