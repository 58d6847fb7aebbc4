"""The bulk engine: journaled, resumable, concurrent and rate-limited jobs.

A job is rows in the store: the job, and one item per planned call (see
:mod:`paynet_core.planner`). Items move ``pending → sending → done | failed | skipped``, and
each move is committed: an item is claimed (``sending``) before its request leaves, and its
result is committed as soon as the reply is in (results that arrive together share one
transaction). Items are claimed a worker-pool's worth at a time (a claim is a write); claimed
items not started when the job pauses or is cancelled go back to ``pending``. So the journal
never claims more than happened, and a runner can be killed at any moment:

* on resume, items left in ``sending`` are reconciled before anything new is claimed. A status
  change is sent again (setting a status twice leaves the same state). A creation is looked up
  by its ``invoice_no`` first (the planner fixed the number before the first send): found means
  done, absent means send it again. Nothing is lost and nothing is sent twice.

Control goes through the store, so the dashboard and the CLI can steer a job that another
thread or process runs: ``pause_job`` and ``cancel_job`` set the job's state, and the runner
reads it between claims. Cancel stops claiming, lets in-flight items finish, then marks the
remaining items ``skipped`` and the job ``cancelled``. Pause stops the same way and leaves the
rest ``pending`` until ``resume_job``.

A runner owns its job: it writes its pid and a heartbeat. ``run_job`` refuses a job whose
runner is alive; a job whose runner died (dead pid or a stale heartbeat) is taken over, and
``resume_stale_jobs`` does that for every such job (e.g. when the dashboard starts). A runner
that stops cleanly sets ``runner_pid`` to 0 ("no runner").

A failure of one item never stops the others; the job pauses by itself (a "breaker") when
Paynet refuses the key (the item goes back to ``pending``) or after ``BREAKER_FAILURES``
retryable failures in a row. Each result also updates the cache (status history with the job
and the person who started it) and writes an audit line per item: who changed invoice X, when,
from which status to which, and Paynet's code and message. Job-level lines: ``job_start``,
``job_pause``, ``job_resume``, ``job_cancel``, ``job_cancelled``, ``job_review_pause``,
``job_finish``.

Two jobs never touch the same invoice at once: ``start_job`` refuses a plan that overlaps the
unfinished items of an active job (pending, running, paused or cancelling) and names the job and
the invoices. An ``invoices_status_update_all`` item counts as touching every invoice of its
subscription, and a new invoice for a subscription counts as touching that subscription.

Run without Streamlit: ``run_job_in_background`` (a daemon thread with its own event loop) or
``run_job_detached`` / ``python -m paynet_core.jobs run JOB_ID`` (a process of its own, so the
job outlives a closed browser tab or a restarted dashboard).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from . import dates
from .config import DEFAULT_RATE, Mode
from .errors import (
    MAX_ERROR_MESSAGE,
    AuthenticationError,
    ContractError,
    DuplicateError,
    InputError,
    JobConflictError,
    JobError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
    StoreError,
    TransportError,
    clip_opt,
)
from .http.ratelimit import RateLimitedTransport, RateLimiter
from .paynet.client import AsyncPaynetClient
from .paynet.models import Invoice, InvoiceStatus
from .planner import CREATE, SET_STATUS, SET_STATUS_ALL, Plan
from .store import JOB_FINAL_STATES, Store, keeping_rollup

log = logging.getLogger("paynet_core.jobs")

DEFAULT_CONCURRENCY = 8
#: States of a job that may still send something: they block overlapping jobs.
ACTIVE_STATES = ("pending", "running", "paused", "cancelling")
#: A runner writes a heartbeat this often (seconds) ...
HEARTBEAT_INTERVAL = 1.0
#: ... and one silent for this long is presumed dead, even if its pid still exists.
STALE_AFTER = 30.0
#: How often (seconds) the runner re-reads the job's state for pause/cancel requests.
POLL_INTERVAL = 0.05
#: Consecutive retryable failures (after the client's own retries) that pause a job: the
#: provider looks down, and failing thousands of rows helps no one.
BREAKER_FAILURES = 10
#: First run of a LIVE job: this many items, then a pause for review.
LIVE_FIRST_BATCH = 10
#: A creation that failed and is proven absent by a lookup is sent again, in all this many times
#: (each send already retries inside the client); then the item fails, nothing duplicated.
CREATE_ROUNDS = 3
NO_RUNNER = 0

TransportWrap = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
#: Builds one client per worker; it must pass its transport through ``wrap`` (the rate limiter).
ClientFactory = Callable[[TransportWrap], AsyncPaynetClient]

_running: set[str] = set()  # jobs run by this process right now
_running_lock = threading.Lock()


# ----------------------------------------------------------------------------------------------
# Guards for LIVE mode (the UI and the CLI call these)
# ----------------------------------------------------------------------------------------------


def live_requires_confirmation(mode: Mode | str) -> bool:
    """Whether starting a job needs a typed confirmation (only on LIVE: real money)."""
    return Mode(str(mode)) is Mode.LIVE


def confirmation_phrase(plan: Plan) -> str:
    """What a person types to confirm a LIVE job: the number of invoices it touches."""
    return str(plan.invoice_count)


def default_rate(mode: Mode | str, configured: float | None = None) -> float:
    """Requests per second for a new job: the configured limit, else the mode's conservative
    default (:data:`paynet_core.config.DEFAULT_RATE`)."""
    return float(configured) if configured else DEFAULT_RATE[Mode(str(mode))]


def default_first_batch(mode: Mode | str) -> int | None:
    """On LIVE a new job first runs a few items, then pauses for review; elsewhere it runs through."""
    return LIVE_FIRST_BATCH if Mode(str(mode)) is Mode.LIVE else None


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSummary:
    """Where a job stands: its state and how many items are in each item state."""

    job_id: str
    state: str
    total: int
    done: int
    failed: int
    skipped: int
    pending: int
    sending: int
    #: Why the last run stopped early (a pause request, a first-batch review, a breaker), if it did.
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in JOB_FINAL_STATES

    @property
    def ok(self) -> bool:
        """Everything was sent and accepted."""
        return self.state == "done" and self.failed == 0 and self.skipped == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_summary(store: Store, job_id: str, note: str | None = None) -> JobSummary:
    job = _job(store, job_id)
    counts = store.job_progress(job_id)
    return JobSummary(
        job_id,
        job["state"],
        counts["total"],
        counts["done"],
        counts["failed"],
        counts["skipped"],
        counts["pending"],
        counts["sending"],
        note,
    )


# ----------------------------------------------------------------------------------------------
# Starting and steering jobs
# ----------------------------------------------------------------------------------------------


def start_job(
    plan: Plan,
    *,
    runtime=None,
    store: Store | None = None,
    mode: Mode | str | None = None,
    created_by: str,
    source_name: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: float | None = None,
    first_batch: int | None = None,
    confirmation: str | None = None,
) -> str:
    """Journal ``plan`` as a new job (state 'pending') and return its id; nothing is sent yet.

    ``rate`` None uses the configured/default rate of the mode; 0 means no limit (refused on
    LIVE). On LIVE, ``confirmation`` must equal :func:`confirmation_phrase`. Refused with a
    ``JobError`` naming the job and invoices when the plan overlaps an active job.
    """
    store, mode = _store_and_mode(runtime, store, mode)
    if not plan.calls:
        raise JobError("the plan has no calls to make (no valid rows)")
    if concurrency < 1:
        raise JobError("concurrency must be at least 1")
    configured = runtime.settings.rate_limit if runtime is not None else None
    rate = default_rate(mode, configured) if rate is None else float(rate)
    if rate < 0:
        raise JobError("rate must be positive (or 0 for no limit)")
    if live_requires_confirmation(mode):
        if rate == 0:
            raise JobError("a LIVE job needs a rate limit")
        if confirmation is None or confirmation.strip() != confirmation_phrase(plan):
            raise JobError(
                f"a LIVE job needs a typed confirmation: the number of invoices, "
                f"{confirmation_phrase(plan)}"
            )
    if first_batch is not None and first_batch < 1:
        first_batch = None
    if live_requires_confirmation(mode) and first_batch is None:
        first_batch = LIVE_FIRST_BATCH  # a LIVE job always pauses for a review: no way around it
    options = {
        "concurrency": concurrency,
        "rate": rate,
        "first_batch": first_batch,
        "plan": plan.summary(),
        "invalid_rows": plan.invalid_records,
    }
    items = [call.job_item() for call in plan.calls]
    with store.transaction():
        conflict = _conflict(store, plan)
        if conflict:
            raise conflict
        job_id = store.create_job(
            plan.kind,
            items,
            created_by=created_by,
            mode=str(mode),
            source_name=source_name or plan.source_name,
            options=options,
        )
        store.audit(
            created_by,
            "job_start",
            mode=str(mode),
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={k: v for k, v in options.items() if k != "invalid_rows"},
        )
    return job_id


def pause_job(job_id: str, *, store: Store, actor: str) -> str:
    """Ask the runner to stop after its in-flight items; the rest stays pending until resumed."""
    with store.transaction():
        job = _job(store, job_id)
        if job["state"] == "paused":
            return "paused"
        if job["state"] not in ("pending", "running"):
            raise JobError(
                f"job {job_id} is {job['state']}; only a pending or running job can pause"
            )
        store.set_job_state(job_id, "paused")
        store.audit(
            actor,
            "job_pause",
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
    return "paused"


def resume_job(job_id: str, *, store: Store, actor: str) -> str:
    """Make a paused (or abandoned) job runnable again; then run it with ``run_job`` or in the
    background. Returns the state it is left in ('pending', or 'cancelling' to finish a cancel)."""
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        if state in JOB_FINAL_STATES:
            raise JobError(f"job {job_id} is {state}; it cannot be resumed")
        live = _live_runner(job)
        if live:
            raise JobError(f"job {job_id} is already being run by {live}")
        if state == "paused":
            store.set_job_state(job_id, "pending")
            state = "pending"
        store.audit(
            actor,
            "job_resume",
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
    return state


def cancel_job(job_id: str, *, store: Store, actor: str) -> str:
    """Cancel a job: no new items are sent; in-flight ones finish; the rest end 'skipped'.

    Returns the job's state afterwards: 'cancelled' when it could be finished right away, or
    'cancelling' when a runner must finish it (a live runner does so by itself; a job whose
    runner died with items in flight needs ``run_job`` to reconcile those first).
    """
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        if state in JOB_FINAL_STATES:
            if state == "cancelled":
                return state
            raise JobError(f"job {job_id} is already {state}")
        store.audit(
            actor,
            "job_cancel",
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
        )
        if _live_runner(job) or store.items_in_state(job_id, "sending"):
            store.set_job_state(job_id, "cancelling")
            return "cancelling"
        skipped = _skip_pending(store, job_id, f"cancelled by {actor}")
        store.set_job_state(job_id, "cancelled")
        store.audit(
            actor,
            "job_cancelled",
            mode=job["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={"skipped": skipped},
        )
    return "cancelled"


def live_runner(store: Store, job_id: str) -> str | None:
    """Who runs the job right now ('this process' or 'process N ...'), or None."""
    return _live_runner(_job(store, job_id))


# ----------------------------------------------------------------------------------------------
# Clients: one per worker, each behind the job's rate limiter
# ----------------------------------------------------------------------------------------------


def paynet_clients(runtime) -> ClientFactory:
    """Clients for the runtime's settings: the runtime chooses the network (the in-process
    sandbox shared by every worker, a served sandbox, or Paynet over HTTPS, through the proxy)."""
    if runtime.settings.sandbox_in_process:
        shared = runtime.async_transport(runtime.settings.paynet_url)
        return lambda wrap: runtime.async_paynet(transport=wrap(shared))
    url = runtime.settings.paynet_url
    return lambda wrap: runtime.async_paynet(transport=wrap(runtime.async_transport(url, connections=2)))


def paynet_over_http(
    base_url: str,
    *,
    secret_key: str | None = None,
    environment: str = "sandbox",
    **client_options: Any,
) -> ClientFactory:
    """Clients for a Paynet-compatible server at ``base_url`` (e.g. the sandbox on loopback)."""
    context = _ssl_context()
    return lambda wrap: AsyncPaynetClient(
        secret_key,
        environment=environment,
        base_url=base_url,
        transport=wrap(_http_transport(context)),
        **client_options,
    )


def paynet_over(transport: httpx.AsyncBaseTransport, **client_options: Any) -> ClientFactory:
    """Clients sharing one transport (e.g. ``SandboxTransport(sandbox)`` in tests)."""
    client_options.setdefault("environment", "sandbox")
    return lambda wrap: AsyncPaynetClient(transport=wrap(transport), **client_options)


def _http_transport(context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    # One small pool per worker: a worker sends one request at a time, and httpcore scans every
    # connection of a pool on each request, which costs more than the request at 32+ connections.
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    return httpx.AsyncHTTPTransport(verify=context, limits=limits)


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~25 ms; workers share one context.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _skip_missing_sniffio() -> None:
    # httpcore runs `import sniffio` each time it creates a lock or an event (several times per
    # request); anyio no longer installs sniffio, and a failing import walks sys.path every time
    # (about a third of the client's CPU per request, measured). Recording it as absent gives
    # the same ImportError instantly. The real fix is a dependency on sniffio.
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Running a job
# ----------------------------------------------------------------------------------------------


async def run_job(
    job_id: str,
    runtime=None,
    *,
    store: Store | None = None,
    client_factory: ClientFactory | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    limiter: RateLimiter | None = None,
    progress: Callable[[dict[str, int]], None] | None = None,
    poll_interval: float = POLL_INTERVAL,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
) -> JobSummary:
    """Run (or resume) a job until it is done, paused or cancelled; returns where it stands.

    Reconciles items left in 'sending' first. ``concurrency`` and ``rate`` default to the
    job's options (0 = no limit); ``limiter`` overrides ``rate``. ``progress`` is called with
    the item counts after each batch of results. Raises ``JobError`` if another runner is alive.
    """
    if store is None:
        if runtime is None:
            raise JobError("run_job needs a runtime or a store")
        store = runtime.store
    if client_factory is None:
        if runtime is None:
            raise JobError("run_job needs a runtime or a client_factory")
        client_factory = paynet_clients(runtime)
    if runtime is not None:
        planned_for = _job(store, job_id)["mode"]
        if planned_for != runtime.mode.value:
            raise JobError(
                f"job {job_id} was planned for {planned_for}; this runtime talks to "
                f"{runtime.mode.value}. Run it with PAYNET_OPS_MODE={planned_for}."
            )
    job = _take_over(store, job_id)
    if job is None:
        return job_summary(store, job_id)
    runner = None
    try:
        options = job["options"]
        workers = int(concurrency or options.get("concurrency") or DEFAULT_CONCURRENCY)
        if limiter is None:
            per_second = options.get("rate") if rate is None else rate
            limiter = RateLimiter(per_second) if per_second else None
        _skip_missing_sniffio()
        clients = [
            client_factory(lambda t: RateLimitedTransport(t, limiter)) for _ in range(workers)
        ]
        try:
            runner = _Runner(store, job, clients, progress, poll_interval, heartbeat_interval)
            await runner.run()
        finally:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    finally:
        _let_go(store, job_id)
    return job_summary(store, job_id, runner.stop if runner is not None else None)


@dataclass
class _Outcome:
    item: dict
    state: str  # done | failed | skipped | pending (put back: surely not sent)
    code: int | None = None
    message: str | None = None
    status_after: int | None = None
    changed: tuple[str, ...] = ()  # invoices now in status_after
    created: Invoice | None = None  # a created invoice, for the cache
    recovered: bool = False
    trips: str | None = None  # "auth", "rate" or "retryable": counts towards pausing the job

    def __post_init__(self) -> None:
        # what reaches job_items and the audit log; provider texts are cut where they are read
        self.message = clip_opt(self.message, MAX_ERROR_MESSAGE)


@dataclass
class _Runner:
    store: Store
    job: dict
    clients: list[AsyncPaynetClient]
    progress: Callable[[dict[str, int]], None] | None
    poll_interval: float
    heartbeat_interval: float
    counts: dict[str, int] = field(default_factory=dict)
    stop: str | None = None  # why no more items are claimed
    _state: str = "running"
    _polled: float = float("-inf")
    _beat: float = float("-inf")
    _streak: int = 0
    _budget: float = float("inf")

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    async def run(self) -> None:
        store, job_id = self.store, self.job_id
        self.counts = store.job_progress(job_id)
        first_batch = self.job["options"].get("first_batch")
        reviewed = not store.audit_rows(job_id=job_id, action="job_review_pause", limit=1).empty
        if first_batch and not reviewed:
            self._budget = max(0, first_batch - (self.counts["total"] - self.counts["pending"]))
        # Items a dead runner left in flight are settled first; new ones are claimed a batch at
        # a time (claiming costs a write) and handed to workers as they free up.
        reconcile = deque(store.items_in_state(job_id, "sending"))
        if reconcile:
            log.info("job %s: reconciling %d items left in flight", job_id, len(reconcile))
        claimed: deque[dict] = deque()
        idle = list(self.clients)
        tasks: dict[asyncio.Task, AsyncPaynetClient] = {}
        finished: asyncio.Queue[asyncio.Task] = asyncio.Queue()
        exhausted = False
        try:
            while True:
                self._tick()
                if self.stop and claimed:
                    self._put_back(claimed)
                while idle:
                    if reconcile:
                        item, again = reconcile.popleft(), True
                    elif claimed:
                        item, again = claimed.popleft(), False
                    elif self._may_claim(exhausted):
                        want = int(min(len(self.clients), self._budget))
                        got = store.claim_items(job_id, want)
                        self._budget -= len(got)
                        self._count("pending", "sending", len(got))
                        exhausted = len(got) < want
                        claimed.extend(got)
                        if not got:
                            break
                        continue
                    else:
                        break
                    task = asyncio.ensure_future(self._process(idle[-1], item, again))
                    tasks[task] = idle.pop()
                    task.add_done_callback(finished.put_nowait)
                if not tasks:
                    break
                done = []
                try:
                    async with asyncio.timeout(self.heartbeat_interval):
                        done.append(await finished.get())
                except TimeoutError:
                    continue
                while not finished.empty():
                    done.append(finished.get_nowait())
                outcomes = [t.result() for t in done]
                idle.extend(tasks.pop(t) for t in done)
                self._record(outcomes)
                self._tally(outcomes)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        self._finish()

    # -- control ---------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._beat >= self.heartbeat_interval:
            self._beat = now
            self.store.job_heartbeat(self.job_id, os.getpid())
        if now - self._polled >= self.poll_interval:
            job = _job(self.store, self.job_id)
            self._polled = now
            self._state = job["state"]
            if job["runner_pid"] != os.getpid():
                self.stop = self.stop or "taken over"
            elif self._state in ("paused", "cancelling", "cancelled"):
                self.stop = self.stop or self._state

    def _put_back(self, claimed: deque[dict]) -> None:
        """Return claimed items that were never started to 'pending' (known not sent)."""
        rows = [("pending", None, None, None, None, None, self.job_id, i["seq"]) for i in claimed]
        self._finish_rows(rows)
        self._count("sending", "pending", len(claimed))
        self._budget += len(claimed)
        claimed.clear()

    def _may_claim(self, exhausted: bool) -> bool:
        return self.stop is None and not exhausted and self._budget >= 1

    def _count(self, old: str, new: str, n: int = 1) -> None:
        self.counts[old] -= n
        self.counts[new] += n

    # -- one item --------------------------------------------------------------------------

    async def _process(self, client: AsyncPaynetClient, item: dict, reconcile: bool) -> _Outcome:
        op, p = item["operation"], item["payload"]
        try:
            if op == CREATE:
                return await self._create(client, item, reconcile)
            if op == SET_STATUS:
                if p.get("invoice_no"):
                    reply = await client.update_invoice_status(
                        status=p["status"], invoice_no=p["invoice_no"]
                    )
                else:
                    reply = await client.update_invoice_status(
                        status=p["status"], invoice_id=p["invoice_id"]
                    )
                changed = (p["invoice_no"],) if p.get("invoice_no") else ()
            elif op == SET_STATUS_ALL:
                reply = await client.update_all_invoice_statuses(
                    status=p["status"], subscription_id=p["subscription_id"]
                )
                changed = tuple(e["invoice_no"] for e in p["invoices"] if e.get("invoice_no"))
            else:
                return _Outcome(item, "failed", message=f"unknown operation {op!r}")
            return _Outcome(item, "done", reply.code, reply.message, p["status"], changed)
        except AuthenticationError as err:
            # Refused before anything happened: back in the queue, and the job pauses.
            return _Outcome(item, "pending", err.code, str(err), trips="auth")
        except NotFoundError as err:  # Paynet 12 or 24 alike: the class decides, not the code
            return _Outcome(item, "failed", err.code, f"not found at Paynet: {err}")
        except RateLimitError as err:
            # Refused before processing, and a wait longer than the client's retry budget: the
            # job pauses (with the reason) rather than sleeping minutes; resume picks it up.
            return _Outcome(item, "pending", err.code, str(err), trips="rate")
        except ProviderError as err:
            return _Outcome(item, "failed", err.code, str(err), trips=_trip(err))
        except InputError as err:
            return _Outcome(item, "failed", message=str(err))
        except Exception as err:  # a bug must not stop the other items; the message says what
            log.exception("job %s item %s", self.job_id, item["seq"])
            return _Outcome(
                item, "failed", message=f"unexpected error: {type(err).__name__}: {err}"
            )

    async def _create(self, client: AsyncPaynetClient, item: dict, reconcile: bool) -> _Outcome:
        p = item["payload"]
        no = p["invoice_no"]
        if reconcile:
            try:
                found = await _find_patiently(client, p)
            except AuthenticationError:
                raise
            except ProviderError as err:
                return _Outcome(item, "failed", err.code, _unverified(no, err))
            if found is not None:
                return _recovered(item, found)
            if self.stop == "cancelling":
                return _Outcome(
                    item,
                    "skipped",
                    message="cancelled; it is not at Paynet, so it was not sent again",
                )
        for round_ in range(1, CREATE_ROUNDS + 1):
            try:
                created = await client.create_invoice(
                    amount=p["amount"],
                    val_date=datetime.fromisoformat(p["val_date"]),
                    subscription_id=p.get("subscription_id"),
                    reference_no=p.get("reference_no"),
                    invoice_no=no,
                    agent_amount=p.get("agent_amount"),
                    company_amount=p.get("company_amount"),
                    currency=p.get("currency") or "TRY",
                )
                break
            except DuplicateError as err:
                # Our invoice_no is taken: most likely by an earlier attempt at this very row (a
                # retried job, a re-uploaded failed row). Ours if the amount matches.
                try:
                    found = await _find_patiently(client, p)
                except ProviderError:
                    found = None
                if found is None:
                    return _Outcome(item, "failed", err.code, str(err))
                return _recovered(item, found)
            except (AuthenticationError, RateLimitError):
                raise
            except ProviderError as err:
                if not _maybe_applied(err):
                    raise
                try:
                    found = await _find_patiently(client, p)
                except ProviderError as lookup_err:
                    return _Outcome(
                        item,
                        "failed",
                        err.code,
                        f"{err}; {_unverified(no, lookup_err)}",
                        trips="retryable",
                    )
                if found is not None:
                    return _recovered(item, found)
                # Proven absent: sending again is safe (Paynet refuses a second copy of an
                # invoice_no anyway, and that refusal is handled above). A transient failure
                # gets another round; the last one, or a permanent one, fails the item.
                if not err.is_retryable or round_ == CREATE_ROUNDS:
                    raise
                log.info("job %s: %s not at Paynet after %s; sending again", self.job_id, no, err)
        invoice = Invoice(
            invoice_no=created.invoice_no,
            subscription_id=created.subscription_id,
            reference_no=created.reference_no,
            amount=created.amount,
            agent_amount=p.get("agent_amount"),
            company_amount=p.get("company_amount"),
            val_date=created.val_date,
            status=InvoiceStatus.WAITING,
        )
        return _Outcome(
            item,
            "done",
            created.code,
            created.message,
            int(InvoiceStatus.WAITING),
            (no,),
            invoice,
            created.recovered,
        )

    # -- results ---------------------------------------------------------------------------

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Commit a batch of results in one transaction: the items, the cache, the audit log."""
        store, job, job_id = self.store, self.job, self.job_id
        actor, mode = job["created_by"], job["mode"]
        with store.transaction() as db:
            now = store._now()  # the store's own clock, so journal timestamps agree
            created = [o.created for o in outcomes if o.state == "done" and o.created is not None]
            if created:
                store.upsert_invoices(created, source="job", actor=actor, job_id=job_id)
            changes = {
                no: o.status_after
                for o in outcomes
                if o.state == "done" and o.item["operation"] != CREATE
                for no in o.changed
            }
            befores = _record_status_changes(db.conn, changes, actor=actor, job_id=job_id, now=now)
            items, audits = [], []
            for o in outcomes:
                item, p = o.item, o.item["payload"]
                before = _status_before(o, befores)
                after = o.status_after if o.state == "done" else None
                items.append(
                    (
                        o.state,
                        o.code,
                        o.message,
                        before,
                        after,
                        None if o.state == "pending" else now,
                        job_id,
                        item["seq"],
                    )
                )
                if o.state == "pending":
                    continue
                intended = p.get("status") if item["operation"] != CREATE else None
                audits.append(
                    (
                        now,
                        actor,
                        mode,
                        item["operation"],
                        "subscription" if item["operation"] == SET_STATUS_ALL else "invoice",
                        json.dumps(_targets(item), ensure_ascii=False),
                        before,
                        after if o.state == "done" else intended,
                        o.code,
                        o.message,
                        job_id,
                        json.dumps(
                            {
                                "seq": item["seq"],
                                "row": item["source_row"],
                                "result": o.state,
                                "attempt": item["attempts"],
                                "recovered": o.recovered,
                            },
                            sort_keys=True,
                        ),
                    )
                )
            _finish_items(db.conn, items)
            db.conn.executemany(_AUDIT_SQL, audits)

    def _finish_rows(self, rows: list[tuple]) -> None:
        with self.store.transaction() as db:
            _finish_items(db.conn, rows)

    def _tally(self, outcomes: list[_Outcome]) -> None:
        """Counts, the breaker and the progress callback (on the event loop, after the commit)."""
        for o in outcomes:
            self._count("sending", o.state)
            if o.trips == "auth":
                self.stop = self.stop or "breaker: Paynet refused the key"
            elif o.trips == "rate":
                self.stop = self.stop or f"breaker: Paynet is rate limiting ({o.message})"
            elif o.trips == "retryable" and o.state == "failed":
                self._streak += 1
                if self._streak >= BREAKER_FAILURES:
                    self.stop = (
                        self.stop or f"breaker: {self._streak} failures in a row ({o.message})"
                    )
            elif o.state == "done":
                self._streak = 0
        if self.progress is not None:
            self.progress(dict(self.counts))

    def _finish(self) -> None:
        """Leave the job in the state its items call for."""
        store, job_id, job = self.store, self.job_id, self.job
        if self.stop == "taken over":
            return
        with store.transaction():
            current = _job(store, job_id)
            state = current["state"]
            if current["runner_pid"] != os.getpid() or state in JOB_FINAL_STATES:
                return
            counts = store.job_progress(job_id)
            mode, actor = job["mode"], job["created_by"]
            if state == "cancelling":
                if counts["sending"]:
                    return  # an item could not be settled; the next run finishes the cancel
                skipped = _skip_pending(store, job_id, "cancelled before it was sent")
                store.set_job_state(job_id, "cancelled")
                store.audit(
                    actor,
                    "job_cancelled",
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={**_counts(store, job_id), "skipped_now": skipped},
                )
            elif state == "paused":
                return
            elif self.stop and self.stop.startswith("breaker"):
                store.set_job_state(job_id, "paused")
                store.audit(
                    "system",
                    "job_pause",
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={"reason": self.stop, **_counts(store, job_id)},
                )
            elif counts["pending"] == 0 and counts["sending"] == 0:
                store.set_job_state(job_id, "done")
                store.audit(
                    actor,
                    "job_finish",
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details=_counts(store, job_id),
                )
            elif self._budget < 1 and counts["sending"] == 0:
                store.set_job_state(job_id, "paused")
                store.audit(
                    "system",
                    "job_review_pause",
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={
                        "first_batch": job["options"].get("first_batch"),
                        **_counts(store, job_id),
                    },
                )


