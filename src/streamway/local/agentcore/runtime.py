"""The agent behind the local AgentCore data plane: a server of AgentCore's HTTP contract.

Either one already running at a URL (``--agentcore-url``: ``streamway serve``, the official
SDK's ``BedrockAgentCoreApp``, anything serving ``POST /invocations`` and ``GET /ping``), or
``streamway serve`` started here as a child process on a free loopback port (``--agentcore``),
as AgentCore starts the container: on the first invocation, ready once ``/ping`` answers.
It then serves every session, as one container would; the service keeps the sessions apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping

import httpx

log = logging.getLogger("streamway.local.agentcore")


class RuntimeUnavailable(Exception):
    """The agent's server could not be started or did not become ready."""


class AgentRuntime:
    """Where the agent's ``/invocations`` is; with no ``url``, a ``streamway serve`` child."""

    def __init__(
        self,
        url: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = 180.0,
    ) -> None:
        self._url = url.rstrip("/") if url else None
        self.env = dict(env or {})
        self.start_timeout_s = start_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._starting = asyncio.Lock()

    def describe(self) -> str:
        return self._url or "streamway serve, started on the first invocation"

    async def base_url(self) -> str:
        """The server's base URL, starting the child process first if it is not running."""
        if self._url is not None and self._process is None:
            return self._url
        async with self._starting:
            if self._process is not None and self._process.returncode is not None:
                log.warning("the agent's process exited; starting another")
                self._process, self._url = None, None
            if self._process is None:
                await self._start()
            assert self._url is not None
            return self._url

    async def _start(self) -> None:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "streamway", "serve", "--host", "127.0.0.1", "--port", str(port)),
            env={**os.environ, **self.env},
        )
        try:
            await self._wait_ready(url)
        except BaseException:
            await self.close()
            raise
        self._url = url
        log.info(
            "agent runtime ready",
            extra={"url": url, "init_ms": round((time.monotonic() - started) * 1000)},
        )

    async def _wait_ready(self, url: str) -> None:
        """Returns once ``GET /ping`` answers 200, as AgentCore waits for a new container."""
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise RuntimeUnavailable(
                        f"the agent's process exited with {self._process.returncode} at start-up"
                    )
                try:
                    if (await client.get(f"{url}/ping")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeUnavailable(
            f"the agent did not answer /ping within {self.start_timeout_s:g} s"
        )

    async def close(self) -> None:
        """Stops the child process, if one runs (terminate, then kill after 10 s)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
