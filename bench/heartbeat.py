"""SSE heartbeats at AWS's own figures, unscaled: a slow check, too slow for the test suite.

    .venv/bin/python bench/heartbeat.py [--idle-timeout 30] [--hold-heartbeats 3]

An edge-optimized API Gateway endpoint cuts a stream after 30 s with no byte. A slow tool call
can keep a model silent for longer. This runs ``streamway local --stream-idle-timeout 30`` in
front of the service, which answers from a scripted OpenAI-compatible model. After the first
piece, the model holds until the client has read ``--hold-heartbeats`` heartbeats. With the
default heartbeat (15 s) that is a 45 s silence. Two runs in one invocation:

* the baseline, heartbeats off (``STREAMWAY_SSE_HEARTBEAT=0``): the model holds, and the
  gateway must cut the silent stream once the idle timeout has passed, with no ``done`` event;
* the default, as a user gets it: the answer must come through whole.

It prints how long each answer ran, how many heartbeats it carried, and how it ended. The exit
status is 1 when either run does not end as it should. The suite covers the same mechanism in
``tests/service/test_heartbeat.py``, scaled down to a 2 s idle timeout and 0.5 s heartbeats.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import streamway_local
from tests.service.test_heartbeat import STREAMING, HeldAnswer, read_held, scripted_env, whole_text


def run(
    url: str, peer: OpenAIChatPeer, *, heartbeat: str | None, idle_timeout: int, hold: int
) -> tuple[HeldAnswer, float]:
    """One answer through ``streamway local``; the answer and its wall time in seconds."""
    env = scripted_env(url, heartbeat or "unused")
    if heartbeat is None:
        del env["STREAMWAY_SSE_HEARTBEAT"]  # the default, as a user gets it
    peer.gate = threading.Event()
    try:
        args = ("--stream-idle-timeout", str(idle_timeout))
        with streamway_local(env, args=args) as local:
            started = time.monotonic()
            # Heartbeats off: nobody opens the gate; the gateway's cut must end the read.
            opener = None if heartbeat == "0" else peer.gate.set
            answer = read_held(local.url, STREAMING, opener, after_comments=hold)
            return answer, time.monotonic() - started
    finally:
        peer.gate.set()
        peer.gate = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-timeout", type=int, default=30, help="the edge's, in seconds")
    parser.add_argument(
        "--hold-heartbeats", type=int, default=3, help="heartbeats the model stays silent for"
    )
    options = parser.parse_args()
    peer = OpenAIChatPeer()
    failures = []
    with serve_in_thread(peer) as url:
        off, off_s = run(url, peer, heartbeat="0", idle_timeout=options.idle_timeout, hold=0)
        on, on_s = run(
            url,
            peer,
            heartbeat=None,
            idle_timeout=options.idle_timeout,
            hold=options.hold_heartbeats,
        )
    print(f"edge idle timeout {options.idle_timeout} s; the model holds after its first piece")
    print(f"{'run':<26}{'seconds':>9}{'heartbeats':>12}  ended")
    for name, answer, seconds in (("heartbeats off (baseline)", off, off_s), ("default", on, on_s)):
        ended = "cut: " + type(answer.error).__name__ if answer.error else "whole"
        print(f"{name:<26}{seconds:>9.1f}{len(answer.comments):>12}  {ended}")
    if off.error is None or off_s < options.idle_timeout:
        failures.append("heartbeats off: the gateway did not cut the silent stream at its timeout")
    if any("stop_reason" in line for line in off.data):
        failures.append("heartbeats off: the cut answer still carried its end")
    if on.error is not None or whole_text(on) != "".join(ANSWER):
        failures.append("default heartbeat: the answer did not come through whole")
    if len(on.comments) < options.hold_heartbeats:
        failures.append("default heartbeat: fewer heartbeats than the silence should carry")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
