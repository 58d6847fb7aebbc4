"""HTTP for both provider clients: sending with retries, reading bounded replies, pacing.

:mod:`.sender` sends a :class:`Call` (sync and async), :mod:`.replies` reads and parses the
reply within its byte cap, :mod:`.deadline` bounds each request in time, :mod:`.retry` decides
whether and when to try again, and :mod:`.ratelimit` paces bulk jobs. Callers import from here.
"""

from .deadline import DEFAULT_DEADLINE, bounded_transport, restart_deadline
from .ratelimit import RateLimitedTransport, RateLimiter
from .replies import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_REPLY_BYTES,
    read_json,
    reply_code,
    reply_text,
    shown,
)
from .retry import RetryPolicy, parse_retry_after, retry_delay, should_retry, within_budget
from .sender import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    AsyncSender,
    Call,
    Sender,
    needs_transport,
    new_request_id,
    next_wait,
    transport_error,
)

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_REPLY_BYTES",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "AsyncSender",
    "Call",
    "RateLimitedTransport",
    "RateLimiter",
    "RetryPolicy",
    "Sender",
    "bounded_transport",
    "needs_transport",
    "new_request_id",
    "next_wait",
    "parse_retry_after",
    "read_json",
    "reply_code",
    "reply_text",
    "restart_deadline",
    "retry_delay",
    "should_retry",
    "shown",
    "transport_error",
    "within_budget",
]
