"""Who may talk to an emulator: its two secrets, and the processes it was told to trust.

Every local process can connect to a loopback port, and an event carries the client's API key
and bearer token, so every request must prove it comes from the sandbox or from the
emulator's owner. A runtime's requests carry the runtime secret as a path prefix
(``AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT/<secret>``, which clients that build
``http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/...`` send on every request), or come from a
process the emulator was told to trust (:meth:`Access.admit`, for clients that take only
``host:port``). The HTTP invoke endpoint takes a second secret, so it cannot bypass the
gateway's API keys and JWTs.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from typing import Literal

from streamway.local.runtime_api.peer import owned_by
from streamway.local.runtime_api.wire import API_PREFIX, INVOKE_PATH

#: What a request may reach: the Runtime API, or the HTTP invoke endpoint.
Role = Literal["runtime", "invoke"]


class Access:
    """The secrets of one emulator and the processes it admits without one."""

    def __init__(self, *, invoke_over_http: bool) -> None:
        #: Whether the HTTP invoke endpoint answers at all.
        self.invoke_over_http = invoke_over_http
        # 256 bits each, URL-safe, so they fit a path segment as they are.
        self.runtime_secret = secrets.token_urlsafe(32)
        self.invoke_secret = secrets.token_urlsafe(32)
        self._admitted: set[int] = set()

    def admit(self, pid: int) -> None:
        """Lets process ``pid`` use the Runtime API without the secret."""
        self._admitted.add(pid)

    def admits(self, sock: socket.socket) -> bool:
        """Whether the peer of ``sock`` is a process :meth:`admit` named (Linux only)."""
        return owned_by(sock, self._admitted)

    def authorize(self, target: str, who: Peer) -> tuple[Role, str] | None:
        """What a request for ``target`` may reach, and its path without the secret; None for
        a request that proves nothing."""
        path = target.split("?", 1)[0]
        if path.startswith(f"{API_PREFIX}/"):
            # No secret: only from a process the emulator was told to trust.
            return ("runtime", path) if who.admitted() else None
        secret, _, rest = path.partition("/")[2].partition("/")
        rest = "/" + rest
        # compare_digest, so the time taken says nothing about how much of a guess was right.
        given = secret.encode("latin-1")
        if rest.startswith(f"{API_PREFIX}/") and hmac.compare_digest(
            given, self.runtime_secret.encode()
        ):
            return "runtime", rest
        if (
            rest == INVOKE_PATH
            and self.invoke_over_http
            and hmac.compare_digest(given, self.invoke_secret.encode())
        ):
            return "invoke", rest
        return None


class Peer:
    """One connection's peer, asked once (and only when needed) whether it is admitted."""

    def __init__(self, access: Access, sock: socket.socket) -> None:
        self._access = access
        self._sock = sock
        self._admitted: bool | None = None

    def admitted(self) -> bool:
        if self._admitted is None:
            self._admitted = self._access.admits(self._sock)
        return self._admitted
