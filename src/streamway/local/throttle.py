"""Bandwidth caps of a streamed response, as AWS applies them: a free burst, then a rate.

API Gateway: "the first 10MB of response payload is not subject to any bandwidth
restrictions. Response payload data exceeding 10MB is restricted to 2MB/s."
(docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html)
Lambda: "The first 6 MB of your function's response payload has uncapped bandwidth. After
this initial burst, Lambda streams your response at a maximum rate of 2 MBps."
(docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html)

**MB means MiB here** (1 MB = 1,048,576 bytes). AWS does not say which it means. Lambda's
"6 MB" payload limit is enforced as 6,291,456 bytes, i.e. 6 MiB. ``streamway.config``
already reads API Gateway's "10 MB" as 10 MiB. Using one reading everywhere keeps the
emulator consistent; the two readings differ by less than 5 %.

**How the two caps compose.** With Lambda behind API Gateway a response passes both caps
one after the other. A byte leaves only when both allow it, so the slower one binds.
Both run at 2 MB/s and Lambda's free burst is the smaller, so once 6 MB have gone the
effective limit is 2 MB/s. API Gateway's 10 MB allowance never comes into play.
:func:`combined` builds that: each chunk waits as long as the stricter cap says.

**How a chunk is paced.** :meth:`Throttle.pace` is awaited before a chunk is sent. Bytes
within the free allowance go at once. Bytes past it are sent at the rate, and a chunk goes
when its last byte would have gone. A chunk straddling the boundary waits only for its
throttled part. This is a virtual-clock limiter: it keeps the time at which the throttled
bytes handed over so far finish going out. While the sender keeps up, that is the
schedule "bytes past the allowance divided by the rate, from the moment the allowance ran
out". A pause earns no credit, because AWS states a *maximum* rate and not an average.
Tests inject ``clock`` and ``sleep`` to check the arithmetic exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from streamway.aws_contract import (
    API_GATEWAY_FREE_STREAM_BYTES,
    API_GATEWAY_STREAM_BYTES_PER_S,
    LAMBDA_FREE_STREAM_BYTES,
    LAMBDA_STREAM_BYTES_PER_S,
)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Pacer(Protocol):
    """Anything a response writer awaits before each chunk: one cap or several together."""

    async def pace(self, nbytes: int) -> None: ...


class Throttle:
    """One cap: ``free_bytes`` at once, then at most ``rate_bytes_per_s``. Use one per response."""

    def __init__(
        self,
        free_bytes: int,
        rate_bytes_per_s: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if free_bytes < 0:
            raise ValueError("free_bytes cannot be negative")
        if rate_bytes_per_s <= 0:
            raise ValueError("rate_bytes_per_s must be positive")
        self.free_bytes = free_bytes
        self.rate_bytes_per_s = rate_bytes_per_s
        self._clock = clock
        self._sleep = sleep
        self._sent = 0
        # When the throttled bytes handed over so far have all gone out (None: none yet).
        self._done_at: float | None = None

    @property
    def bytes_sent(self) -> int:
        return self._sent

    def delay(self, nbytes: int) -> float:
        """Counts ``nbytes`` as sent and returns how long to hold them first (0 if free).

        It updates the state before the caller waits. Two caps can then be asked about the
        same chunk at the same moment, and :func:`combined` takes the longer wait.
        """
        if nbytes < 0:
            raise ValueError("nbytes cannot be negative")
        before, self._sent = self._sent, self._sent + nbytes
        throttled = self._sent - max(before, self.free_bytes)
        if throttled <= 0:
            return 0.0
        now = self._clock()
        # If the sender was idle, the link is free from now on. Idle time earns no credit.
        start = now if self._done_at is None else max(self._done_at, now)
        self._done_at = start + throttled / self.rate_bytes_per_s
        return self._done_at - now

    async def pace(self, nbytes: int) -> None:
        """Returns when a chunk of ``nbytes`` may be sent."""
        wait = self.delay(nbytes)
        if wait > 0:
            await self._sleep(wait)


class Combined:
    """Several caps in series (Lambda, then API Gateway): each chunk waits for the slowest."""

    def __init__(self, throttles: tuple[Throttle, ...], sleep: Sleep) -> None:
        self.throttles = throttles
        self._sleep = sleep

    def delay(self, nbytes: int) -> float:
        return max((throttle.delay(nbytes) for throttle in self.throttles), default=0.0)

    async def pace(self, nbytes: int) -> None:
        wait = self.delay(nbytes)
        if wait > 0:
            await self._sleep(wait)


def api_gateway_throttle(
    *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
) -> Throttle:
    """API Gateway's cap on a STREAM response: 10 MB at once, then 2 MB/s."""
    return Throttle(
        API_GATEWAY_FREE_STREAM_BYTES, API_GATEWAY_STREAM_BYTES_PER_S, clock=clock, sleep=sleep
    )


def lambda_throttle(*, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> Throttle:
    """Lambda's cap on a streamed response: 6 MB at once, then 2 MBps."""
    return Throttle(LAMBDA_FREE_STREAM_BYTES, LAMBDA_STREAM_BYTES_PER_S, clock=clock, sleep=sleep)


def combined(*throttles: Throttle, sleep: Sleep = asyncio.sleep) -> Combined:
    """Caps a response passes one after another. A chunk waits as long as the strictest one
    says, e.g. ``combined(lambda_throttle(), api_gateway_throttle())`` for a Lambda behind
    API Gateway."""
    return Combined(throttles, sleep)


def gateway_and_lambda_throttle(
    *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
) -> Combined:
    """What a client of a STREAM route behind Lambda sees: in effect 6 MB, then 2 MB/s."""
    return combined(
        lambda_throttle(clock=clock, sleep=sleep),
        api_gateway_throttle(clock=clock, sleep=sleep),
        sleep=sleep,
    )