# -- batch writes -------------------------------------------------------------------------------
# A runner settles dozens of items per second per worker; the store's one-row methods cost about
# twenty statements per item. These write a whole batch with a handful of statements and keep the
# same rules as Store.finish_item, Store.record_status_change and Store.audit (candidates to move
# into store.py as finish_items / record_status_changes / audit_many).

_FINISH_SQL = """UPDATE job_items SET state = ?, provider_code = ?, message = ?, status_before = ?,
       status_after = ?, finished_at = ?
   WHERE job_id = ? AND seq = ? AND state = 'sending'"""
_AUDIT_SQL = """INSERT INTO audit_log (at, actor, mode, action, target_type, target_ids, status_before,
       status_after, provider_code, provider_message, job_id, details)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_CHUNK = 900  # bound parameters per IN (...) lookup


def _finish_items(conn, rows: list[tuple]) -> None:
    """Record results of items this runner holds in 'sending'; refuses anything else."""
    changed = conn.executemany(_FINISH_SQL, rows).rowcount if rows else 0
    if changed != len(rows):
        raise StoreError(
            f"{len(rows) - changed} items were no longer in 'sending' (another runner settled them)"
        )


def _record_status_changes(
    conn, changes: dict[str, int], *, actor: str, job_id: str, now: str
) -> dict[str, int]:
    """Apply status changes we caused to the cache, with history; returns the cached statuses before.

    Same rules as Store.record_status_change: an uncached invoice still gets its history row,
    and setting the status an invoice already has records nothing.
    """
    before: dict[str, int] = {}
    names = list(changes)
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        before.update(
            conn.execute(
                f"SELECT invoice_no, status FROM invoices WHERE invoice_no IN ({marks})", chunk
            ).fetchall()
        )
    updates, history = [], []
    for invoice_no, new in changes.items():
        old = before.get(invoice_no)
        if old == new:
            continue
        status = InvoiceStatus(new)
        if invoice_no in before:
            updates.append((int(status), status.label, status.outcome.value, now, invoice_no))
        history.append((invoice_no, old, int(status), "job", job_id, actor, now))
    with keeping_rollup(conn, "invoice_no", [u[-1] for u in updates]):
        conn.executemany(
            "UPDATE invoices SET status = ?, status_label = ?, outcome = ?, updated_at = ? WHERE invoice_no = ?",
            updates,
        )
    conn.executemany(
        """INSERT INTO invoice_status_history
               (invoice_no, old_status, new_status, source, job_id, actor, observed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        history,
    )
    return before


