"""Services: built from the settings in a lifespan, handed to HTTP and WebSocket routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from openai import APIConnectionError

from streamway.agent.events import Finished
from streamway.agent.runner import AgentRunner
from streamway.config import Settings
from streamway.service.services import (
    Services,
    ServicesDep,
    open_services,
    services_lifespan,
    services_of,
)
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.settings import flat_settings

#: A remote model id: building the runner loads no model and calls nothing.
NO_MODEL = "openai:unused"


def settings(tmp_path: Path) -> Settings:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "a.txt").write_text("a\n")
    return flat_settings(
        model=NO_MODEL,
        store_url=f"file://{tmp_path / 'store'}",
        sessions_dir=tmp_path / "sessions",
        max_prompt_chars=123,
        invocations_default_response="json",
        download_chunks_in_flight=3,
    )


async def test_open_services_reads_the_settings_once(tmp_path: Path) -> None:
    async with open_services(settings(tmp_path)) as services:
        assert isinstance(services.runner, AgentRunner)
        assert services.max_prompt_chars == 123
        assert services.invocations_default_response == "json"
        assert services.download_chunks_in_flight == 3
        page = await services.store.list("", cursor=None, limit=10)
        assert [info.key for info in page.items] == ["a.txt"]
        assert services.sessions.stats()["open"] == 0
        assert services.health.body()["status"] == "Healthy"


def test_routes_and_websockets_get_the_lifespan_s_services(tmp_path: Path) -> None:
    seen: list[Services] = []
    app = FastAPI(lifespan=services_lifespan(settings(tmp_path)))

    @app.get("/limit")
    async def limit(services: ServicesDep) -> dict[str, Any]:
        seen.append(services)
        return {"max_prompt_chars": services.max_prompt_chars}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, services: ServicesDep) -> None:
        seen.append(services)
        await websocket.accept()
        await websocket.send_json({"chunks": services.download_chunks_in_flight})
        await websocket.close()

    with TestClient(app) as client:
        assert client.get("/limit").json() == {"max_prompt_chars": 123}
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"chunks": 3}
        assert seen == [services_of(app), services_of(app)]
        assert seen[0] is seen[1]


async def test_the_models_client_closes_with_the_services(tmp_path: Path) -> None:
    """The process-wide OpenAI-compatible client (its connection pool) is closed when the
    lifespan ends, beside the store, rather than left to the garbage collector."""
    with serve_in_thread(OpenAIChatPeer(delay_s=0)) as url:
        remote = flat_settings(
            model="openai:scripted",
            openai_base_url=f"{url}/v1",
            store_url=f"file://{tmp_path}",
            sessions_dir=tmp_path / "sessions",
        )
        async with open_services(remote) as services:
            events = [event async for event in services.runner.stream("Hi")]
            assert isinstance(events[-1], Finished)
        # The same model, after the lifespan: its client refuses to send (httpx's error).
        with pytest.raises(APIConnectionError) as refused:
            async for _ in services.runner.stream("Hi"):
                pass
        assert "client has been closed" in str(refused.value.__cause__)
