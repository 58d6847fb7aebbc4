"""Faults on purpose: latency, error replies, timeouts, dropped connections, broken bodies.

A :class:`FaultPlan` is consulted once per request, after routing (so it knows the operation).
Deterministic faults queued with :meth:`FaultPlan.fail_next` win over random ones.

Kinds, and whether the request is applied to the state before the fault shows:

============================  =======  ==========================================================
kind                          applied  what the caller sees
============================  =======  ==========================================================
``http_500``                  no       HTTP 500, JSON ``api_error`` body
``http_502_html``             no       HTTP 502, an HTML page (like a proxy in front of the API)
``http_503``                  no       HTTP 503 with ``Retry-After: 1`` (the service is overloaded)
``rate_limit``                no       HTTP 429 with ``Retry-After: 1``
``error_in_200``              no       HTTP 200 with a non-zero code (Paynet 8, Payofin -18)
``("result_code", n)``        no       HTTP 200 with code ``n`` (Paynet) / resultCode ``n`` (Payofin)
``payofin_-6/-18/-24``        no       Payofin's transient result codes (Payofin operations only)
``connect_timeout``           no       ``httpx.ConnectTimeout``; the request never reached us
``timeout_before``            no       ``httpx.ReadTimeout``; the request was not applied
``disconnect_before``         no       ``httpx.RemoteProtocolError``; not applied
``timeout_after``             yes      ``httpx.ReadTimeout``; the reply is lost
``disconnect``                yes      ``httpx.RemoteProtocolError``; the reply is lost
``malformed_json``            yes      HTTP 200 with a truncated JSON body
``empty_body``                yes      HTTP 200 with an empty body
``wrong_types``               yes      HTTP 200 with ``code``/``resultCode`` as a list
============================  =======  ==========================================================

``disconnect`` applies the request first on purpose: a client cannot tell the two cases apart,
and the applied case is the one that duplicates invoices when a client retries blindly.

From the shell (``sandbox serve --faults``, ``PAYNET_SANDBOX_FAULTS``) the kinds go by short
names, see :data:`FAULT_NAMES` and :func:`parse_faults`.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FaultKind = str | tuple[str, int]

#: Faults decided before the request touches the state.
PRE_KINDS = frozenset(
    {
        "http_500",
        "http_502_html",
        "http_503",
        "rate_limit",
        "error_in_200",
        "connect_timeout",
        "timeout_before",
        "disconnect_before",
        "payofin_-6",
        "payofin_-18",
        "payofin_-24",
    }
)
#: Faults that hit the reply of a request that was applied.
POST_KINDS = frozenset(
    {"timeout_after", "disconnect", "malformed_json", "empty_body", "wrong_types"}
)
KINDS = PRE_KINDS | POST_KINDS
PAYOFIN_ONLY = frozenset({"payofin_-6", "payofin_-18", "payofin_-24"})

#: What random faults draw from by default: the transient failures a client must survive.
DEFAULT_RANDOM_KINDS: tuple[str, ...] = (
    "http_500",
    "http_502_html",
    "rate_limit",
    "timeout_before",
    "timeout_after",
    "disconnect",
)

#: The short names the shell uses → fault kinds. ``drop`` loses the request (not applied),
#: ``drop_after`` applies it and loses the reply; ``hang`` answers nothing until the client gives
#: up (the loopback door closes the connection after ``FaultPlan.timeout_seconds``).
FAULT_NAMES: dict[str, str] = {
    "500": "http_500",
    "502": "http_502_html",
    "503": "http_503",
    "429": "rate_limit",
    "drop": "disconnect_before",
    "drop_after": "disconnect",
    "hang": "timeout_before",
    "hang_after": "timeout_after",
    "malformed": "malformed_json",
    "empty": "empty_body",
}
_NAME_OF = {kind: name for name, kind in FAULT_NAMES.items()}

ENV_FAULT_RATE = "PAYNET_SANDBOX_FAULT_RATE"
ENV_FAULTS = "PAYNET_SANDBOX_FAULTS"
ENV_LATENCY_MS = "PAYNET_SANDBOX_LATENCY_MS"
ENV_JITTER_MS = "PAYNET_SANDBOX_JITTER_MS"


def fault_name(kind: str) -> str:
    """The short name of a kind (``disconnect`` → ``drop_after``), or the kind itself."""
    return _NAME_OF.get(kind, kind)


def parse_faults(text: str) -> tuple[str, ...]:
    """``"500,drop"`` → ``("http_500", "disconnect_before")``.

    Accepts the short names of :data:`FAULT_NAMES` and the kinds themselves; raises
    ``ValueError`` naming the bad token and the choices. A random fault draws one entry, so a
    kind named twice comes twice as often: ``--fault-rate 0.2 --faults 500,500,drop,drop_after``
    is 10 % 500s, 5 % dropped requests and 5 % dropped replies.
    """
    kinds: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        kind = FAULT_NAMES.get(token.lower(), token.lower())
        if kind not in KINDS:
            raise ValueError(
                f"unknown fault {token!r}; choose from {', '.join(FAULT_NAMES)} "
                f"(or a kind: {', '.join(sorted(KINDS))})"
            )
        kinds.append(kind)
    if not kinds:
        raise ValueError(f"no fault given; choose from {', '.join(FAULT_NAMES)}")
    return tuple(kinds)


def fault_shares(rate: float, kinds: Iterable[FaultKind]) -> dict[str, float]:
    """The share of all requests each kind takes (a kind listed twice takes twice as much):
    ``(0.2, ("http_500", "http_500", "disconnect"))`` → ``{"500": 0.1333.., "drop_after": 0.0666..}``."""
    listed = [fault_name(str(k)) for k in kinds]
    return {name: rate * listed.count(name) / len(listed) for name in dict.fromkeys(listed)}


def parse_rate(text: str | float, *, name: str = "fault rate") -> float:
    """A share between 0 and 1 (``"0.05"``); ``ValueError`` saying what is wrong."""
    try:
        rate = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {text!r} is not a number; give a share such as 0.05") from None
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise ValueError(f"{name} {text!r} must be between 0 and 1 (e.g. 0.05 for 5%)")
    return rate


def _milliseconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number of milliseconds") from None
    if not 0.0 <= value <= 600_000:
        raise ValueError(f"{name} {text!r} must be between 0 and 600000 ms")
    return value


def fault_plan(
    *,
    fault_rate: float = 0.0,
    faults: Iterable[str] | str | None = None,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    seed: int = 0,
) -> FaultPlan:
    """A plan from shell-style settings: ``faults`` as short names or kinds (default: the
    transient failures of :data:`DEFAULT_RANDOM_KINDS`)."""
    if isinstance(faults, str):
        kinds: tuple[str, ...] = parse_faults(faults)
    elif faults is None:
        kinds = DEFAULT_RANDOM_KINDS
    else:
        kinds = parse_faults(",".join(faults))
    return FaultPlan(
        latency=latency_ms / 1000,
        jitter=jitter_ms / 1000,
        rate=parse_rate(fault_rate),
        kinds=kinds,
        seed=seed,
    )


def fault_plan_from_env(env: Mapping[str, str]) -> FaultPlan:
    """The plan ``PAYNET_SANDBOX_FAULT_RATE`` / ``_FAULTS`` / ``_LATENCY_MS`` / ``_JITTER_MS``
    describe (unset or empty: a quiet network); ``ValueError`` naming the variable on bad input."""

    def get(key: str) -> str | None:
        value = env.get(key)
        return value.strip() if value is not None and value.strip() else None

    raw_faults = get(ENV_FAULTS)
    try:
        kinds = parse_faults(raw_faults) if raw_faults else None
    except ValueError as exc:
        raise ValueError(f"{ENV_FAULTS}: {exc}") from exc
    rate = parse_rate(get(ENV_FAULT_RATE) or 0, name=ENV_FAULT_RATE)
    latency = _milliseconds(get(ENV_LATENCY_MS) or "0", ENV_LATENCY_MS)
    jitter = _milliseconds(get(ENV_JITTER_MS) or "0", ENV_JITTER_MS)
    return fault_plan(fault_rate=rate, faults=kinds, latency_ms=latency, jitter_ms=jitter)


def validate_kind(kind: FaultKind) -> FaultKind:
    """Return ``kind`` if it is known, else raise ``ValueError`` listing the choices."""
    if isinstance(kind, tuple):
        if len(kind) == 2 and kind[0] == "result_code" and isinstance(kind[1], int):
            return kind
        raise ValueError(f"fault {kind!r}: a tuple fault must be ('result_code', <int>)")
    if kind not in KINDS:
        raise ValueError(
            f"unknown fault kind {kind!r}; choose from {sorted(KINDS)} or ('result_code', n)"
        )
    return kind


def is_pre(kind: FaultKind) -> bool:
    return isinstance(kind, tuple) or kind in PRE_KINDS


@dataclass
class _Queued:
    operation: str
    kind: FaultKind
    remaining: int


class FaultPlan:
    """Switches for latency and faults; thread-safe; seeded so a run can be replayed."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        rate: float = 0.0,
        kinds: Iterable[FaultKind] = DEFAULT_RANDOM_KINDS,
        operations: Iterable[str] | str = "*",
        seed: int = 0,
        timeout_seconds: float = 30.0,
    ):
        self._lock = threading.Lock()
        self._queue: deque[_Queued] = deque()
        self.seed = seed
        self._rng = random.Random(seed)
        #: How long the loopback door holds a "timed out" request before dropping it. Set the
        #: client's timeout below this so it gives up first.
        self.timeout_seconds = timeout_seconds
        self.set_latency(latency, jitter)
        self.set_random(rate, kinds, operations)

    # -- configuration -------------------------------------------------------------------
    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Every reply takes ``seconds`` plus a uniform ``0..jitter`` extra."""
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        with self._lock:
            self.latency = float(seconds)
            self.jitter = float(jitter)

    def set_random(
        self,
        rate: float,
        kinds: Iterable[FaultKind] = DEFAULT_RANDOM_KINDS,
        operations: Iterable[str] | str = "*",
    ) -> None:
        """A share ``rate`` (0..1) of requests to ``operations`` fails with one of ``kinds``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        kinds = tuple(validate_kind(k) for k in kinds)
        if rate and not kinds:
            raise ValueError("a random fault rate needs at least one kind")
        ops = frozenset({operations} if isinstance(operations, str) else operations)
        with self._lock:
            self.rate = float(rate)
            self.random_kinds = kinds
            self.random_operations = ops

    def fail_next(self, operation: str, kind: FaultKind, count: int = 1) -> None:
        """The next ``count`` requests to ``operation`` (``"*"`` for any) fail with ``kind``."""
        validate_kind(kind)
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._queue.append(_Queued(operation, kind, count))

    def clear(self) -> None:
        """Back to a quiet network: no latency, no faults, the random stream re-seeded."""
        with self._lock:
            self._queue.clear()
            self._rng = random.Random(self.seed)
            self.latency = self.jitter = self.rate = 0.0

    @property
    def pending(self) -> list[tuple[str, FaultKind, int]]:
        """Queued deterministic faults: (operation, kind, remaining)."""
        with self._lock:
            return [(q.operation, q.kind, q.remaining) for q in self._queue]

    # -- consulted by the sandbox ----------------------------------------------------------
    def next_delay(self) -> float:
        """Seconds the door waits before handling the next request."""
        with self._lock:
            if not self.jitter:
                return self.latency
            return self.latency + self._rng.uniform(0.0, self.jitter)

    def take(self, operation: str, *, provider: str) -> FaultKind | None:
        """The fault for this request, if any (consumes a queued one)."""
        with self._lock:
            for item in self._queue:
                if item.operation not in ("*", operation):
                    continue
                if item.kind in PAYOFIN_ONLY and provider != "payofin":
                    continue
                item.remaining -= 1
                if item.remaining == 0:
                    self._queue.remove(item)
                return item.kind
            targeted = "*" in self.random_operations or operation in self.random_operations
            if not (self.rate and targeted) or self._rng.random() >= self.rate:
                return None
            kinds = [k for k in self.random_kinds if provider == "payofin" or k not in PAYOFIN_ONLY]
            return self._rng.choice(kinds) if kinds else None
