"""Retry policy: two small pure functions, and one sleep that tests make instant.

Only operations that are safe to repeat are retried. ``create_invoice`` is never retried blindly;
the Paynet client looks the invoice up by ``invoice_no`` after an ambiguous failure instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import ProviderError, RateLimitError, TransportError


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: Retry-After above this is not waited for; the error goes to the caller instead.
    max_retry_after: float = 60.0
    #: All the waits between tries of one call together stay within this: a page click must
    #: not sit out ``Retry-After: 59`` three times. A wait that would go over it is not taken;
    #: the error goes to the caller (a bulk job pauses on it).
    max_retry_wait: float = 10.0


def should_retry(error: Exception, *, attempt: int, policy: RetryPolicy, idempotent: bool) -> bool:
    """Whether to send the same request again after ``attempt`` failed tries (0-based)."""
    if attempt >= policy.max_retries or not isinstance(error, ProviderError):
        return False
    if isinstance(error, RateLimitError) and (error.retry_after or 0) > policy.max_retry_after:
        return False
    if not error.is_retryable:
        return False
    # A request that never left this machine can be sent again whatever it does.
    if isinstance(error, TransportError) and not error.maybe_applied:
        return True
    if isinstance(error, RateLimitError):  # refused before processing
        return True
    return idempotent


def retry_delay(
    attempt: int,
    *,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before try ``attempt + 1``: Retry-After when given, else capped
    exponential backoff with full jitter (half fixed, half random, so waits never collapse to 0)."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, policy.max_retry_after)
    ceiling = min(policy.max_delay, policy.base_delay * (2**attempt))
    r = (rng or random).random()
    return ceiling / 2 + r * ceiling / 2


def within_budget(delay: float, *, waited: float, policy: RetryPolicy) -> bool:
    """Whether waiting ``delay`` more seconds keeps a call's total wait (``waited`` so far)
    within ``policy.max_retry_wait``."""
    return waited + delay <= policy.max_retry_wait


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for APIs and read as absent)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
