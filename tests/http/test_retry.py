import random

import pytest

from paynet_core.errors import (
    APIError,
    AuthenticationError,
    ContractError,
    RateLimitError,
    ServerError,
    TransportError,
)
from paynet_core.http.retry import RetryPolicy, parse_retry_after, retry_delay, should_retry

CTX = dict(provider="Paynet", operation="op")
POLICY = RetryPolicy(max_retries=3)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (TransportError("x", maybe_applied=False, **CTX), False, True),  # never left: always safe
        (TransportError("x", maybe_applied=True, **CTX), False, False),  # may have been applied
        (TransportError("x", maybe_applied=True, **CTX), True, True),
        (ServerError("x", http_status=503, **CTX), True, True),
        (ServerError("x", http_status=503, **CTX), False, False),
        (RateLimitError("x", retry_after=1, **CTX), False, True),  # refused before processing
        (RateLimitError("x", retry_after=600, **CTX), True, False),  # too long to wait here
        (ContractError("html", transient=True, **CTX), True, True),
        (ContractError("wrong type", transient=False, **CTX), True, False),
        (APIError("no", code=1, **CTX), True, False),
        (AuthenticationError("no", **CTX), True, False),
        (ValueError("not ours"), True, False),
    ],
)
def test_should_retry_table(error, idempotent, expected):
    assert should_retry(error, attempt=0, policy=POLICY, idempotent=idempotent) is expected


def test_should_retry_stops_after_max_retries():
    err = ServerError("x", **CTX)
    assert should_retry(err, attempt=2, policy=POLICY, idempotent=True)
    assert not should_retry(err, attempt=3, policy=POLICY, idempotent=True)


def test_retry_delay_honours_retry_after_and_caps_backoff():
    assert retry_delay(0, policy=POLICY, retry_after=2.5) == 2.5
    rng = random.Random(1)
    delays = [retry_delay(a, policy=POLICY, rng=rng) for a in range(10)]
    for attempt, d in enumerate(delays):
        ceiling = min(POLICY.max_delay, POLICY.base_delay * 2**attempt)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= POLICY.max_delay


@pytest.mark.parametrize(
    ("raw", "seconds"), [("2", 2.0), (" 0.5 ", 0.5), ("-1", None), ("soon", None), (None, None)]
)
def test_parse_retry_after(raw, seconds):
    assert parse_retry_after(raw) == seconds
