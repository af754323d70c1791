"""Finding the user's code at start-up: a module and an attribute, or the init error Lambda expects.

Every failure is an :class:`InitError` whose ``error_type`` is what AWS's own runtime clients
post to ``/init/error`` for the same mistake (awslambdaric's ``_get_handler`` and the Node.js
client's ``UserFunction``): the runtime posts it and logs one line naming the cause.
"""

from __future__ import annotations

import importlib
from typing import Any

from streamway.aws_contract import (
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    USER_CODE_SYNTAX_ERROR,
)


class InitError(Exception):
    """The function cannot start; ``error_type`` is the one Lambda's runtimes report."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def import_module(name: str) -> Any:
    """The module ``name`` (``/`` allowed for ``.``, as Lambda's handler setting allows)."""
    name = name.replace("/", ".")
    try:
        return importlib.import_module(name)
    except SyntaxError as error:
        where = f" ({error.filename}, line {error.lineno})" if error.filename else ""
        raise InitError(
            f"syntax error in module {name!r}{where}: {error.msg}", USER_CODE_SYNTAX_ERROR
        ) from error
    except ImportError as error:
        raise InitError(f"cannot import module {name!r}: {error}", IMPORT_MODULE_ERROR) from error


def attribute_of(module: Any, path: str, *, missing_type: str = HANDLER_NOT_FOUND) -> Any:
    """``module``'s attribute ``path`` (dots walk into objects: ``handlers.Chat.stream``)."""
    target = module
    for name in path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise InitError(
                f"{module.__name__!r} has no attribute {path!r}", missing_type
            ) from None
    return target