def _trip(err: ProviderError) -> str | None:
    return "retryable" if err.is_retryable else None


def _maybe_applied(err: ProviderError) -> bool:
    """Whether a failed create may have happened anyway (then look before deciding)."""
    if isinstance(err, TransportError):
        return err.maybe_applied
    return isinstance(err, (ServerError, ContractError)) and not isinstance(err, RateLimitError)


async def _find(client: AsyncPaynetClient, p: dict) -> Invoice | None:
    return await client.find_invoice(
        invoice_no=p["invoice_no"],
        subscription_id=p.get("subscription_id"),
        reference_no=p.get("reference_no"),
    )


async def _find_patiently(client: AsyncPaynetClient, p: dict) -> Invoice | None:
    """Look an invoice up; a walk over many pages can hit a passing fault on one page even
    after the client's retries, so a transient failure gets another walk (CREATE_ROUNDS in all)."""
    for _ in range(CREATE_ROUNDS - 1):
        try:
            return await _find(client, p)
        except ProviderError as err:
            if isinstance(err, AuthenticationError) or not err.is_retryable:
                raise
            log.info("lookup of %s failed (%s); walking again", p["invoice_no"], err)
    return await _find(client, p)


def _unverified(invoice_no: str, err: ProviderError) -> str:
    return (
        f"could not check whether invoice {invoice_no} was created ({err}), so it was not sent "
        "again; upload the row again with this invoice_no: Paynet refuses a second copy"
    )


