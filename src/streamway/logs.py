"""Logs for a person and for a machine: each record carries the id of the request it belongs to.

The request id lives in a context variable, so every log call made while a request is being
handled (in the route, the agent layer, a provider) is tagged without passing it around.

Four shapes of the same records (see docs/observability.md):

- ``text``: one readable line, coloured when stderr is a terminal (time, level, request id,
  message, then the record's fields as ``key=value``), as uvicorn prints for a person;
- ``json``: one JSON object per line for log shippers (``time``, ``level``, ``logger``,
  ``message``, ``request_id`` and the fields);
- under the Lambda runtime, Lambda's own shapes: JSON with the field names of Lambda's JSON
  log format (``timestamp``, ``level``, ``message``, ``logger``, ``requestId``, and
  ``errorType``/``errorMessage``/``stackTrace`` for exceptions), or Lambda's text line when
  the function's log format is Text.

No shape carries uvicorn's ``color_message`` field: its escape codes are noise in a log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "text", "json"]
LambdaLogFormat = Literal["json", "text"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "streamway_request_id", default=None
)
#: The Lambda invocation's request id, set by the Lambda runtime for each invocation. Lambda's
#: log formats report this one as ``requestId``; the app's own request id (``X-Request-Id``,
#: above) can differ and is then logged beside it.
invocation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "streamway_invocation_id", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
# uvicorn adds `color_message` (its message with escape codes) to some records: never logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}

#: A field's value in a text line is cut after this many characters: a line stays a line.
_TEXT_VALUE_CHARS = 200


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with ``extra=``."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


def _utc_timestamp(record: logging.LogRecord) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z"
    )


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON line with the request id and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# uvicorn's colours for levels (uvicorn.logging.ColourizedFormatter), as SGR codes.
_LEVEL_COLOURS = {
    "DEBUG": "36",  # cyan
    "INFO": "32",  # green
    "WARNING": "33",  # yellow
    "ERROR": "31",  # red
    "CRITICAL": "91",  # bright red
}


class TextFormatter(logging.Formatter):
    """One line a person reads: ``12:04:05.123 INFO     3f2a…  message  key=value ...``.

    The request id is shortened to its first 8 characters only when it is a generated
    32-hex one; a caller's own id is shown whole. Colour only when asked (a terminal, and
    ``NO_COLOR`` unset); without it the line has no escape codes at all.
    """

    def __init__(self, *, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = record.levelname
        parts = [
            self._paint("2", f"{clock}.{int(record.msecs):03d}"),
            self._paint(_LEVEL_COLOURS.get(level, "0"), f"{level:<8}"),
        ]
        request_id = invocation_id_var.get() or request_id_var.get()
        if request_id is not None:
            parts.append(self._paint("2", _short_id(request_id)))
        parts.append(self._paint("1", record.getMessage()) if self.colour else record.getMessage())
        fields = record_fields(record)
        if fields:
            parts.append(" ".join(f"{key}={_text_value(value)}" for key, value in fields.items()))
        line = "  ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _short_id(request_id: str) -> str:
    if len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id):
        return request_id[:8]
    return request_id


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if " " in text and isinstance(value, str):
        text = json.dumps(text, ensure_ascii=False)
    if len(text) > _TEXT_VALUE_CHARS:
        text = text[: _TEXT_VALUE_CHARS - 1] + "…"
    return text


class LambdaJsonFormatter(logging.Formatter):
    """Lambda's JSON log format, as the managed Python runtime writes it.

    ``timestamp`` (UTC, milliseconds), ``level``, ``message``, ``logger``, ``requestId`` (the
    invocation's), the record's fields as they are, and for an exception ``errorType``,
    ``errorMessage`` and ``stackTrace`` (a list of lines). The app's own request id, when
    it differs from the invocation's, is ``xRequestId`` (what the ``X-Request-Id`` response
    header says). Fields that are None are left out, as Lambda's formatter does.
    """

    def format(self, record: logging.LogRecord) -> str:
        invocation_id = invocation_id_var.get()
        request_id = request_id_var.get()
        entry: dict[str, Any] = {
            "timestamp": _utc_timestamp(record),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": invocation_id,
        }
        if request_id is not None and request_id != invocation_id:
            entry["xRequestId"] = request_id
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["errorType"] = type(error).__name__
            entry["errorMessage"] = str(error)
            entry["stackTrace"] = traceback.format_tb(error.__traceback__)
            entry["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record_fields(record).items():
            entry.setdefault(key, value)
        return json.dumps(
            {key: value for key, value in entry.items() if value is not None},
            default=str,
            ensure_ascii=False,
        )


class LambdaTextFormatter(logging.Formatter):
    """Lambda's text format (the Python runtime's): ``[LEVEL]\\ttimestamp\\trequestId\\tmessage``,
    with the record's fields appended as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = invocation_id_var.get() or request_id_var.get() or ""
        line = f"[{record.levelname}]\t{_utc_timestamp(record)}\t{request_id}\t"
        line += record.getMessage()
        fields = record_fields(record)
        if fields:
            line += "\t" + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        if record.exc_info:
            # One log event per line in CloudWatch: the traceback stays in this one.
            line += "\r" + self.formatException(record.exc_info).replace("\n", "\r")
        return line


