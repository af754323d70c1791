"""``streamway chat --agentcore ARN``: a deployed AgentCore runtime (or ``streamway local``'s)
through botocore's ``bedrock-agentcore`` client, the one boto3 hands out.

Streaming (the default, ``Accept: text/event-stream``) prints each SSE event's text as the
event arrives; ``--json`` asks for one JSON answer and prints it. The session id is made when
not given and printed first (on stderr), so the next prompt can continue the conversation.

A streamed answer whose connection breaks is resumed as streamway's ``/invocations`` offers:
the same invocation again, same session, with ``Last-Event-ID`` (the id of the last event
printed), which the runtime must pass on (streamway's deploy allowlists it). Only the events
after that id are printed. A runtime that started a new answer instead (the header was not
passed on) is caught by the ids: the first event must be the one after the last printed.
botocore comes with the ``deploy`` extra (and ``service``'s aiobotocore); it is imported only
here, so ``streamway chat`` against a URL never needs it.
"""

from __future__ import annotations

import json
import re
import sys
import time
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


#: The wait before the first reconnect; each further try waits twice as long.
FIRST_WAIT_S = 0.25


class _Dropped(Exception):
    """The answer's connection broke mid-answer."""


def invoke(
    call: AgentCoreCall,
    session_id: str,
    write: Callable[[str], None],
    notice: Callable[[str], None] = lambda _text: None,
    retries: int = 3,
) -> None:
    """Invokes the runtime and writes the answer as it arrives, resuming it after a broken
    connection (see the module doc); raises :class:`ChatFailed`."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ChatFailed(f"--agentcore needs botocore: {BOTOCORE_HINT}") from None
    client = _client(call)
    resume = _Resume()
    client.meta.events.register(
        "before-sign.bedrock-agentcore.InvokeAgentRuntime", resume.add_header
    )
    tries = 0
    while True:
        try:
            response = client.invoke_agent_runtime(**_parameters(call, session_id))
            if call.json_answer or "text/event-stream" not in response.get("contentType", ""):
                write(response["response"].read().decode("utf-8", "replace"))
                return
            for data in resume.new_events(response["response"]):
                tries = 0  # the answer moves again: a later drop gets its own tries
                write(_text_of(data))
            return
        except _Dropped as error:
            if resume.last_id is None or tries >= retries:
                raise ChatFailed(f"the answer did not complete: {error}") from None
            tries += 1
            notice(
                f"the connection dropped; resuming after event {resume.last_id} "
                f"(try {tries} of {retries})"
            )
            time.sleep(FIRST_WAIT_S * 2 ** (tries - 1))
        except ClientError as error:
            details = error.response.get("Error", {})
            cause = f"{details.get('Code')}: {details.get('Message')}"
            if tries:
                cause = f"the connection dropped and the answer could not resume: {cause}"
            raise ChatFailed(cause) from None
        except BotoCoreError as error:
            raise ChatFailed(str(error)) from None


class _Resume:
    """Where the answer is: the id of the last event printed, sent as ``Last-Event-ID``
    when the invocation is made again."""

    def __init__(self) -> None:
        self.last_id: str | None = None

    def add_header(self, request: Any, **_: Any) -> None:
        """botocore's ``before-sign`` hook: the header goes into the signed request."""
        if self.last_id is not None:
            request.headers["Last-Event-ID"] = self.last_id

    def new_events(self, body: Any) -> Iterator[Any]:
        """The data of the events after the last printed; :class:`_Dropped` on a broken
        connection, :class:`ChatFailed` when a resumed stream does not go on from there."""
        resumed_from = self.last_id
        for event_id, data in _read_events(body):
            if resumed_from is not None:
                if event_id != str(int(resumed_from) + 1):
                    raise ChatFailed(
                        "the runtime did not resume the answer (it needs to pass the "
                        "Last-Event-ID header on); the rest is lost"
                    )
                resumed_from = None
            if event_id is not None and event_id.isdigit():
                self.last_id = event_id
            yield data


def _read_events(body: Any) -> Iterator[tuple[str | None, Any]]:
    """:func:`sse_events`, with a broken connection raised as :class:`_Dropped`."""
    from botocore.exceptions import BotoCoreError
    from urllib3.exceptions import HTTPError

    try:
        yield from sse_events(body)
    except (HTTPError, BotoCoreError, OSError) as error:
        raise _Dropped(repr(error)) from None


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


def sse_events(body: Any) -> Iterator[tuple[str | None, Any]]:
    """Each SSE event's id (None without one) and data (JSON when it parses, else the text)
    as it arrives.

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
            lines = block.split("\n")
            data = [line[5:].removeprefix(" ") for line in lines if line[:5] == "data:"]
            ids = [line[3:].strip() for line in lines if line[:3] == "id:"]
            if data:
                yield (ids[-1] if ids else None), _parsed("\n".join(data))


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


def run(call: AgentCoreCall, retries: int = 3) -> None:
    """The command's work: the session line, the answer, a final newline."""
    session_id = call.session_id or new_session_id()
    print(f"session: {session_id}", file=sys.stderr, flush=True)
    printed = False

    def write(text: str) -> None:
        nonlocal printed
        printed = printed or bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    def notice(text: str) -> None:
        # On a terminal the notice would run on from the answer's last word: a line of its own.
        print(f"{chr(10) if printed else ''}streamway: {text}", file=sys.stderr, flush=True)

    invoke(call, session_id, write, notice, retries)
    write("\n")