def _recovered(item: dict, found: Invoice) -> _Outcome:
    planned = item["payload"]["amount"]
    if found.amount != planned:
        return _Outcome(
            item,
            "failed",
            5,
            f"invoice_no {found.invoice_no} exists at Paynet with another amount "
            f"({found.amount} kuruş, not {planned}): not ours; give the row a new invoice_no",
        )
    return _Outcome(
        item,
        "done",
        0,
        "found at Paynet: created by an earlier attempt whose reply was lost",
        int(found.status),
        (found.invoice_no or item["payload"]["invoice_no"],),
        found,
        recovered=True,
    )


def _status_before(o: _Outcome, befores: dict[str, int]) -> int | None:
    item, p = o.item, o.item["payload"]
    if item["operation"] == CREATE:
        return None
    if item["operation"] == SET_STATUS_ALL:
        found = {e.get("status_before") for e in p["invoices"]}
        return found.pop() if len(found) == 1 else None
    no = p.get("invoice_no")
    if o.state == "done" and no in befores:
        return int(befores[no])
    return p.get("status_before")


def _targets(item: dict) -> list[str]:
    p = item["payload"]
    if item["operation"] == SET_STATUS_ALL:
        return [e["invoice_no"] for e in p["invoices"] if e.get("invoice_no")] or [
            p["subscription_id"]
        ]
    return [str(v) for v in (p.get("invoice_no") or p.get("invoice_id"),) if v]