class AlreadyLogged(Exception):
    """An exception streamway logged, with its request id, before raising it on purpose.

    Raising after a response started is how an ASGI app makes the server drop the connection
    (see ``StreamAborted``); uvicorn then logs its own "Exception in ASGI application"
    traceback, without the request id, which would report the same failure twice.
    """


class _DropAlreadyLogged(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, AlreadyLogged)


def wants_colour(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Colour for a terminal, unless ``NO_COLOR`` (no-color.org) is set or TERM is dumb."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def formatter_for(log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    """``text`` or ``json``; ``auto`` is text on a terminal and JSON lines otherwise."""
    if log_format == "auto":
        log_format = "text" if _isatty(stream) else "json"
    if log_format == "text":
        return TextFormatter(colour=wants_colour(stream))
    return JsonLinesFormatter()


def configure_logging(
    level: str = "INFO",
    log_format: LogFormat = "auto",
    *,
    formatter: logging.Formatter | None = None,
) -> None:
    """Send streamway's and uvicorn's logs to stderr, one record per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter or formatter_for(log_format, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropAlreadyLogged) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_DropAlreadyLogged())
    # streamway writes its own access line (with the request id); uvicorn's would be a duplicate.
    logging.getLogger("uvicorn.access").disabled = True


#: Lambda's application log levels (advanced logging controls) -> Python's.
_LAMBDA_LEVELS = {
    "TRACE": "DEBUG",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
}


def lambda_logging(
    env: Mapping[str, str], level: str, log_format: str | None
) -> tuple[str, LambdaLogFormat]:
    """The level and shape of logs under the Lambda runtime, from Lambda's advanced logging
    controls and streamway's settings.

    - Shape: ``STREAMWAY_LOG_FORMAT`` when set to ``text`` or ``json``; else the function's
      log format, ``AWS_LAMBDA_LOG_FORMAT`` (``JSON`` or ``Text``); else JSON, so that
      CloudWatch Logs Insights finds the fields.
    - Level: ``AWS_LAMBDA_LOG_LEVEL`` when set (Lambda sets it with the JSON format, and
      drops lines below it anyway; TRACE is DEBUG and FATAL is CRITICAL, as the Python
      runtime maps them), else ``level`` (``STREAMWAY_LOG_LEVEL``).
    """
    chosen: LambdaLogFormat
    if log_format in ("text", "json"):
        chosen = "text" if log_format == "text" else "json"
    else:
        chosen = "text" if env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "TEXT" else "json"
    lambda_level = _LAMBDA_LEVELS.get(env.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    return lambda_level or level, chosen


def configure_lambda_logging(level: str, log_format: str | None = None) -> None:
    """Logging for ``python -m streamway.aws_lambda``: Lambda's JSON or text lines."""
    level, chosen = lambda_logging(os.environ, level, log_format)
    formatter = LambdaJsonFormatter() if chosen == "json" else LambdaTextFormatter()
    configure_logging(level, formatter=formatter)
