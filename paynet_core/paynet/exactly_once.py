"""Create an invoice exactly once, whatever the network does: one policy for every caller.

Paynet returns no id for a new invoice, so our ``invoice_no`` is the idempotency handle. The
rules, used by :class:`~paynet_core.paynet.client.PaynetClient`,
:class:`~paynet_core.paynet.client.AsyncPaynetClient` and the job runner alike:

* a creation that surely never reached Paynet (a refused connection, a 429) is sent again;
* one that may have been applied (no reply, a 5xx, a garbled body) is looked up with
  ``invoice_list`` first: found means done ("recovered"), absent means sending again is safe;
  with no tries left it is still looked up once, so the error says whether the invoice exists;
* a lookup that fails leaves the question open: nothing is sent again (the error says so);
* "already exists" (code 5) after an ambiguous attempt, or whenever the caller says a taken
  number is ours (``claim_taken``: the runner, whose numbers the planner fixed), is looked up
  too: the same amount is ours, another amount is someone else's invoice and a conflict;
* a caller that already doubts (``in_doubt``: a runner that died with the item in flight)
  looks first, and may ask not to send at all when it is absent (``send_if_absent``).

One budget bounds it all: ``policy.max_retries + 1`` failed requests (a failed lookup counts the
tries its reads made, ``lookup_cost``) and ``policy.max_retry_wait`` seconds of waiting. The
decisions are pure functions from a :class:`Creation` and an outcome to the next step; the two
small drivers at the end do the sending, for sync and async clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import (
    AuthenticationError,
    ContractError,
    DuplicateError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from ..http import next_wait
from ..http.retry import RetryPolicy, should_retry
from .models import Invoice

# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send the creation; ``wait`` seconds first (None: at once, and nothing to sleep)."""

    wait: float | None = None


@dataclass(frozen=True)
class Lookup:
    """Look the invoice_no up (``invoice_list`` within its subscription)."""


@dataclass(frozen=True)
class Created:
    """Paynet answered the creation with success; ``body`` is its reply."""

    body: dict


@dataclass(frozen=True)
class Recovered:
    """An earlier attempt had created it: found by a lookup, with our amount."""

    found: Invoice


@dataclass(frozen=True)
class Absent:
    """In doubt, looked up, not there, and the caller asked not to send it."""


@dataclass(frozen=True)
class Fail:
    """Stop: raise ``error`` (from ``cause``, when given)."""

    error: ProviderError
    cause: BaseException | None = None


Step = Send | Lookup | Created | Recovered | Absent | Fail


@dataclass(frozen=True)
class Creation:
    """Where one creation stands. Frozen: each decision returns a new one."""

    invoice_no: str
    amount: int
    policy: RetryPolicy
    #: Failed requests a failed lookup stands for (its reads already retried that often).
    lookup_cost: int = 1
    claim_taken: bool = False
    in_doubt: bool = False
    send_if_absent: bool = True
    sends: int = 0
    failures: int = 0
    waited: float = 0.0
    #: The failure the pending lookup is about (None: the caller's own doubt).
    reason: ProviderError | None = None
    #: The pending lookup is the last step: absent ends in an error.
    final: bool = False

    @property
    def tries(self) -> int:
        return self.policy.max_retries + 1


# -- decisions --------------------------------------------------------------------------------


def first_step(c: Creation) -> Step:
    return Lookup() if c.in_doubt else Send()


def after_send(
    c: Creation, *, body: dict | None = None, error: ProviderError | None = None
) -> tuple[Creation, Step]:
    """The next step after one send of the creation (``sends`` already counted)."""
    if error is None:
        return c, Created(body or {})
    if isinstance(error, DuplicateError):
        if c.in_doubt or c.claim_taken:  # maybe ours: an earlier attempt, or the same row again
            return replace(c, reason=error, final=True), Lookup()
        return c, Fail(error)
    failures = c.failures + 1
    decision = _after_failure(error, failures, c.policy)
    if decision == "raise":
        return c, Fail(error)
    c = replace(c, failures=failures)
    if decision == "resend":
        return _resend(c, error)
    return replace(c, in_doubt=True, reason=error, final=decision == "last lookup"), Lookup()


def after_lookup(
    c: Creation, *, found: Invoice | None = None, error: ProviderError | None = None
) -> tuple[Creation, Step]:
    """The next step after a lookup of the invoice_no."""
    if error is not None:
        return _lookup_failed(c, error)
    if found is not None:
        if found.amount != c.amount:
            return c, Fail(_not_ours(c, found))
        return c, Recovered(found)
    if isinstance(c.reason, DuplicateError):
        return c, Fail(c.reason)  # taken, yet not where we looked: not ours to claim
    if c.final:
        assert c.reason is not None  # final is only ever set together with the reason
        return c, Fail(_absent_after_last_try(c.reason, c.invoice_no), c.reason)
    if not c.send_if_absent:
        return c, Absent()
    if c.reason is None:
        return c, Send()  # the caller's doubt, now cleared: the first send of this call
    return _resend(c, c.reason)