def _counts(store: Store, job_id: str) -> dict[str, int]:
    return store.job_progress(job_id)


def _skip_pending(store: Store, job_id: str, message: str) -> int:
    pending = store.items_in_state(job_id, "pending")
    with store.transaction():
        for item in pending:
            store.finish_item(job_id, item["seq"], "skipped", message=message)
    return len(pending)


# ----------------------------------------------------------------------------------------------
# Who runs a job
# ----------------------------------------------------------------------------------------------


def _job(store: Store, job_id: str) -> dict:
    job = store.job(job_id)
    if job is None:
        raise JobError(f"no job {job_id}")
    return job


def _take_over(store: Store, job_id: str) -> dict | None:
    """Become the job's runner (atomically); None when the job has nothing left to do."""
    with store.transaction():
        job = _job(store, job_id)
        state = job["state"]
        if state in JOB_FINAL_STATES:
            return None
        if state == "paused":
            raise JobError(
                f"job {job_id} is paused; resume it first (paynet-ops jobs resume {job_id})"
            )
        live = _live_runner(job)
        if live:
            raise JobError(f"job {job_id} is already being run by {live}")
        store.set_job_state(
            job_id, "cancelling" if state == "cancelling" else "running", runner_pid=os.getpid()
        )
        store.job_heartbeat(job_id, os.getpid())
        with _running_lock:
            _running.add(job_id)
        return store.job(job_id)


