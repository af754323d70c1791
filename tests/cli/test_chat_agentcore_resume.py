"""``streamway chat --agentcore`` resumes a dropped answer (issue 18): the chat (botocore's
``InvokeAgentRuntime``, a real process) talks to ``streamway local``'s AgentCore data plane
through a real TCP proxy on loopback (tests/tcp_proxy.py) that cuts the answer mid-answer;
the agent is ``streamway serve`` on a scripted model with slow chunks. The chat invokes
again in the same session with ``Last-Event-ID``, and prints the whole answer once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from streamway.local.agentcore import LOCAL_RUNTIME_ARN
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import REPO_ROOT, TEST_ENV, streamway_local, streamway_server
from tests.tcp_proxy import cutting_proxy

pytestmark = pytest.mark.timeout(240)

TEXT = "".join(ANSWER)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
RESUMING = "the connection dropped; resuming after event"


@dataclass
class Setup:
    peer: OpenAIChatPeer
    local_port: int


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    peer = OpenAIChatPeer(delay_s=0.2)  # slow chunks: a cut lands mid-answer
    with serve_in_thread(peer) as peer_url:
        env = {
            "STREAMWAY_MODEL": "openai:peer-model",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
            "STREAMWAY_SESSIONS_DIR": str(tmp_path_factory.mktemp("sessions")),
        }
        with (
            streamway_server(env) as agent,
            streamway_local(args=("--agentcore-url", agent.url)) as local,
        ):
            yield Setup(peer, local.port)


def chat(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *("-m", "streamway", "chat", "--agentcore", LOCAL_RUNTIME_ARN),
            *("--endpoint-url", endpoint, *args),
        ],
        env={**os.environ, **TEST_ENV, **AWS_ENV},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_dropped_answer_is_resumed_in_its_session_and_printed_once(setup: Setup) -> None:
    asked = len(setup.peer.requests)
    with cutting_proxy(setup.local_port) as proxy:
        proxy.cut_after(500)  # the answer's head and its first events pass
        result = chat(f"http://127.0.0.1:{proxy.port}", "Hi")
        assert proxy.cuts == 1
    assert result.returncode == 0, result.stderr
    assert RESUMING in result.stderr
    assert "(try 1 of 3)" in result.stderr
    # Every piece once, none missing.
    assert result.stdout == TEXT + "\n"
    # The model was asked once: the reconnection got the rest of that answer, not a new one.
    assert len(setup.peer.requests) == asked + 1
