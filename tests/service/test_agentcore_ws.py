"""/ws with a real WebSocket client against a real server: deltas then done, barge-in,
a client that vanishes, clean closes."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually

STORY = {"prompt": "Write a very long story about a lighthouse keeper."}


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "STREAMWAY_MAX_TOKENS": "1500",
        "STREAMWAY_SESSIONS_DIR": str(tmp_path_factory.mktemp("sessions")),
    }
    with streamway_server(env) as server:
        yield server


def ws_url(server: RunningServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws{query}"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 60))
    return message


async def until_end(ws: ClientConnection) -> list[dict[str, Any]]:
    """Messages up to and including the one that ends an answer."""
    messages = [await receive(ws)]
    while messages[-1]["type"] == "delta":
        messages.append(await receive(ws))
    return messages


def idle(server: RunningServer) -> dict[str, Any]:
    # A cancelled generation first waits for the token in progress, which on a loaded
    # machine can take seconds: wait for the event, with room to spare.
    stats: dict[str, Any] = eventually(
        lambda: (s := server.stats())["generations"]["active"] == 0 and s, timeout_s=60
    )
    return stats


async def test_deltas_then_done_then_clean_close(ws_server: RunningServer) -> None:
    session = "ws-session-1".ljust(33, "0")  # AgentCore's ids are 33 to 256 characters
    async with websockets.connect(ws_url(ws_server, f"?session_id={session}")) as ws:
        await ws.send(json.dumps({"prompt": "Say hi.", "ignored": True}))
        *deltas, done = await until_end(ws)
        assert deltas
        assert all(d.keys() == {"type", "text"} and d["type"] == "delta" for d in deltas)
        assert done["type"] == "done"
        assert done["usage"]["output_tokens"] >= len(deltas)

        # Bad messages get an error message; the connection stays usable.
        await ws.send(b"\x00binary")
        assert (await receive(ws))["code"] == "invalid_message"
        await ws.send(json.dumps({"prompt": 7}))
        error = await receive(ws)
        assert error["type"] == "error"
        assert '{"prompt": "<prompt>"}' in error["message"]
        await ws.send("not json")
        assert (await receive(ws))["code"] == "invalid_json"
    assert ws.close_code == 1000  # the server answered the close handshake
    ws_server.wait_for_log(lambda e: e["message"] == "websocket closed by client")
    assert ws_server.stats()["sessions"]["open"] >= 1


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than Python recurses
        '{"prompt": ' + "7" * 5000 + "}",  # longer than int() converts
        '{"prompt": "\\ud800"}',  # a lone surrogate: no UTF-8 for it
    ],
)
async def test_hostile_json_frames_get_an_error_and_the_connection_stays(
    ws_server: RunningServer, frame: str
) -> None:
    async with websockets.connect(ws_url(ws_server)) as ws:
        await ws.send(frame)
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["code"] == "invalid_json"
        assert '{"prompt": "<prompt>"}' in error["message"]
        # Still open and answering.
        await ws.send("not json")
        assert (await receive(ws))["code"] == "invalid_json"
    assert ws.close_code == 1000


async def test_new_prompt_while_streaming_cancels_the_current_answer(
    ws_server: RunningServer,
) -> None:
    before = idle(ws_server)["generations"]
    async with websockets.connect(ws_url(ws_server)) as ws:
        await ws.send(json.dumps(STORY))
        for _ in range(3):
            assert (await receive(ws))["type"] == "delta"
        await ws.send(json.dumps({"prompt": "Say hi."}))
        # Deltas of the first answer already in flight, then exactly one `cancelled`.
        first = await until_end(ws)
        assert first[-1] == {"type": "cancelled"}
        second = await until_end(ws)
        assert second[-1]["type"] == "done"
        assert all(m["type"] == "delta" for m in second[:-1])
    after = idle(ws_server)["generations"]
    assert after["cancelled"] - before["cancelled"] == 1
    assert after["completed"] - before["completed"] == 1


async def test_client_that_closes_mid_answer_stops_generation(ws_server: RunningServer) -> None:
    before = idle(ws_server)["generations"]
    async with websockets.connect(ws_url(ws_server)) as ws:
        await ws.send(json.dumps(STORY))
        for _ in range(3):
            await receive(ws)
        assert ws_server.stats()["generations"]["active"] == 1
    assert ws.close_code == 1000
    after = idle(ws_server)["generations"]
    assert after["cancelled"] - before["cancelled"] == 1


async def test_client_that_vanishes_stops_generation(ws_server: RunningServer) -> None:
    before = idle(ws_server)
    ws = await websockets.connect(ws_url(ws_server))
    await ws.send(json.dumps(STORY))
    for _ in range(3):
        await receive(ws)
    # No close frame: the TCP connection just goes away.
    transport_socket = ws.transport.get_extra_info("socket")
    transport_socket.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
    )
    ws.transport.abort()
    after = await asyncio.to_thread(idle, ws_server)  # the loop must run to close the socket
    assert after["generations"]["cancelled"] - before["generations"]["cancelled"] == 1
    # Idle means the generation ended (it is counted when its generator closes), so no
    # token can follow. The client cannot know what was sent before it vanished; the
    # server's own count of the deltas it handed on can: at most one token beyond them.
    generated = after["model"]["tokens_generated"] - before["model"]["tokens_generated"]
    handed_on = after["generations"]["text_deltas"] - before["generations"]["text_deltas"]
    assert generated <= handed_on + 1, (generated, handed_on)


async def test_unusable_session_id_is_closed_with_1008(ws_server: RunningServer) -> None:
    async with websockets.connect(ws_url(ws_server, "?session_id=..%2Fescape")) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1008
