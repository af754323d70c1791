"""Plain handlers that write to their log, for ``LogType=Tail`` (``STREAMWAY_HANDLER``).

``lines``: how many numbered lines go to stdout (each names the request); one line goes to
stderr; the last line is written just before the answer ends, so it is in the pipe, not yet
read, when the invocation ends. ``fail``: the handler fails after its first chunk.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from streamway.aws_lambda import LambdaContext

#: Each stdout line's filler, so a few dozen lines pass the tail's 4 KB.
PAD = "." * 100


def noisy(event: Any, context: LambdaContext) -> Iterator[str]:
    lines = int(event.get("lines", 1)) if isinstance(event, dict) else 1
    for number in range(lines):
        print(f"line {number} of {context.aws_request_id} {PAD}")
    print(f"to stderr from {context.aws_request_id}", file=sys.stderr)
    yield "logged"
    if isinstance(event, dict) and event.get("fail"):
        print("about to fail")
        raise RuntimeError("failed after logging")
    print(f"last line of {context.aws_request_id}")
