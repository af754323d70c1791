"""``streamway chat --agentcore ARN`` through ``streamway local``'s AgentCore data plane.

The agent is ``streamway serve`` on a scripted model (tests/peers/openai_chat.py), behind
``streamway local --agentcore-url``; the chat runs as a real process with dummy credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamway.local.agentcore import LOCAL_RUNTIME_ARN
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import REPO_ROOT, TEST_ENV, streamway_local, streamway_server

pytestmark = pytest.mark.timeout(240)

TEXT = "".join(ANSWER)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass
class Setup:
    peer: OpenAIChatPeer
    endpoint: str
    sessions: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    peer = OpenAIChatPeer(delay_s=0)
    sessions = tmp_path_factory.mktemp("sessions")
    with serve_in_thread(peer) as peer_url:
        env = {
            "STREAMWAY_MODEL": "openai:peer-model",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
            "STREAMWAY_SESSIONS_DIR": str(sessions),
        }
        with (
            streamway_server(env) as agent,
            streamway_local(args=("--agentcore-url", agent.url)) as local,
        ):
            yield Setup(peer, local.root, sessions)


def chat_command(setup: Setup, *args: str, arn: str = LOCAL_RUNTIME_ARN) -> list[str]:
    return [
        sys.executable,
        *("-m", "streamway", "chat", "--agentcore", arn),
        *("--endpoint-url", setup.endpoint, *args),
    ]


def chat(
    setup: Setup, *args: str, arn: str = LOCAL_RUNTIME_ARN
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chat_command(setup, *args, arn=arn),
        env={**os.environ, **TEST_ENV, **AWS_ENV},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def session_of(stderr: str) -> str:
    line = next(line for line in stderr.splitlines() if line.startswith("session: "))
    return line.removeprefix("session: ")


def test_chat_prints_the_streamed_answer_and_the_new_session(setup: Setup) -> None:
    result = chat(setup, "Hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == TEXT + "\n"
    assert 33 <= len(session_of(result.stderr)) <= 256


def test_chat_prints_the_json_answer(setup: Setup) -> None:
    result = chat(setup, "--json", "Hi")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["result"] == TEXT
    assert answer["usage"]["output_tokens"] == len(ANSWER)


def test_a_session_continues_its_conversation(setup: Setup) -> None:
    first = chat(setup, "My name is Ann.")
    session = session_of(first.stderr)
    second = chat(setup, "--session", session, "What is my name?")
    assert second.returncode == 0, second.stderr
    assert session_of(second.stderr) == session
    folder = setup.sessions / f"session_{session}" / "agents" / "agent_default" / "messages"
    assert len(list(folder.glob("message_*.json"))) == 4
    # The model was sent the whole conversation the second time.
    contents = [m["content"] for m in setup.peer.requests[-1].body["messages"]]
    assert "My name is Ann." in json.dumps(contents)


def test_chat_prints_each_event_as_it_arrives(setup: Setup) -> None:
    setup.peer.gate = threading.Event()
    try:
        with subprocess.Popen(
            chat_command(setup, "Hi"),
            env={**os.environ, **TEST_ENV, **AWS_ENV},
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as process:
            assert process.stdout is not None
            printed = b""
            while ANSWER[0].encode() not in printed:
                piece = os.read(process.stdout.fileno(), 4096)
                assert piece, "the chat ended before its first piece"
                printed += piece
            # The model is held after its first piece: the chat printed it before the rest
            # existed.
            assert not setup.peer.gate.is_set()
            setup.peer.gate.set()
            printed += process.stdout.read()
            assert process.wait(timeout=60) == 0
    finally:
        setup.peer.gate = None
    assert printed.decode() == TEXT + "\n"


def test_a_refusal_is_one_line_and_exit_1(setup: Setup) -> None:
    unknown = LOCAL_RUNTIME_ARN.replace("streamway_local", "someone_else")
    result = chat(setup, "Hi", arn=unknown)
    assert result.returncode == 1
    assert "streamway: ResourceNotFoundException: No agent runtime with id" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_botocore_it_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['botocore'] = None; sys.modules['botocore.exceptions'] = None\n"
        "from streamway.cli import main\n"
        f"sys.argv = ['streamway', 'chat', '--agentcore', {LOCAL_RUNTIME_ARN!r}, 'Hi']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "--agentcore needs botocore: pip install 'streamway[deploy]'" in result.stderr
    assert "Traceback" not in result.stderr