def _let_go(store: Store, job_id: str) -> None:
    with _running_lock:
        _running.discard(job_id)
    try:
        with store.transaction():
            job = store.job(job_id)
            if job is not None and job["runner_pid"] == os.getpid():
                store.set_job_state(job_id, job["state"], runner_pid=NO_RUNNER)
    except Exception:  # the store may be gone (a crash on the way out); a stale pid is harmless
        log.warning("job %s: could not clear runner_pid", job_id, exc_info=True)


def _live_runner(job: dict, stale_after: float = STALE_AFTER) -> str | None:
    pid = job.get("runner_pid")
    if not pid:
        return None
    if pid == os.getpid():
        with _running_lock:
            return "this process" if job["job_id"] in _running else None
    if not _pid_alive(pid):
        return None
    beat = job.get("heartbeat_at")
    if not beat:
        return None
    age = (dates.now() - datetime.fromisoformat(beat)).total_seconds()
    return f"process {pid} (heartbeat {age:.0f} s ago)" if age < stale_after else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


# ----------------------------------------------------------------------------------------------
# Overlapping jobs
# ----------------------------------------------------------------------------------------------


@dataclass
class _Touches:
    # An invoice may be named by its number, its id, or both: each key maps to one display name,
    # so an invoice matches on either and is counted once.
    invoices: dict[str, str] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)  # subscriptions of the invoices touched
    sweeps: set[str] = field(default_factory=set)  # subscriptions swept whole

    def add(self, operation: str, payload: dict) -> None:
        if operation == SET_STATUS_ALL:
            self.sweeps.add(payload["subscription_id"])
            self.subscriptions.add(payload["subscription_id"])
            for e in payload["invoices"]:
                self._add_invoice(e)
            return
        self._add_invoice(payload)
        for name in ("subscription_id", "reference_no"):
            if payload.get(name):
                self.subscriptions.add(str(payload[name]))

    def _add_invoice(self, payload: dict) -> None:
        no, invoice_id = payload.get("invoice_no"), payload.get("invoice_id")
        name = str(no) if no else f"invoice_id {invoice_id}"
        if no:
            self.invoices[f"no:{no}"] = name
        if invoice_id:
            self.invoices[f"id:{invoice_id}"] = name

    def overlap(self, other: _Touches) -> list[str]:
        found = {self.invoices[k] for k in self.invoices.keys() & other.invoices.keys()}
        found |= {f"all invoices of subscription {s}" for s in self.sweeps & other.subscriptions}
        found |= {f"all invoices of subscription {s}" for s in other.sweeps & self.subscriptions}
        return sorted(found)