def _after_failure(err: ProviderError, failures: int, policy: RetryPolicy) -> str:
    """ "raise"; "resend" (surely not applied); "lookup" (maybe applied: look, send again if
    absent); or "last lookup" (maybe applied and no tries left: look once, to tell)."""
    never_applied = isinstance(err, RateLimitError) or (
        isinstance(err, TransportError) and not err.maybe_applied
    )
    # The sender's rule (tries left, a Retry-After within the policy, a retryable error); a lookup
    # comes before any resend of a creation that may have been applied, hence idempotent=True.
    if should_retry(err, attempt=failures - 1, policy=policy, idempotent=True):
        return "resend" if never_applied else "lookup"
    if err.is_retryable and not never_applied:
        return "last lookup"
    return "raise"


def _resend(c: Creation, err: ProviderError) -> tuple[Creation, Step]:
    try:
        delay = next_wait(err, attempt=c.failures - 1, waited=c.waited, policy=c.policy)
    except ProviderError as final:  # the wait would pass the budget: the error ends the call
        return c, Fail(final, None if final is err else err)
    return replace(c, waited=c.waited + delay), Send(delay)


def _lookup_failed(c: Creation, lookup_err: ProviderError) -> tuple[Creation, Step]:
    failures = c.failures + c.lookup_cost
    if (
        lookup_err.is_retryable
        and not isinstance(lookup_err, AuthenticationError)
        and failures < c.tries
    ):
        # a walk over many pages can meet a passing fault even after its reads' retries
        return replace(c, failures=failures), Lookup()
    if c.reason is None:
        if isinstance(lookup_err, AuthenticationError):
            return c, Fail(lookup_err)  # the key is refused: nothing is known, nothing was sent
        return c, Fail(_unverified(lookup_err, c.invoice_no), lookup_err)
    # We cannot tell whether the invoice exists: stop rather than risk a second one.
    wrapped = type(c.reason)(
        f"{c.reason.message}; and the follow-up lookup of invoice_no {c.invoice_no} failed "
        f"({lookup_err.message}), so it was not sent again",
        **_err_ctx(c.reason),
    )
    return c, Fail(wrapped, lookup_err)


def _not_ours(c: Creation, found: Invoice) -> DuplicateError:
    return DuplicateError(
        f"invoice_no {c.invoice_no} exists at Paynet with another amount ({found.amount} kuruş, "
        f"not {c.amount}): not ours; give the row a new invoice_no",
        provider="Paynet",
        operation="create_invoice",
        code=5,
    )


def _unverified(err: ProviderError, invoice_no: str) -> ProviderError:
    return type(err)(
        f"could not check whether invoice_no {invoice_no} was created ({err.message}), so it was "
        "not sent again; send it again with this invoice_no: Paynet refuses a second copy",
        **_err_ctx(err),
    )


def _absent_after_last_try(err: ProviderError, invoice_no: str) -> ProviderError:
    return type(err)(
        f"{err.message}; no tries left, and a lookup right after did not find invoice_no {invoice_no}",
        **_err_ctx(err),
    )


def _err_ctx(err: ProviderError) -> dict[str, Any]:
    ctx: dict[str, Any] = dict(
        provider=err.provider,
        operation=err.operation,
        http_status=err.http_status,
        code=err.code,
        request_id=err.request_id,
        error_type=err.error_type,
    )
    if isinstance(err, TransportError):
        ctx["maybe_applied"] = err.maybe_applied
    if isinstance(err, RateLimitError):
        ctx["retry_after"] = err.retry_after
    if isinstance(err, ContractError):
        ctx["transient"] = err.transient
    return ctx


# -- drivers ----------------------------------------------------------------------------------

Outcome = tuple[Creation, Created | Recovered | Absent]


def run(
    c: Creation,
    *,
    send: Callable[[], dict],
    lookup: Callable[[], Invoice | None],
    sleep: Callable[[float], object],
) -> Outcome:
    """Drive ``c`` to its end with blocking calls; raises the error a :class:`Fail` carries."""
    step = first_step(c)
    while True:
        if isinstance(step, Send):
            if step.wait is not None:
                sleep(step.wait)
            c = replace(c, sends=c.sends + 1)
            try:
                body = send()
            except ProviderError as err:
                c, step = after_send(c, error=err)
            else:
                c, step = after_send(c, body=body)
        elif isinstance(step, Lookup):
            try:
                found = lookup()
            except ProviderError as err:
                c, step = after_lookup(c, error=err)
            else:
                c, step = after_lookup(c, found=found)
        elif isinstance(step, Fail):
            _raise(step)
        else:
            return c, step


async def arun(
    c: Creation,
    *,
    send: Callable[[], Awaitable[dict]],
    lookup: Callable[[], Awaitable[Invoice | None]],
    sleep: Callable[[float], Awaitable[object]],
) -> Outcome:
    """:func:`run` for async clients: the same steps, awaited."""
    step = first_step(c)
    while True:
        if isinstance(step, Send):
            if step.wait is not None:
                await sleep(step.wait)
            c = replace(c, sends=c.sends + 1)
            try:
                body = await send()
            except ProviderError as err:
                c, step = after_send(c, error=err)
            else:
                c, step = after_send(c, body=body)
        elif isinstance(step, Lookup):
            try:
                found = await lookup()
            except ProviderError as err:
                c, step = after_lookup(c, error=err)
            else:
                c, step = after_lookup(c, found=found)
        elif isinstance(step, Fail):
            _raise(step)
        else:
            return c, step


def _raise(step: Fail) -> None:
    if step.cause is not None and step.cause is not step.error:
        raise step.error from step.cause
    raise step.error
