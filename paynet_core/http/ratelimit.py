"""Request pacing for bulk jobs: a token bucket with a hard one-second-window cap.

Providers count requests per second, so a job must never put more than ``rate`` requests into
any one-second window, and it should not send them in bursts either. Two mechanisms, each
cheap, together give that guarantee:

* **Pacing** (a token bucket in its GCRA form, burst 1 by default): each caller reserves the
  next free slot, slots ``1 / rate`` apart, so requests go out evenly, never in a burst.
  Pacing runs ``headroom`` (5 %) below ``rate``: a request may reach the provider some
  milliseconds after it was released (event-loop lag, the network), and evenly spaced requests
  at exactly ``rate`` would let the smallest such jitter push one window over the limit. With
  burst 1, actual releases are also kept half an interval apart, so callers that wake late
  after a stall catch up one by one, never together.
* **The window cap**: just before a request is released, the limiter checks its log of the
  last ``cap`` release times (``floor(rate)``, less half the headroom where that does not slow
  the paced rate) and holds the request until the
  oldest is a full window old. If the event loop stalls and several paced requests wake at once, the cap (not luck)
  keeps every window at or below the rate.

Times are integer nanoseconds inside, so no float rounding can squeeze one request too many
into a window. The clock and the sleep are constructor arguments: tests drive a fake clock.

One limiter is safe to share between threads and event loops (a lock guards its state; the
waiting happens outside the lock). :class:`RateLimitedTransport` puts it in front of an httpx
transport, so *every* request a client makes (retries and look-ups included) is paced.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from .deadline import restart_deadline

NS = 1_000_000_000
#: Pacing runs this much below the configured rate (see the module docstring): evenly spaced
#: requests then tolerate about 50 ms of extra delay between leaving the limiter and reaching the
#: provider (a busy event loop, a descheduled process) before any one-second window could
#: exceed the rate. Measured: delays of 30-60 ms happen on a loaded two-core machine.
DEFAULT_HEADROOM = 0.05


class Limiter(Protocol):
    """What :class:`RateLimitedTransport` needs: this one, or one shared by many processes
    (:class:`paynet_core.workers.shared_rate.SharedRateLimiter`)."""

    async def acquire(self) -> None: ...

    async def slow_down(self, seconds: float) -> None: ...


#: A 429 without Retry-After holds every request of the limiter back this long.
DEFAULT_SLOW_DOWN = 1.0


class RateLimiter:
    """At most ``rate`` requests in any one-second window, released one at a time.

    ``burst`` > 1 lets that many requests through back to back after a quiet spell (the window
    cap still holds). ``clock`` returns monotonic nanoseconds; ``sleep`` takes seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        headroom: float = DEFAULT_HEADROOM,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be in [0, 1)")
        self.rate = float(rate)
        self.burst = int(burst)
        self.headroom = headroom
        #: Nanoseconds between paced releases (rounded up: never faster than asked).
        self.interval_ns = math.ceil(NS / (self.rate * (1 - headroom)))
        # Below one request per second the window stretches so that it holds one request.
        self.window_ns = max(NS, math.ceil(NS / self.rate))
        # The cap keeps half the headroom in reserve even when a schedule catches up, for the
        # jitter that comes after the release, but never holds back the paced rate itself.
        per_window = self.rate * self.window_ns / NS
        self.cap = max(
            1,
            min(
                math.floor(per_window),
                max(
                    math.floor(per_window * (1 - headroom / 2)),
                    math.ceil(per_window * (1 - headroom)),
                ),
            ),
        )
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat: int | None = None  # "theoretical arrival time" of the next paced slot
        self._released: deque[int] = deque(maxlen=self.cap)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst})"

    def reserve(self) -> int:
        """Take the next paced slot; returns the clock time (ns) at which the caller may go."""
        with self._lock:
            now = self._clock()
            tat = now if self._tat is None else max(self._tat, now)
            slot = max(now, tat - (self.burst - 1) * self.interval_ns)
            self._tat = tat + self.interval_ns
            return slot

    def admit(self) -> int | None:
        """Release now if the spacing and the window cap allow (and log it); else the time (ns)
        to try again."""
        with self._lock:
            now = self._clock()
            if self.burst == 1 and self._released:
                # Slots are reserved ahead; callers that wake late (a stalled loop) must not go
                # out together. Half the interval between actual releases lets a late schedule
                # catch up (at twice the pace, briefly) without ever bunching.
                ready = self._released[-1] + self.interval_ns // 2
                if ready > now:
                    return ready
            if len(self._released) == self.cap:
                ready = self._released[0] + self.window_ns
                if ready > now:
                    return ready
            self._released.append(now)
            return None

    async def acquire(self) -> None:
        """Wait for this caller's turn. Cancelling the wait gives up the slot (nothing is sent)."""
        at: int | None = self.reserve()
        while at is not None:
            delay = at - self._clock()
            if delay > 0:
                await self._sleep(delay / NS)
            at = self.admit()

    async def slow_down(self, seconds: float) -> None:
        """The provider said 429: no slot is handed out before ``seconds`` from now."""
        with self._lock:
            until = self._clock() + int(max(0.0, seconds) * NS)
            self._tat = until if self._tat is None else max(self._tat, until)


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that waits for the limiter before each request it passes on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: Limiter | None):
        self.inner = inner
        self.limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.limiter is not None:
            await self.limiter.acquire()
            # the request's deadline counts from here: a wait for a slot is not a slow provider
            restart_deadline()
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429 and self.limiter is not None:
            await self.limiter.slow_down(_retry_after(response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return min(60.0, max(0.0, float(raw)))
    except ValueError:
        return DEFAULT_SLOW_DOWN