def _conflict(store: Store, plan: Plan) -> JobConflictError | None:
    mine = _Touches()
    for call in plan.calls:
        mine.add(call.operation, call.payload)
    active = store.jobs(limit=100_000)
    for job in active[active["state"].isin(ACTIVE_STATES)].to_dict("records"):
        theirs = _Touches()
        for item in store.items_in_state(job["job_id"], "pending") + store.items_in_state(
            job["job_id"], "sending"
        ):
            theirs.add(item["operation"], item["payload"])
        found = mine.overlap(theirs)
        if found:
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            started = dates.format_display_datetime(datetime.fromisoformat(job["created_at"]))
            return JobConflictError(
                f"refused: job {job['job_id']} ({job['state']}, started by {job['created_by']} on "
                f"{started}) has not finished with {len(found)} of these invoices ({shown}). Two "
                "jobs may not touch the same invoices at once: wait for it to finish, or cancel it "
                f"(Jobs page, or paynet-ops jobs cancel {job['job_id']}).",
                job_id=job["job_id"],
            )
    return None


# ----------------------------------------------------------------------------------------------
# Running without Streamlit
# ----------------------------------------------------------------------------------------------


class JobThread(threading.Thread):
    """A daemon thread running one job on its own event loop; ``summary`` or ``error`` after."""

    def __init__(self, job_id: str, runtime=None, **run_options: Any):
        super().__init__(name=f"paynet-job-{job_id}", daemon=True)
        self.job_id = job_id
        self.runtime = runtime
        self.run_options = run_options
        self.summary: JobSummary | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = asyncio.run(run_job(self.job_id, self.runtime, **self.run_options))
        except BaseException as exc:  # a thread has no caller to raise to: keep it and log it
            self.error = exc
            log.error(
                "job %s stopped: %s", self.job_id, exc, exc_info=not isinstance(exc, JobError)
            )


