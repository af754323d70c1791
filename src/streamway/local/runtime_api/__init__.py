"""A Lambda Runtime API emulator: the server side of what a function's runtime talks to.

It serves ``/2018-06-01/runtime/...`` (``invocation/next`` as a long poll, ``response`` in
buffered and streaming mode, ``error``, ``init/error``) on loopback, and offers an invoke
API to whoever plays the caller: tests, the benchmark, and the local API Gateway
(:meth:`RuntimeAPIServer.invoke` in process; RIE's HTTP endpoint at
:attr:`RuntimeAPIServer.invoke_url`).

Why not uvicorn/Starlette: a streamed response ends with HTTP *trailers*
(``Lambda-Runtime-Function-Error-Type``/``-Body``) when the function fails mid-stream, and
ASGI has no way to hand request trailers to an app. :mod:`streamway.local.http1` reads them
(and is why this is not h11 either: see there). Each connection is a
:class:`~.socket_stream.SocketStream`, so a body byte is copied only by the kernel, once in
and once out; backpressure runs end to end (:mod:`.body`).

The package, one idea a module:

- :mod:`.wire`: what the runtime's bytes mean (paths, modes, prelude, error objects);
- :mod:`.invocation`: one invocation as a state machine; :mod:`.body`: its body channel
  (a bounded queue, or splice from socket to socket);
- :mod:`.registry`: the invocations and ``next`` calls of one emulator, handed to connections;
- :mod:`.access`: who may talk to it (secrets, admitted processes; :mod:`.peer`);
- :mod:`.connection`, :mod:`.responder`, :mod:`.runtime_routes`, :mod:`.invoke_route`: the
  HTTP side; :mod:`.server`: the accept loop and the public :class:`RuntimeAPIServer`;
- :mod:`.function`: what Lambda tells a function about itself (:class:`FunctionConfig`).
"""

from streamway.local.runtime_api.body import QUEUED_CHUNKS
from streamway.local.runtime_api.function import FunctionConfig
from streamway.local.runtime_api.invocation import Invocation, InvocationResult, State
from streamway.local.runtime_api.registry import RECENT_IDS
from streamway.local.runtime_api.server import HEAD_TIMEOUT_S, RuntimeAPIServer
from streamway.local.runtime_api.wire import (
    API_PREFIX,
    INVOKE_PATH,
    Mode,
    PreludeError,
    SerializedEvent,
    split_prelude,
)

__all__ = [
    "API_PREFIX",
    "HEAD_TIMEOUT_S",
    "INVOKE_PATH",
    "QUEUED_CHUNKS",
    "RECENT_IDS",
    "FunctionConfig",
    "Invocation",
    "InvocationResult",
    "Mode",
    "PreludeError",
    "RuntimeAPIServer",
    "SerializedEvent",
    "State",
    "split_prelude",
]
