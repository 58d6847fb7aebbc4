"""The async runner: journaled, resumable, concurrent and rate-limited.

A job is rows in the store: the job, and one item per planned call (see
:mod:`paynet_core.jobs.planner`). Items move ``pending → sending → done | failed | skipped``, and
each move is committed: an item is claimed (``sending``) before its request leaves, and its
result is committed soon after the reply is in (successes wait up to ``RECORD_WAIT`` to share
one transaction; failures and anything that stops the job are committed at once). Items are
claimed a worker-pool's worth at a time (a claim is a write); claimed items not started when
the job pauses or is cancelled go back to ``pending``. So the journal never claims more than happened, and a runner can be killed at any moment:

* on resume, items left in ``sending`` are reconciled before anything new is claimed. A status
  change is sent again (setting a status twice leaves the same state). A creation is looked up
  by its ``invoice_no`` first (the planner fixed the number before the first send): found means
  done, absent means send it again. Nothing is lost and nothing is sent twice.

A failure of one item never stops the others; the job pauses by itself (a "breaker") when
Paynet refuses the key (the item goes back to ``pending``) or after ``BREAKER_FAILURES``
retryable failures in a row. Each result also updates the cache (status history with the job
and the person who started it) and writes an audit line per item: who changed invoice X, when,
from which status to which, and Paynet's code and message. Job-level lines: :class:`paynet_core.vocab.AuditAction`
``job.*`` (``job_*`` in rows of older versions).

The journal's SQL (claims and batch writes) is the store's (:mod:`paynet_core.store.journal`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..errors import (
    MAX_ERROR_MESSAGE,
    AuthenticationError,
    InputError,
    JobError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    clip_opt,
)
from ..http.ratelimit import Limiter, RateLimitedTransport, RateLimiter
from ..http.retry import RetryPolicy
from ..i18n import _
from ..paynet.client import AsyncPaynetClient
from ..paynet.models import Invoice, InvoiceStatus
from ..store import JOB_FINAL_STATES, Store
from ..vocab import AuditAction, ItemState, JobState, spellings
from .clients import ClientFactory, _skip_missing_sniffio, paynet_clients
from .control import DEFAULT_CONCURRENCY, JobSummary, _skip_pending, job_summary
from .ownership import HEARTBEAT_INTERVAL, _job, _let_go, _take_over
from .planner import CREATE, SET_STATUS, SET_STATUS_ALL

log = logging.getLogger("paynet_core.jobs")

#: How often (seconds) the runner re-reads the job's state for pause/cancel requests.
POLL_INTERVAL = 0.05
#: Consecutive retryable failures (after the client's own retries) that pause a job: the
#: provider looks down, and failing thousands of rows helps no one.
BREAKER_FAILURES = 10
#: Results of successful items share one journal transaction: up to this many of them ...
RECORD_ITEMS = 64
#: ... waiting at most this long (seconds) for each other. An item not yet recorded stays
#: 'sending', which a crash leaves to the reconciliation on resume (sent again if a status change,
#: looked up first if a creation): delaying the record never loses or repeats anything.
RECORD_WAIT = 0.05
#: One budget per creation (sends and lookups, see paynet.exactly_once): a job is patient with
#: a flaky provider, more than a page click, and never sends a copy.
CREATE_TRIES = 6
#: ... and the seconds it may wait in all between them (a longer Retry-After pauses the job).
CREATE_WAIT = 30.0


def create_policy(client_policy: RetryPolicy) -> RetryPolicy:
    """The retry budget of one creation in a job: the client's policy with the job's patience."""
    return replace(client_policy, max_retries=CREATE_TRIES - 1, max_retry_wait=CREATE_WAIT)


async def run_job(
    job_id: str,
    runtime=None,
    *,
    store: Store | None = None,
    client_factory: ClientFactory | None = None,
    concurrency: int | None = None,
    rate: float | None = None,
    limiter: Limiter | None = None,
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
            client_factory(lambda t: RateLimitedTransport(t, limiter)) for _worker in range(workers)
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
    _state: str = JobState.RUNNING
    _polled: float = float("-inf")
    _beat: float = float("-inf")
    _streak: int = 0
    _budget: float = float("inf")
    #: A queue worker's chunk: only items with seq in this range; the job has no single owner.
    seq_range: tuple[int, int] | None = None

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    async def run(self) -> None:
        store, job_id = self.store, self.job_id
        self.counts = store.job_progress(job_id)
        first_batch = self.job["options"].get("first_batch")
        reviewed = any(
            not store.audit_rows(job_id=job_id, action=spelled, limit=1).empty
            for spelled in spellings(AuditAction.JOB_REVIEW_PAUSE)  # rows of older versions too
        )
        if first_batch and not reviewed:
            self._budget = max(
                0, first_batch - (self.counts["total"] - self.counts[ItemState.PENDING])
            )
        # Items a dead runner left in flight are settled first; new ones are claimed a batch at
        # a time (claiming costs a write) and handed to workers as they free up.
        reconcile = deque(self._in_state(ItemState.SENDING))
        if reconcile:
            log.info("job %s: reconciling %d items left in flight", job_id, len(reconcile))
        claimed: deque[dict] = deque()
        # results received but not yet committed (see _record_now), and when the first came
        unrecorded: list[_Outcome] = []
        recorded_at = 0.0
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
                        got = self._claim(want)
                        self._budget -= len(got)
                        self._count(ItemState.PENDING, ItemState.SENDING, len(got))
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
                wait = self.heartbeat_interval
                if unrecorded:
                    wait = min(wait, max(0.0, recorded_at + RECORD_WAIT - time.monotonic()))
                try:
                    async with asyncio.timeout(wait):
                        done = [await finished.get()]
                except TimeoutError:
                    done = []
                while not finished.empty():
                    done.append(finished.get_nowait())
                if not unrecorded:
                    recorded_at = time.monotonic()
                unrecorded.extend(t.result() for t in done)
                idle.extend(tasks.pop(t) for t in done)
                if self._record_now(unrecorded, recorded_at):
                    self._flush(unrecorded)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if unrecorded:  # results in hand are recorded on every way out
                self._flush(unrecorded)
        self._finish()

    def _record_now(self, unrecorded: list[_Outcome], since: float) -> bool:
        """Whether the results in hand are committed now or wait to share a transaction.

        A result waits at most ``RECORD_WAIT`` seconds for ``RECORD_ITEMS`` others. Anything
        that is not a plain success (a failure, a breaker trip, an item put back) and any stop
        request is recorded at once, so the breaker and pause react as before."""
        if not unrecorded:
            return False
        if self.stop or len(unrecorded) >= RECORD_ITEMS:
            return True
        if time.monotonic() - since >= RECORD_WAIT:
            return True
        return any(o.state != "done" or o.trips for o in unrecorded)

    def _flush(self, unrecorded: list[_Outcome]) -> None:
        outcomes = list(unrecorded)
        unrecorded.clear()
        self._record(outcomes)
        self._tally(outcomes)

    # -- control ---------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._beat >= self.heartbeat_interval:
            self._beat = now
            # a chunk's runner beats without claiming the job: the queue knows who holds what
            pid = os.getpid() if self.seq_range is None else None
            self.store.job_heartbeat(self.job_id, pid)
        if now - self._polled >= self.poll_interval:
            job = _job(self.store, self.job_id)
            self._polled = now
            self._state = job["state"]
            if self.seq_range is None and job["runner_pid"] != os.getpid():
                self.stop = self.stop or "taken over"
            elif self._state in (JobState.PAUSED, JobState.CANCELLING, JobState.CANCELLED):
                self.stop = self.stop or self._state

    def _claim(self, n: int) -> list[dict]:
        if self.seq_range is None:
            return self.store.claim_items(self.job_id, n)
        return self.store.claim_range_items(self.job_id, *self.seq_range, n)

    def _in_state(self, state: str) -> list[dict]:
        if self.seq_range is None:
            return self.store.items_in_state(self.job_id, state)
        return self.store.range_items_in_state(self.job_id, *self.seq_range, state)

    def _put_back(self, claimed: deque[dict]) -> None:
        """Return claimed items that were never started to 'pending' (known not sent)."""
        rows = [
            (ItemState.PENDING, None, None, None, None, None, self.job_id, i["seq"])
            for i in claimed
        ]
        self._finish_rows(rows)
        self._count(ItemState.SENDING, ItemState.PENDING, len(claimed))
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
                return _Outcome(item, ItemState.FAILED, message=f"unknown operation {op!r}")
            return _Outcome(item, ItemState.DONE, reply.code, reply.message, p["status"], changed)
        except AuthenticationError as err:
            # Refused before anything happened: back in the queue, and the job pauses.
            return _Outcome(item, ItemState.PENDING, err.code, str(err), trips="auth")
        except NotFoundError as err:  # Paynet 12 or 24 alike: the class decides, not the code
            return _Outcome(
                item, ItemState.FAILED, err.code, _("not found at Paynet: {error}", error=str(err))
            )
        except RateLimitError as err:
            # Refused before processing, and a wait longer than the client's retry budget: the
            # job pauses (with the reason) rather than sleeping minutes; resume picks it up.
            return _Outcome(item, ItemState.PENDING, err.code, str(err), trips="rate")
        except ProviderError as err:
            return _Outcome(item, ItemState.FAILED, err.code, str(err), trips=_trip(err))
        except InputError as err:
            return _Outcome(item, ItemState.FAILED, message=str(err))
        except Exception as err:  # a bug must not stop the other items; the message says what
            log.exception("job %s item %s", self.job_id, item["seq"])
            return _Outcome(
                item, ItemState.FAILED, message=f"unexpected error: {type(err).__name__}: {err}"
            )

    async def _create(self, client: AsyncPaynetClient, item: dict, reconcile: bool) -> _Outcome:
        """One creation, by the client's exactly-once rules (:mod:`paynet_core.paynet.exactly_once`)
        within one budget; a number the planner fixed and Paynet already has with our amount is ours.
        Errors go to ``_process``'s handlers (another amount: failed, "not ours")."""
        p = item["payload"]
        no = p["invoice_no"]
        created = await client.create_invoice(
            amount=p["amount"],
            val_date=datetime.fromisoformat(p["val_date"]),
            subscription_id=p.get("subscription_id"),
            reference_no=p.get("reference_no"),
            invoice_no=no,
            agent_amount=p.get("agent_amount"),
            company_amount=p.get("company_amount"),
            currency=p.get("currency") or "TRY",
            in_doubt=reconcile,  # a dead runner left it in flight: look before sending
            claim_taken=True,
            send_if_absent=self.stop != JobState.CANCELLING,
            policy=create_policy(client.policy),
        )
        if created is None:
            return _Outcome(
                item,
                ItemState.SKIPPED,
                message="cancelled; it is not at Paynet, so it was not sent again",
            )
        if created.recovered:
            found = created.found
            return _Outcome(
                item,
                ItemState.DONE,
                0,
                "found at Paynet: created by an earlier attempt whose reply was lost",
                int(found.status) if found is not None else int(InvoiceStatus.WAITING),
                (no,),
                found,
                recovered=True,
            )
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
            ItemState.DONE,
            created.code,
            created.message,
            int(InvoiceStatus.WAITING),
            (no,),
            invoice,
        )

    # -- results ---------------------------------------------------------------------------

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Commit a batch of results in one transaction: the items, the cache, the audit log."""
        store, job, job_id = self.store, self.job, self.job_id
        actor, mode = job["created_by"], job["mode"]
        with store.transaction():
            now = store._now()  # the store's own clock, so journal timestamps agree
            created = [
                o.created for o in outcomes if o.state == ItemState.DONE and o.created is not None
            ]
            if created:
                store.upsert_invoices(created, source="job", actor=actor, job_id=job_id)
            changes = {
                no: o.status_after
                for o in outcomes
                # a done status change always carries its status; the check is for mypy
                if o.state == ItemState.DONE
                and o.item["operation"] != CREATE
                and o.status_after is not None
                for no in o.changed
            }
            befores = store.record_status_changes(
                changes, source="job", actor=actor, job_id=job_id, now=now
            )
            items, audits = [], []
            for o in outcomes:
                item, p = o.item, o.item["payload"]
                before = _status_before(o, befores)
                after = o.status_after if o.state == ItemState.DONE else None
                items.append(
                    (
                        o.state,
                        o.code,
                        o.message,
                        before,
                        after,
                        None if o.state == ItemState.PENDING else now,
                        job_id,
                        item["seq"],
                    )
                )
                if o.state == ItemState.PENDING:
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
                        after if o.state == ItemState.DONE else intended,
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
            store.finish_sending_items(items)
            store.audit_many(audits)

    def _finish_rows(self, rows: list[tuple]) -> None:
        self.store.finish_sending_items(rows)

    def _tally(self, outcomes: list[_Outcome]) -> None:
        """Counts, the breaker and the progress callback (on the event loop, after the commit)."""
        for o in outcomes:
            self._count(ItemState.SENDING, o.state)
            if o.trips == "auth":
                self.stop = self.stop or _("breaker: Paynet refused the key")
            elif o.trips == "rate":
                self.stop = self.stop or _(
                    "breaker: Paynet is rate limiting ({message})", message=o.message
                )
            elif o.trips == "retryable" and o.state == ItemState.FAILED:
                self._streak += 1
                if self._streak >= BREAKER_FAILURES:
                    self.stop = self.stop or _(
                        "breaker: {n} failures in a row ({message})",
                        n=self._streak,
                        message=o.message,
                    )
            elif o.state == ItemState.DONE:
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
            owner_gone = self.seq_range is None and current["runner_pid"] != os.getpid()
            if owner_gone or state in JOB_FINAL_STATES:
                return
            counts = store.job_progress(job_id)
            mode, actor = job["mode"], job["created_by"]
            if state == JobState.CANCELLING:
                if counts[ItemState.SENDING]:
                    return  # an item could not be settled; the next run finishes the cancel
                skipped = _skip_pending(store, job_id, "cancelled before it was sent")
                store.set_job_state(job_id, JobState.CANCELLED)
                store.audit(
                    actor,
                    AuditAction.JOB_CANCELLED,
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={**_counts(store, job_id), "skipped_now": skipped},
                )
            elif state == JobState.PAUSED:
                return
            elif self.stop and self.stop.startswith("breaker"):
                store.set_job_state(job_id, JobState.PAUSED)
                store.audit(
                    "system",
                    AuditAction.JOB_PAUSE,
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={"reason": self.stop, **_counts(store, job_id)},
                )
            elif counts[ItemState.PENDING] == 0 and counts[ItemState.SENDING] == 0:
                store.set_job_state(job_id, JobState.DONE)
                store.audit(
                    actor,
                    AuditAction.JOB_FINISH,
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details=_counts(store, job_id),
                )
            elif self._budget < 1 and counts[ItemState.SENDING] == 0:
                store.set_job_state(job_id, JobState.PAUSED)
                store.audit(
                    "system",
                    AuditAction.JOB_REVIEW_PAUSE,
                    mode=mode,
                    target_type="job",
                    target_ids=[job_id],
                    job_id=job_id,
                    details={
                        "first_batch": job["options"].get("first_batch"),
                        **_counts(store, job_id),
                    },
                )


def _trip(err: ProviderError) -> str | None:
    return "retryable" if err.is_retryable else None


def _status_before(o: _Outcome, befores: dict[str, int]) -> int | None:
    item, p = o.item, o.item["payload"]
    if item["operation"] == CREATE:
        return None
    if item["operation"] == SET_STATUS_ALL:
        found = {e.get("status_before") for e in p["invoices"]}
        return found.pop() if len(found) == 1 else None
    no = p.get("invoice_no")
    if o.state == ItemState.DONE and no in befores:
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
