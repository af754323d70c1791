"""What ``streamway synth|deploy --app`` deploys besides :class:`DeploySettings`: the user's app
or plain handler, its environment (a dotenv file) and extra IAM statements (a JSON file).

Everything is checked here, before CDK is imported, so a mistake in a file is one line on
stderr in a second rather than a CloudFormation failure minutes into a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from streamway.deploy.policy import Statement

FunctionUrlAuth = Literal["AWS_IAM", "NONE"]

#: Keys Lambda sets itself and refuses in a function's configuration (Lambda developer guide,
#: "Defined runtime environment variables"), and the ones this stack sets from its options.
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)
STACK_KEYS = frozenset(
    {
        "STREAMWAY_APP",
        "STREAMWAY_HANDLER",
        "STREAMWAY_LAMBDA_INVOKE_MODE",
        "AWS_LAMBDA_EXEC_WRAPPER",
    }
)

#: Lambda's pattern for a variable name (its API refuses others, e.g. one letter).
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]+")
_APP = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_HANDLER = re.compile(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*")
_SID = re.compile(r"[A-Za-z0-9]+")
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})


NATIVE_ONLY = (
    "an app deploys on streamway's native runtime (a zip), not the LWA image: unset "
    "STREAMWAY_DEPLOY_RUNTIME"
)


class AppInputError(ValueError):
    """An --app/--handler, --env-file or --policy that cannot be deployed; the message is one
    line naming the file and the cause."""


@dataclass(frozen=True)
class UserApp:
    """The user's code as the stack deploys it: exactly one of ``app`` (an ASGI app,
    ``module:attr``) and ``handler`` (a plain handler, ``module.func``)."""

    app: str | None = None
    handler: str | None = None
    source: Path = Path()
    environment: Mapping[str, str] = field(default_factory=dict)
    statements: tuple[Statement, ...] = ()
    function_url: bool = False
    function_url_auth: FunctionUrlAuth = "AWS_IAM"

    def __post_init__(self) -> None:
        if (self.app is None) == (self.handler is None):
            raise AppInputError("give exactly one of --app module:attr and --handler module.func")
        if self.app is not None and not _APP.fullmatch(self.app):
            raise AppInputError(f"--app must look like module:attribute, not {self.app!r}")
        if self.handler is not None and not _HANDLER.fullmatch(self.handler):
            raise AppInputError(f"--handler must look like module.function, not {self.handler!r}")

    @property
    def spec(self) -> str:
        return self.app or self.handler or ""

    @property
    def spec_environment(self) -> dict[str, str]:
        """The runtime's variable naming the code: STREAMWAY_APP or STREAMWAY_HANDLER."""
        if self.app is not None:
            return {"STREAMWAY_APP": self.app}
        return {"STREAMWAY_HANDLER": self.spec}


def load_user_app(
    *,
    app: str | None,
    handler: str | None,
    source: Path | None = None,
    env_file: Path | None = None,
    policy: Path | None = None,
    function_url: bool = False,
    function_url_auth: str | None = None,
) -> UserApp | None:
    """The :class:`UserApp` the command-line options describe, its files read and checked;
    None when they name no app (streamway's own stack)."""
    if app is None and handler is None:
        app_only = {
            "--source": source,
            "--env-file": env_file,
            "--policy": policy,
            "--function-url": function_url or None,
            "--function-url-auth": function_url_auth,
        }
        for option, value in app_only.items():
            if value is not None:
                raise AppInputError(f"{option} needs --app module:attr or --handler module.func")
        return None
    if function_url_auth is not None and not function_url:
        raise AppInputError("--function-url-auth needs --function-url")
    if source is not None and not source.is_dir():
        raise AppInputError(f"--source {source} is not a directory")
    auth = function_url_auth or "AWS_IAM"
    if auth not in ("AWS_IAM", "NONE"):
        raise AppInputError(f"--function-url-auth is AWS_IAM or NONE, not {auth!r}")
    return UserApp(
        app=app,
        handler=handler,
        source=source or Path(),
        environment=read_env_file(env_file) if env_file else {},
        statements=read_policy(policy) if policy else (),
        function_url=function_url,
        function_url_auth=auth,  # type: ignore[arg-type]  # checked above
    )


def default_stack_name(source: Path) -> str:
    """``<directory>-streamway`` from the app's directory, as CloudFormation spells names."""
    words = re.findall(r"[A-Za-z0-9]+", source.resolve().name)
    name = "-".join(words).lstrip("0123456789-") or "app"
    return f"{name}-streamway"[:128]


def read_env_file(path: Path) -> dict[str, str]:
    """The function's environment from a dotenv file, refusing what Lambda would refuse at
    deployment time (a reserved name, a name it does not accept) and the stack's own keys."""
    values = _parse_dotenv(path)
    for key in values:
        if not _ENV_KEY.fullmatch(key):
            raise AppInputError(
                f"--env-file {path}: Lambda refuses the name {key!r} (a letter, then at least "
                "one letter, digit or _)"
            )
        if key in RESERVED_KEYS:
            raise AppInputError(f"--env-file {path}: Lambda reserves {key}; remove it")
        if key in STACK_KEYS:
            raise AppInputError(
                f"--env-file {path}: the stack sets {key} itself (from --app/--handler)"
            )
    return values


def _parse_dotenv(path: Path) -> dict[str, str]:
    from streamway.env_file import EnvFileError
    from streamway.env_file import read_env_file as read_dotenv

    try:
        return read_dotenv(path)
    except EnvFileError as error:
        raise AppInputError(f"--env-file {error}") from None


def read_policy(path: Path) -> tuple[Statement, ...]:
    """IAM statements from a JSON file: a list of statements, or a policy document holding one
    under ``Statement``. Each has ``Action`` and ``Resource`` (a string or a list of them) and
    may have ``Sid``, ``Effect`` (``Allow`` when absent) and ``Condition``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise AppInputError(f"--policy {path}: {_reason(error)}") from error
    except json.JSONDecodeError as error:
        raise AppInputError(f"--policy {path}: not JSON: {error}") from error
    if isinstance(document, dict) and "Statement" in document:
        document = document["Statement"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise AppInputError(f"--policy {path}: expected a non-empty list of IAM statements")
    return tuple(
        _statement(f"--policy {path}, statement {i + 1}", s) for i, s in enumerate(document)
    )


def _statement(where: str, raw: Any) -> Statement:
    if not isinstance(raw, dict):
        raise AppInputError(f"{where}: a statement is a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise AppInputError(f"{where}: unknown key {unknown[0]!r} (allowed: {_allowed()})")
    sid = raw.get("Sid")
    if sid is not None and not (isinstance(sid, str) and _SID.fullmatch(sid)):
        raise AppInputError(f"{where}: Sid must be letters and digits only, not {sid!r}")
    effect = raw.get("Effect", "Allow")
    if effect not in ("Allow", "Deny"):
        raise AppInputError(f"{where}: Effect is Allow or Deny, not {effect!r}")
    condition = raw.get("Condition", {})
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        raise AppInputError(f"{where}: Condition maps operators to objects, e.g. StringEquals")
    return Statement(
        sid=sid,
        actions=_strings(where, raw, "Action"),
        resources=_strings(where, raw, "Resource"),
        conditions=condition,
        effect=effect,
    )


def _strings(where: str, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise AppInputError(f"{where}: {key} must be a string or a non-empty list of strings")
    return tuple(values)


def _allowed() -> str:
    return ", ".join(sorted(_STATEMENT_KEYS))


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(getattr(error, "strerror", None) or error)
