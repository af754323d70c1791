"""The one dotenv reader of ``--env-file`` (local, synth and deploy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamway.env_file import EnvFileError, parse_env, read_env_file


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
            "REF=${PLAIN}-2",
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
        "REF": "${PLAIN}-2",  # as written: no expansion
    }


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("NOT AN ASSIGNMENT", "line 2: not KEY=VALUE: 'NOT AN ASSIGNMENT'"),
        ("1ABC x", "line 2: not KEY=VALUE: '1ABC x'"),
        ("AFTER='x' y", "line 2: not KEY=VALUE: \"AFTER='x' y\""),
        ("FLAG", "line 2: FLAG has no value (write FLAG=)"),
    ],
)
def test_a_bad_line_is_named(line: str, error: str) -> None:
    with pytest.raises(EnvFileError) as raised:
        parse_env(f"OK=1\n{line}\n", "app.env")
    assert str(raised.value) == f"app.env, {error}"


def test_a_missing_or_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError) as raised:
        read_env_file(tmp_path / "nope.env")
    assert str(raised.value) == f"{tmp_path / 'nope.env'}: no such file"
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"NAME=caf\xe9\n")
    with pytest.raises(EnvFileError, match=r"latin\.env: not UTF-8 text$"):
        read_env_file(latin)
