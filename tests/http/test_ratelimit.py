import asyncio
import heapq
import math
from bisect import bisect_left

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paynet_core.http.ratelimit import NS, RateLimitedTransport, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def most_in_window(times: list[int], window: int = NS) -> int:
    times = sorted(times)
    return max((bisect_left(times, t + window, lo=i) - i for i, t in enumerate(times)), default=0)


def simulate(
    limiter: RateLimiter, clock: FakeClock, arrivals: list[int], lags: list[int]
) -> list[int]:
    """Callers arrive at ``arrivals`` (ns); each wake-up comes ``lag`` ns late (a busy event loop).

    Returns the release times. A small discrete-event loop in place of asyncio, on the fake clock.
    """
    events = [(t, i, "arrive") for i, t in enumerate(arrivals)]
    heapq.heapify(events)
    released = []
    wakeups = 0
    while events:
        t, i, phase = heapq.heappop(events)
        clock.now = max(clock.now, t)
        lag = lags[wakeups % len(lags)] if lags else 0
        wakeups += 1
        if phase == "arrive":
            heapq.heappush(events, (limiter.reserve() + lag, i, "admit"))
            continue
        retry = limiter.admit()
        if retry is None:
            released.append(clock.now)
        else:
            heapq.heappush(events, (retry + lag, i, "admit"))
    return released


rates = st.one_of(st.integers(1, 300).map(float), st.floats(0.2, 300, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(
    rate=rates,
    arrivals=st.lists(st.integers(0, 3 * NS), min_size=1, max_size=400),
    lags=st.lists(st.integers(0, NS // 10), max_size=20),
)
def test_never_more_than_the_rate_in_any_one_second_window(rate, arrivals, lags):
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock)
    released = simulate(limiter, clock, arrivals, lags)
    assert len(released) == len(arrivals)
    allowed = limiter.cap
    assert allowed == 1 if rate < 1 else 1 <= allowed <= math.floor(rate)
    window = NS if rate >= 1 else math.ceil(NS / rate)
    assert most_in_window(released, window) <= allowed
    if rate >= 1:
        assert most_in_window(released) <= rate
    gaps = [b - a for a, b in zip(sorted(released), sorted(released)[1:], strict=False)]
    assert all(gap >= limiter.interval_ns // 2 for gap in gaps)  # burst 1: never together


@settings(max_examples=100, deadline=None)
@given(rate=st.integers(1, 500).map(float), n=st.integers(2, 300))
def test_a_backlog_is_paced_evenly_at_nearly_the_rate(rate, n):
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock)
    released = simulate(limiter, clock, [0] * n, [])
    gaps = [b - a for a, b in zip(released, released[1:], strict=False)]
    assert min(gaps) >= NS / rate  # burst 1: never two at once
    achieved = (n - 1) / ((released[-1] - released[0]) / NS)
    assert achieved >= 0.94 * rate


def test_burst_lets_a_few_through_after_a_quiet_spell_but_keeps_the_window():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=5, clock=clock)
    released = simulate(limiter, clock, [0] * 30, [])
    assert released[:5] == [0] * 5
    assert most_in_window(released) <= 10


def test_bad_settings_are_refused():
    for rate in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            RateLimiter(rate)
    with pytest.raises(ValueError):
        RateLimiter(5, burst=0)


def test_acquire_sleeps_through_the_injected_sleep():
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += round(seconds * NS)

    limiter = RateLimiter(4, headroom=0, clock=clock, sleep=fake_sleep)

    async def main():
        for _ in range(5):
            await limiter.acquire()

    asyncio.run(main())
    assert slept == [0.25] * 4
    assert clock.now == NS


def test_transport_paces_every_request_it_passes_on():
    clock = FakeClock()
    sent: list[int] = []

    async def fake_sleep(seconds: float) -> None:
        clock.now += round(seconds * NS)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(200, json={"code": 0})

    limiter = RateLimiter(2, headroom=0, clock=clock, sleep=fake_sleep)

    async def main():
        transport = RateLimitedTransport(httpx.MockTransport(handler), limiter)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            for _ in range(4):
                await client.post("/y")

    asyncio.run(main())
    assert sent == [0, NS // 2, NS, 3 * NS // 2]
