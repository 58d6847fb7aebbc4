"""One request rate for every worker on every machine: a token bucket row in PostgreSQL.

Plugs into :class:`paynet_core.http.ratelimit.RateLimitedTransport` like the in-process
:class:`~paynet_core.http.ratelimit.RateLimiter`, so every request a client makes (creations,
look-ups, status changes, retries) takes a slot. Slots are ``1 / rate`` apart on the database's
clock, paced ``headroom`` below the rate as the local limiter is. A request that wakes more than
``late`` after its slot (a stalled event loop, a descheduled process) takes a new slot rather than
going out together with later ones: that keeps any one-second window at or below the rate even
when processes stall. A 429 from the provider pushes the bucket forward for everyone.
"""

from __future__ import annotations

import asyncio
import math
import time

import psycopg

from ..http.ratelimit import DEFAULT_HEADROOM
from ..store import queue_pg

#: A slot used later than this (seconds) is given up and a new one taken. Paced 5 % below the
#: rate, slots used up to ~50 ms late cannot put more than ``rate`` into any one-second window
#: (0.95 * (1 + 0.05) < 1); 40 ms leaves room for the network after the release.
LATE = 0.04


class SharedRateLimiter:
    """``rate`` requests per second for all holders of bucket ``name``, through ``conn``."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection,
        name: str,
        rate: float,
        *,
        headroom: float = DEFAULT_HEADROOM,
        late: float = LATE,
    ):
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        self.conn = conn
        self.name = name
        self.rate = float(rate)
        self.interval_us = math.ceil(1e6 / (self.rate * (1 - headroom)))
        self.late = late
        self._lock = asyncio.Lock()  # one statement at a time on the shared connection

    def __repr__(self) -> str:
        return f"SharedRateLimiter({self.name!r}, rate={self.rate:g}/s)"

    async def acquire(self) -> None:
        while True:
            async with self._lock:
                # measured before the round trip: its delay counts as lateness (the safe side)
                asked = time.monotonic()
                wait = await queue_pg.reserve_slot(self.conn, self.name, self.interval_us)
            due = asked + wait
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() - due <= self.late:
                return

    async def slow_down(self, seconds: float) -> None:
        async with self._lock:
            await queue_pg.slow_down(self.conn, self.name, seconds)


def bucket_name(mode: str, provider: str = "paynet") -> str:
    """One bucket per provider account: the mode picks the account (sandbox, test, live)."""
    return f"{provider}:{mode}"