def run_job_in_background(job_id: str, runtime=None, **run_options: Any) -> JobThread:
    """Run a job in a daemon thread of this process (it lives as long as the process does)."""
    thread = JobThread(job_id, runtime, **run_options)
    thread.start()
    return thread


def run_job_detached(
    job_id: str, runtime=None, *, log_dir: Path | None = None, extra_args: Iterable[str] = ()
) -> subprocess.Popen:
    """Run a job in a process of its own (``python -m paynet_core.jobs run JOB_ID``).

    It survives the dashboard being closed or restarted; its output goes to
    ``<cache dir>/jobs/<job_id>.log``. The child reads the same settings (environment and
    ``.streamlit/secrets.toml`` from the same working directory); the cache and sandbox paths
    of ``runtime`` are passed on explicitly.
    """
    env = dict(os.environ)
    if runtime is not None:
        s = runtime.settings
        env.update(
            PAYNET_OPS_MODE=s.mode.value,
            PAYNET_OPS_DB=str(Path(s.db_path).resolve()),
            PAYNET_OPS_SANDBOX_DB=str(Path(s.sandbox_db_path).resolve()),
            PAYNET_SANDBOX_FAULT_RATE=f"{s.sandbox_fault_rate:g}",
            PAYNET_SANDBOX_FAULTS=",".join(s.sandbox_faults),
        )
        # The child must reach the same endpoints, whatever file or object these came from.
        for name, url in (("PAYNET_BASE_URL", s.paynet_base_url), ("PAYOFIN_BASE_URL", s.payofin_base_url)):
            if url:
                env[name] = url
            else:
                env.pop(name, None)
        log_dir = log_dir or Path(s.db_path).resolve().parent / "jobs"
    log_dir = Path(log_dir or "data/jobs")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{job_id}.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paynet_core.jobs", "run", job_id, *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=os.getcwd(),
            start_new_session=True,
            close_fds=True,
        )


def stale_jobs(store: Store, mode: Mode | str | None = None) -> list[str]:
    """Jobs (of ``mode``, if given) that should be running or finishing a cancel but whose
    runner is gone."""
    recent = store.jobs(limit=100_000)
    wanted = recent["state"].isin(("running", "cancelling"))
    if mode is not None:
        wanted &= recent["mode"] == str(mode)
    ids = recent[wanted]["job_id"].tolist()
    return [job_id for job_id in ids if _live_runner(_job(store, job_id)) is None]


def resume_stale_jobs(
    runtime=None, *, store: Store | None = None, detached: bool = False, **run_options: Any
) -> list[str]:
    """Start a runner for every job whose runner died; returns their ids.

    Paused jobs stay paused (a person paused them), pending ones wait to be started.
    """
    store = store or runtime.store
    started = []
    for job_id in stale_jobs(store, runtime.mode if runtime is not None else None):
        store.audit(
            "system",
            "job_resume",
            mode=_job(store, job_id)["mode"],
            target_type="job",
            target_ids=[job_id],
            job_id=job_id,
            details={"reason": "runner gone"},
        )
        if detached:
            run_job_detached(job_id, runtime)
        else:
            run_job_in_background(job_id, runtime, store=store, **run_options)
        started.append(job_id)
    return started


def _store_and_mode(runtime, store: Store | None, mode) -> tuple[Store, Mode]:
    if runtime is not None:
        return (store or runtime.store), runtime.mode
    if store is None or mode is None:
        raise JobError("give a runtime, or a store and a mode")
    return store, Mode(str(mode))


# ----------------------------------------------------------------------------------------------
# python -m paynet_core.jobs run JOB_ID
# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run one job in this process (what ``run_job_detached`` starts), or every stale job."""
    parser = argparse.ArgumentParser(prog="python -m paynet_core.jobs", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run or resume one job until it is done, paused or cancelled"
    )
    run.add_argument("job_id")
    run.add_argument("--concurrency", type=int)
    run.add_argument("--rate", type=float, help="requests per second (0: no limit)")
    run.add_argument("--paynet-url", help="sandbox mode only: a sandbox served over HTTP")
    commands.add_parser("resume-stale", help="start a runner for every job whose runner died")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from .runtime import open_runtime

    runtime = open_runtime()
    if args.command == "resume-stale":
        print(json.dumps({"started": resume_stale_jobs(runtime, detached=True)}))
        return 0
    factory = None
    if args.paynet_url:
        if runtime.mode is not Mode.SANDBOX:
            parser.error("--paynet-url is for the sandbox only")
        factory = paynet_over_http(args.paynet_url, timeout=httpx.Timeout(5.0))
    try:
        summary = asyncio.run(
            run_job(
                args.job_id,
                runtime,
                client_factory=factory,
                concurrency=args.concurrency,
                rate=args.rate,
            )
        )
    except JobError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary.as_dict()))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    from paynet_core import jobs as _module  # one copy of the module state, not __main__'s

    sys.exit(_module.main())
