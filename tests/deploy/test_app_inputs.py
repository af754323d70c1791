"""The user's app, --env-file and --policy, checked before CDK: each mistake is one line that
names the file, the place and the cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamway.deploy.app_inputs import (
    AppInputError,
    UserApp,
    default_stack_name,
    load_user_app,
    read_env_file,
    read_policy,
)
from streamway.deploy.policy import Statement


def _env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def _policy(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _error(excinfo: pytest.ExceptionInfo[AppInputError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_env_file_in_dotenv_syntax(tmp_path: Path) -> None:
    text = (
        "# comment\n\nA_B=1\nexport QUOTED='single # not a comment'\n"
        'DOUBLE="two\\nlines"\nTRAILING=x # a comment\nEMPTY=\nREF=${A_B}-2\n'
    )
    assert read_env_file(_env_file(tmp_path, text)) == {
        "A_B": "1",
        "QUOTED": "single # not a comment",
        "DOUBLE": "two\nlines",
        "TRAILING": "x",
        "EMPTY": "",
        "REF": "${A_B}-2",  # as written: no expansion
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GOOD=1\nnot a binding\n", "line 2: not KEY=VALUE: 'not a binding'"),
        ("FLAG\n", "line 1: FLAG has no value (write FLAG=)"),
        ("AWS_REGION=eu-west-1\n", "Lambda reserves AWS_REGION; remove it"),
        ("AWS_ACCESS_KEY_ID=AKIA\n", "Lambda reserves AWS_ACCESS_KEY_ID"),
        ("STREAMWAY_APP=other:app\n", "the stack sets STREAMWAY_APP itself"),
        ("X=1\n", "Lambda refuses the name 'X'"),
        ("1ABC=1\n", "Lambda refuses the name '1ABC'"),
    ],
)
def test_env_file_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    path = _env_file(tmp_path, text)
    with pytest.raises(AppInputError) as excinfo:
        read_env_file(path)
    message = _error(excinfo)
    assert message.startswith(f"--env-file {path}")
    assert expected in message


def test_missing_env_file(tmp_path: Path) -> None:
    with pytest.raises(AppInputError) as excinfo:
        read_env_file(tmp_path / "nope.env")
    assert _error(excinfo) == f"--env-file {tmp_path / 'nope.env'}: no such file"


def test_policy_statements(tmp_path: Path) -> None:
    statements = read_policy(
        _policy(
            tmp_path,
            [
                {"Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:1:q"},
                {
                    "Sid": "NoDelete",
                    "Effect": "Deny",
                    "Action": ["s3:DeleteObject"],
                    "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        )
    )
    assert statements == (
        Statement(None, ("sqs:SendMessage",), ("arn:aws:sqs:eu-west-1:1:q",)),
        Statement(
            "NoDelete",
            ("s3:DeleteObject",),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::c/*"),
            {"Bool": {"aws:SecureTransport": "false"}},
            "Deny",
        ),
    )


def test_a_policy_document_is_accepted_too(tmp_path: Path) -> None:
    statement = {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    (only,) = read_policy(_policy(tmp_path, document))
    assert (only.actions, only.resources) == (("sns:Publish",), ("*",))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("[{", "not JSON: Expecting property name"),
        ([], "expected a non-empty list of IAM statements"),
        ("42", "expected a non-empty list of IAM statements"),
        (["s3:GetObject"], "statement 1: a statement is a JSON object, not str"),
        ([{"Resource": "*"}], "statement 1: Action must be a string or a non-empty list"),
        ([{"Action": [], "Resource": "*"}], "Action must be a string or a non-empty list"),
        ([{"Action": "s3:GetObject"}], "Resource must be a string or a non-empty list"),
        (
            [{"Action": "a:b", "Resource": "*"}, {"Action": "a:b", "Resource": [1]}],
            "statement 2: Resource must be",
        ),
        ([{"Action": "a:b", "Resource": "*", "Effect": "allow"}], "Effect is Allow or Deny"),
        ([{"Action": "a:b", "Resource": "*", "Sid": "no-dash"}], "Sid must be letters and digits"),
        ([{"Action": "a:b", "Resource": "*", "Principal": "*"}], "unknown key 'Principal'"),
        ([{"Action": "a:b", "Resource": "*", "Condition": "x"}], "Condition maps operators"),
    ],
)
def test_policy_mistakes(tmp_path: Path, document: object, expected: str) -> None:
    path = _policy(tmp_path, document)
    with pytest.raises(AppInputError) as excinfo:
        read_policy(path)
    message = _error(excinfo)
    assert message.startswith(f"--policy {path}")
    assert expected in message


@pytest.mark.parametrize(
    ("app", "handler", "expected"),
    [
        (None, None, "give exactly one of --app module:attr and --handler module.func"),
        ("main:app", "main.handler", "give exactly one of"),
        ("main", None, "--app must look like module:attribute, not 'main'"),
        (None, "handler", "--handler must look like module.function, not 'handler'"),
    ],
)
def test_app_or_handler(app: str | None, handler: str | None, expected: str) -> None:
    with pytest.raises(AppInputError, match=expected):
        UserApp(app=app, handler=handler)


def test_handler_forms() -> None:
    assert UserApp(handler="pkg.mod.stream").spec_environment == {
        "STREAMWAY_HANDLER": "pkg.mod.stream"
    }
    assert UserApp(handler="mod:stream").spec == "mod:stream"
    assert UserApp(app="pkg.web:create_app").spec_environment == {
        "STREAMWAY_APP": "pkg.web:create_app"
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"env_file": Path(".env")}, "--env-file needs --app module:attr or --handler"),
        ({"policy": Path("p.json")}, "--policy needs --app"),
        ({"function_url": True}, "--function-url needs --app"),
        ({"source": Path("src")}, "--source needs --app"),
        ({"app": "m:a", "function_url_auth": "NONE"}, "--function-url-auth needs --function-url"),
        ({"app": "m:a", "source": Path("no/such/dir")}, "--source no/such/dir is not a directory"),
        (
            {"app": "m:a", "function_url": True, "function_url_auth": "none"},
            "--function-url-auth is AWS_IAM or NONE, not 'none'",
        ),
    ],
)
def test_option_combinations(options: dict[str, object], expected: str) -> None:
    arguments: dict[str, object] = {"app": None, "handler": None, **options}
    with pytest.raises(AppInputError, match=expected):
        load_user_app(**arguments)  # type: ignore[arg-type]


def test_no_app_is_streamways_own_stack() -> None:
    assert load_user_app(app=None, handler=None) is None


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("my_app", "my-app-streamway"),
        ("hello world.v2", "hello-world-v2-streamway"),
        ("2024-report", "report-streamway"),
        ("日本", "app-streamway"),
    ],
)
def test_default_stack_name(tmp_path: Path, directory: str, expected: str) -> None:
    assert default_stack_name(tmp_path / directory) == expected
