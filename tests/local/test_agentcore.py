"""AgentCore's InvokeAgentRuntime on ``streamway local``'s port, through the real boto3
``bedrock-agentcore`` client (endpoint_url at local, dummy credentials).

Two agents behind the same data plane: streamway's own (``--agentcore``: streamway serve as
a child process, the embedded model) and the official SDK's ``BedrockAgentCoreApp``
(``--agentcore-url``) streaming a scripted model's answer.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from streamway.local.agentcore import LOCAL_RUNTIME_ARN
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local, streamway_server
from tests.service.test_agentcore_contract import sdk_app
from tests.service.test_disconnects_and_load import eventually

pytestmark = pytest.mark.timeout(300)

OTHER_REGION_ARN = LOCAL_RUNTIME_ARN.replace("us-east-1", "eu-west-1").replace(
    "000000000000", "123456789012"
)


def new_session() -> str:
    return f"session-{uuid.uuid4()}"  # 44 characters: within 33..256


def agentcore_client(running: RunningLocal, *, validate: bool = True) -> Any:
    """boto3's client pointed at ``streamway local``; without retries, so refusals are seen.
    ``validate=False`` lets out what botocore itself would refuse (a session id too short)."""
    return boto3.client(
        "bedrock-agentcore",
        endpoint_url=running.root,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=240, parameter_validation=validate),
    )


def read_events(response: dict[str, Any]) -> Iterator[Any]:
    """The answer's SSE events' data, each parsed as it arrives (urllib3's ``read1``, which
    returns what has come rather than waiting for a full buffer)."""
    raw = response["response"]._raw_stream
    pending = b""
    while piece := raw.read1(65536):
        pending += piece
        while b"\n\n" in pending:
            block, pending = pending.split(b"\n\n", 1)
            # The SDK's framing, each event numbered (id:), the first led by retry:.
            *fields, data = block.split(b"\n")
            assert all(field.startswith((b"id: ", b"retry: ")) for field in fields), block
            assert data.startswith(b"data: "), block
            yield json.loads(data.removeprefix(b"data: "))
    assert pending == b""


def messages_of(sessions: Path, session_id: str) -> list[dict[str, Any]]:
    folder = sessions / f"session_{session_id}" / "agents" / "agent_default" / "messages"
    files = sorted(folder.glob("message_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(path.read_text())["message"] for path in files]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sessions")


@pytest.fixture(scope="module")
def local(sessions: Path) -> Iterator[RunningLocal]:
    env = {"STREAMWAY_SESSIONS_DIR": str(sessions), "STREAMWAY_MAX_TOKENS": "12"}
    with streamway_local(env, args=("--agentcore",)) as running:
        yield running


@pytest.fixture(scope="module")
def client(local: RunningLocal) -> Any:
    return agentcore_client(local)


def test_a_streamed_answer_of_streamway_s_agent(client: Any) -> None:
    session = new_session()
    response = client.invoke_agent_runtime(
        agentRuntimeArn=LOCAL_RUNTIME_ARN,
        runtimeSessionId=session,
        payload=json.dumps({"prompt": "Say hello."}).encode(),
        accept="text/event-stream",
    )
    assert response["statusCode"] == 200
    assert response["contentType"] == "text/event-stream; charset=utf-8"
    assert response["runtimeSessionId"] == session
    *deltas, done = list(read_events(response))
    assert deltas
    assert all(event["type"] == "delta" for event in deltas)
    assert done["type"] == "done"
    assert done["usage"]["output_tokens"] >= len(deltas)


def test_a_json_answer_of_streamway_s_agent(client: Any) -> None:
    response = client.invoke_agent_runtime(
        agentRuntimeArn=OTHER_REGION_ARN,  # any Region and account name the local runtime
        runtimeSessionId=new_session(),
        payload=json.dumps({"prompt": "Say hello."}).encode(),
        contentType="application/json",
        accept="application/json",
    )
    assert response["contentType"] == "application/json"
    answer = json.loads(response["response"].read())
    assert answer["result"]
    assert answer["usage"]["output_tokens"] >= 1


def test_a_session_keeps_its_conversation_apart_from_others(client: Any, sessions: Path) -> None:
    first, second = new_session(), new_session()

    def ask(session: str, prompt: str) -> None:
        response = client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=session,
            payload=json.dumps({"prompt": prompt}).encode(),
            accept="application/json",
        )
        json.loads(response["response"].read())

    ask(first, "My name is Ann.")
    ask(second, "My name is Bob.")
    ask(first, "What is my name?")

    mine = messages_of(sessions, first)
    theirs = messages_of(sessions, second)
    assert [m["role"] for m in mine] == ["user", "assistant", "user", "assistant"]
    assert [m["content"][0]["text"] for m in mine if m["role"] == "user"] == [
        "My name is Ann.",
        "What is my name?",
    ]
    assert [m["content"][0]["text"] for m in theirs if m["role"] == "user"] == ["My name is Bob."]


def test_a_session_id_is_made_when_absent_and_returned(local: RunningLocal) -> None:
    import httpx

    response = httpx.post(
        f"{local.root}/runtimes/{LOCAL_RUNTIME_ARN}/invocations",
        json={"prompt": "Hi"},
        headers={"accept": "application/json"},
        timeout=240,
    )
    assert response.status_code == 200
    session = response.headers["x-amzn-bedrock-agentcore-runtime-session-id"]
    assert 33 <= len(session) <= 256
    assert response.json()["result"]


@pytest.mark.parametrize("length", [32, 257])
def test_a_session_id_outside_33_to_256_characters_is_a_validation_error(
    local: RunningLocal, length: int
) -> None:
    client = agentcore_client(local, validate=False)
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId="s" * length, payload=b"{}"
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "33 to 256" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "call",
    [
        {"agentRuntimeArn": LOCAL_RUNTIME_ARN.replace("streamway_local", "someone_else")},
        {"agentRuntimeArn": LOCAL_RUNTIME_ARN, "qualifier": "prod"},
    ],
)
def test_an_unknown_runtime_or_endpoint_is_resource_not_found(
    client: Any, call: dict[str, str]
) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke_agent_runtime(runtimeSessionId=new_session(), payload=b"{}", **call)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_payload_over_100_mb_is_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=new_session(),
            payload=b"x" * (100_000_000 + 1),
        )
    assert "100000000 bytes" in raised.value.response["Error"]["Message"]


def test_the_agent_s_own_refusal_is_a_runtime_client_error(client: Any) -> None:
    with pytest.raises(client.exceptions.RuntimeClientError) as raised:
        client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=new_session(),
            payload=json.dumps({"prompt": ""}).encode(),
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    message = raised.value.response["Error"]["Message"]
    assert "Received error (422) from runtime" in message
    assert "invalid_field" in message


def test_without_an_agent_every_runtime_is_resource_not_found() -> None:
    with streamway_local(args=("--handler", "tests.aws_lambda.handlers.async_generator")) as bare:
        client = agentcore_client(bare)
        with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
            client.invoke_agent_runtime(
                agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=new_session(), payload=b"{}"
            )
    assert "--agentcore" in raised.value.response["Error"]["Message"]


@contextlib.contextmanager
def held_peer() -> Iterator[tuple[OpenAIChatPeer, dict[str, str]]]:
    """A scripted OpenAI-compatible model that holds after its first piece until the test
    sets ``peer.gate``, and the environment that points an agent at it."""
    peer = OpenAIChatPeer()
    peer.gate = threading.Event()
    with serve_in_thread(peer) as peer_url:
        yield (
            peer,
            {
                "STREAMWAY_MODEL": "openai:peer-model",
                "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
            },
        )


def test_the_sdk_s_app_streams_through_the_data_plane_as_it_answers() -> None:
    """BedrockAgentCoreApp's streaming entrypoint on a scripted model that stops after its
    first piece until the test has seen that piece arrive through boto3."""
    with (
        held_peer() as (peer, env),
        sdk_app("stream", env) as sdk,
        streamway_local(args=("--agentcore-url", sdk)) as running,
    ):
        client = agentcore_client(running)
        session = new_session()
        response = client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=session,
            payload=json.dumps({"prompt": "Hi"}).encode(),
        )
        assert response["runtimeSessionId"] == session
        assert response["contentType"] == "text/event-stream; charset=utf-8"
        events = read_events(response)
        first = next(events)
        # The model is held until now: the first event came before the rest existed.
        assert not peer.gate.is_set()
        peer.gate.set()
        rest = list(events)
    assert [first, *rest] == ANSWER


def test_a_caller_that_leaves_stops_streamway_s_agent() -> None:
    """The caller closes its stream after the first event; the agent's request is closed
    with it, and streamway's agent counts the generation cancelled."""
    with (
        held_peer() as (peer, env),
        # Resume off: the answer stops when its caller leaves, not after the resume grace.
        streamway_server({**env, "STREAMWAY_RESUME_GRACE": "0"}) as agent,
        streamway_local(args=("--agentcore-url", agent.url)) as running,
    ):
        response = agentcore_client(running).invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=new_session(),
            payload=json.dumps({"prompt": "Hi"}).encode(),
            accept="text/event-stream",
        )
        assert next(read_events(response))["type"] == "delta"
        response["response"].close()
        eventually(lambda: agent.stats()["generations"]["cancelled"] == 1, timeout_s=60)
        peer.gate.set()
        assert agent.stats()["generations"]["completed"] == 0
