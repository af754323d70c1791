"""``streamway chat --agentcore ARN``: a deployed AgentCore runtime (or ``streamway local``'s)
through botocore's ``bedrock-agentcore`` client, the one boto3 hands out.

Streaming (the default, ``Accept: text/event-stream``) prints each SSE event's text as the
event arrives; ``--json`` asks for one JSON answer and prints it. The session id is made when
not given and printed first (on stderr), so the next prompt can continue the conversation.
botocore comes with the ``deploy`` extra (and ``service``'s aiobotocore); it is imported only
here, so ``streamway chat`` against a URL never needs it.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

BOTOCORE_HINT = "pip install 'streamway[deploy]' (or boto3)"
_REGION = re.compile(r"arn:aws[a-z-]*:bedrock-agentcore:(?P<region>[a-z0-9-]+):")
#: AgentCore's longest synchronous invocation (15 minutes); an answer may take that long.
_READ_TIMEOUT_S = 900


class ChatFailed(Exception):
    """The invocation was refused or its answer failed; the message says why, in one line."""


@dataclass(frozen=True)
class AgentCoreCall:
    arn: str
    prompt: str
    session_id: str | None = None
    qualifier: str | None = None
    endpoint_url: str | None = None
    json_answer: bool = False


def new_session_id() -> str:
    """A session id AgentCore accepts (33 to 256 characters): a UUID is 36."""
    return str(uuid.uuid4())


def invoke(call: AgentCoreCall, session_id: str, write: Callable[[str], None]) -> None:
    """Invokes the runtime and writes the answer as it arrives; raises :class:`ChatFailed`."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ChatFailed(f"--agentcore needs botocore: {BOTOCORE_HINT}") from None
    try:
        response = _client(call).invoke_agent_runtime(**_parameters(call, session_id))
        if call.json_answer or "text/event-stream" not in response.get("contentType", ""):
            write(response["response"].read().decode("utf-8", "replace"))
            return
        for data in sse_data(response["response"]):
            write(_text_of(data))
    except ClientError as error:
        details = error.response.get("Error", {})
        raise ChatFailed(f"{details.get('Code')}: {details.get('Message')}") from None
    except BotoCoreError as error:
        raise ChatFailed(str(error)) from None


def _client(call: AgentCoreCall) -> Any:
    import botocore.session
    from botocore.config import Config

    match = _REGION.match(call.arn)
    return botocore.session.get_session().create_client(
        "bedrock-agentcore",
        region_name=match.group("region") if match else None,
        endpoint_url=call.endpoint_url,
        config=Config(read_timeout=_READ_TIMEOUT_S),
    )


def _parameters(call: AgentCoreCall, session_id: str) -> dict[str, Any]:
    accept = "application/json" if call.json_answer else "text/event-stream"
    parameters: dict[str, Any] = {
        "agentRuntimeArn": call.arn,
        "runtimeSessionId": session_id,
        "payload": json.dumps({"prompt": call.prompt}).encode(),
        "contentType": "application/json",
        "accept": accept,
    }
    if call.qualifier is not None:
        parameters["qualifier"] = call.qualifier
    return parameters


def sse_data(body: Any) -> Iterator[Any]:
    """Each SSE event's data as it arrives (JSON when it parses, else the text).

    Read with urllib3's ``read1``, which returns what has arrived: botocore's own ``read(n)``
    waits for ``n`` bytes, which would hold back a short event.
    """
    raw = getattr(body, "_raw_stream", None)
    read = getattr(raw, "read1", None) or (lambda _size: body.read(1))
    pending = ""
    while piece := read(65536):
        pending += piece.decode("utf-8", "replace").replace("\r\n", "\n")
        while "\n\n" in pending:
            block, pending = pending.split("\n\n", 1)
            data = [line[5:].removeprefix(" ") for line in block.split("\n") if line[:5] == "data:"]
            if data:
                yield _parsed("\n".join(data))


def _parsed(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


def _text_of(data: Any) -> str:
    """What to print of one event: streamway's deltas and the SDK's yielded strings as text,
    the SDK's error event as a failure, anything else as a JSON line."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        if data.get("type") == "delta" and isinstance(data.get("text"), str):
            return str(data["text"])
        if data.get("type") == "done":
            return ""
        if "error" in data:
            raise ChatFailed(f"the answer failed: {data.get('error_type')}: {data['error']}")
    return json.dumps(data, ensure_ascii=False) + "\n"


def run(call: AgentCoreCall) -> None:
    """The command's work: the session line, the answer, a final newline."""
    session_id = call.session_id or new_session_id()
    print(f"session: {session_id}", file=sys.stderr, flush=True)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    invoke(call, session_id, write)
    write("\n")
