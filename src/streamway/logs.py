"""Structured logs: one JSON object per line, each carrying the id of the request it belongs to.

The request id lives in a context variable, so every log call made while a request is being
handled (in the route, the agent layer, a provider) is tagged without passing it around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "streamway_request_id", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON line with the request id and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


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


def configure_logging(level: str = "INFO") -> None:
    """Send streamway's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
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
