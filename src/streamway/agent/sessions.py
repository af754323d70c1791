"""AgentCore sessions: one conversation per session id, on local files, bounded and expiring.

AgentCore Runtime tags every call of a conversation with the same
``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`` and ends a session that stays idle for its
idle timeout (900 s by default). Here each session's conversation is a Strands
``FileSessionManager`` directory under ``directory``; every request builds a fresh Agent that
restores it, so nothing but a little bookkeeping stays in memory between requests.

Admission comes first: the service asks :meth:`SessionStore.check` (no side effects) before
waiting for a generation slot, and :meth:`SessionStore.acquire` (which may create a session and
evict another) only once the slot is granted, so a request refused as busy costs nobody their
conversation.

Bounds: a session idle longer than ``idle_timeout_s`` is deleted (checked lazily, whenever a
session is used and on ``/ping``, which AgentCore calls often); at ``max_sessions`` the least
recently used idle session is ended to make room, and if every session is answering, the new
one is refused. One session answers one request at a time (a Strands Agent cannot take two
turns at once, and two interleaved turns would garble the conversation): a second request
for a busy session is refused with :class:`SessionBusy` rather than queued.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from strands.session.file_session_manager import SESSION_PREFIX, FileSessionManager

log = logging.getLogger("streamway.sessions")

#: AgentCore's runtimeSessionId is 33 to 256 characters (botocore's bedrock-agentcore model,
#: shape SessionType: min 33, max 256, no pattern). Here the id also names a directory, so only
#: plain characters, starting with a letter or digit. Always used with ``fullmatch``: ``$``
#: would also accept a trailing newline.
SESSION_ID_MIN, SESSION_ID_MAX = 33, 256
_SESSION_ID = re.compile(
    rf"[A-Za-z0-9][A-Za-z0-9._:-]{{{SESSION_ID_MIN - 1},{SESSION_ID_MAX - 1}}}"
)


class InvalidSessionId(ValueError):
    pass


class SessionBusy(Exception):
    """The session is already answering a request."""


class TooManySessions(Exception):
    """Every session slot is taken by a session that is answering right now."""


@dataclass
class SessionLease:
    manager: FileSessionManager
    release: Callable[[], None]

    def __enter__(self) -> FileSessionManager:
        return self.manager

    def __exit__(self, *_: object) -> None:
        self.release()


@dataclass
class _Session:
    last_used: float
    busy: bool = False


class SessionStore:
    def __init__(
        self,
        directory: Path,
        *,
        idle_timeout_s: float,
        max_sessions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.directory = directory
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self.expired = 0
        self.evicted = 0
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Sessions written before a restart carry on, idle since their files last changed.
        for path in self.directory.glob(f"{SESSION_PREFIX}*"):
            if not path.is_dir():
                continue
            session_id = _stored_id(path)
            if _SESSION_ID.fullmatch(session_id):
                self._sessions[session_id] = _Session(last_used=path.stat().st_mtime)
            else:  # e.g. a short id an older version accepted: no request can reach it
                log.warning(
                    "ignoring a session directory with an invalid id", extra={"path": str(path)}
                )
        self.expire()

    @staticmethod
    def validate(session_id: str) -> str:
        if not _SESSION_ID.fullmatch(session_id):
            raise InvalidSessionId(
                f"A session id is {SESSION_ID_MIN} to {SESSION_ID_MAX} letters, digits and "
                "`._:-`, starting with a letter or digit (a UUID fits)."
            )
        return session_id

    def path(self, session_id: str) -> Path:
        return self.directory / f"{SESSION_PREFIX}{_storage_id(self.validate(session_id))}"

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def busy(self) -> int:
        return sum(session.busy for session in self._sessions.values())

    def expire(self) -> None:
        """Delete every idle session whose idle timeout has passed."""
        deadline = self._clock() - self.idle_timeout_s
        for session_id, session in list(self._sessions.items()):
            if not session.busy and session.last_used < deadline:
                self._end(session_id, "expired")

    def check(self, session_id: str) -> None:
        """Raises what :meth:`acquire` would for this id's own state (invalid, busy), changing
        nothing: no session is created, expired or evicted. For a refusal before admission."""
        self.validate(session_id)
        session = self._sessions.get(session_id)
        if session is not None and session.busy:
            raise _busy(session_id)

    def acquire(self, session_id: str) -> SessionLease:
        """Holds the session exclusively until the lease is released (or its block ends).

        May create the session and so end the least recently used idle one: call it only for
        a request that will be answered (after admission)."""
        self.validate(session_id)
        self.expire()
        session = self._sessions.get(session_id)
        created = session is None
        if session is None:
            self._make_room()
            session = self._sessions[session_id] = _Session(last_used=self._clock())
        if session.busy:
            raise _busy(session_id)
        session.busy = True
        storage_id = _storage_id(session_id)
        manager = FileSessionManager(session_id=storage_id, storage_dir=str(self.directory))
        if created and storage_id != session_id:  # so a restart knows whose directory it is
            (self.path(session_id) / _ID_FILE).write_text(session_id)
        return SessionLease(
            manager,
            lambda: self._release(session),
        )

    def _release(self, session: _Session) -> None:
        session.busy = False
        session.last_used = self._clock()

    def _make_room(self) -> None:
        if len(self._sessions) < self.max_sessions:
            return
        idle = [(s.last_used, sid) for sid, s in self._sessions.items() if not s.busy]
        if not idle:
            raise TooManySessions(
                f"All {self.max_sessions} sessions are answering right now; try again shortly."
            )
        self._end(min(idle)[1], "evicted")

    def _end(self, session_id: str, reason: str) -> None:
        del self._sessions[session_id]
        setattr(self, reason, getattr(self, reason) + 1)
        shutil.rmtree(self.path(session_id), ignore_errors=True)
        log.info("session ended", extra={"session_id": session_id, "reason": reason})

    def stats(self) -> dict[str, int]:
        return {
            "open": len(self._sessions),
            "answering": self.busy,
            "expired": self.expired,
            "evicted": self.evicted,
        }


def _busy(session_id: str) -> SessionBusy:
    return SessionBusy(
        f"Session {session_id} is already answering a request; send the next prompt when that "
        "answer is complete."
    )


#: A directory name may have 255 bytes; ``session_`` and an id of up to 247 characters fit.
_MAX_NAME_BYTES = 255
#: Where a session stored under a digest keeps its id.
_ID_FILE = "agentcore-session-id"


def _storage_id(session_id: str) -> str:
    """The id Strands stores a session under: the id itself when its directory name fits the
    file system, else ``~`` and its SHA-256 (``~`` is never in a valid id, so no client id
    can name another's directory)."""
    if len(SESSION_PREFIX) + len(session_id) <= _MAX_NAME_BYTES:
        return session_id
    return "~" + hashlib.sha256(session_id.encode()).hexdigest()


def _stored_id(path: Path) -> str:
    """The session id a directory holds (read from its id file when stored under a digest)."""
    name = path.name.removeprefix(SESSION_PREFIX)
    if name.startswith("~"):
        try:
            return (path / _ID_FILE).read_text()
        except OSError:
            return name  # not a valid id: the caller ignores the directory
    return name
