"""Refresh the cache from both providers: incremental, in date windows, never silently partial.

**Payofin** lists payments by payment day, at most 15 days per request. A sync lists the
windows from the last synced day to today. The last synced day itself is listed again (one day
of overlap): it was probably still going on when it was synced, and a payment cancelled the day
after it was made shows up there as ``Cancelled``. Cancellations older than the overlap are not
seen by an incremental sync; ``--full`` (or ``--since``) re-lists older days.

**Paynet** has no "changed since" filter. Subscriptions are listed by creation day (``datab`` /
``datbi``) in windows of 31 days from the last synced day; invoices only per subscription
(``invoice_list``, every page). Re-listing the invoices of every subscription on every run costs
one request per subscription, so an incremental run re-lists only the subscriptions whose
invoices can still change:

- new subscriptions (not in the cache before this run);
- subscriptions with an invoice still *Waiting* (0) or *Done unsucceed* (4): the statuses
  Paynet moves on (charged, retried, cancelled);
- subscriptions with recent activity: an invoice dated within the last ``RECENT_DAYS`` days or
  in the future, or created within the last ``RECENT_DAYS`` days (the next period's invoice is
  due soon);
- subscriptions of a window that failed before (see below).

The trade-off: a subscription whose invoices are all final (paid, cancelled, deleted) and older
than ``RECENT_DAYS`` is not asked again, so what happens to it at Paynet outside paynet-ops (a
new invoice created by another system, a *Cancel* turned into *Deleted*) reaches the cache only
with ``--full``, which re-lists every cached subscription and every day since the first one.
Changes made through paynet-ops are written to the cache when they are made, so they do not
depend on a sync. Likewise a subscription's own fields (agent, amount) are refreshed when its
creation window is listed again, i.e. by ``--full`` or ``--since``.

**Requests** of an incremental run with nothing new: one ``list`` (today's subscription window),
one ``invoice_list`` page per re-listed subscription, one Payofin ``invoicelist`` (today's
window). A second run writes nothing to the data tables (the store compares before it writes);
it only records the run in ``sync_state`` and the windows in ``sync_windows``.

**Failures.** A window whose request fails after the client's retries is recorded as failed in
``sync_windows`` (with the error) and listed in the report; the sync goes on with the next
window. The next run tries it again before anything else, and it stays failed until it
succeeds. For Paynet a window is done only when its subscriptions *and* the invoices of every
subscription listed from it are in the cache; a failed invoice listing fails its window. While
any window is failed, ``sync_state.last_synced_day`` does not move, so the next run also covers
the same days again. An authentication error stops the provider's sync at once: the windows not
tried are recorded as failed with the same error, so nothing is skipped without a trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from .. import dates
from ..config import Mode
from ..errors import AuthenticationError, ConfigError, ProviderError, StoreError
from ..paynet.models import InvoiceStatus, Subscription
from ..payofin.client import MAX_LIST_DAYS
from ..store import Store, UpsertResult
from ..vocab import AuditAction

#: ``progress(done, total, message)``; ``total`` may grow while a sync discovers work.
Progress = Callable[[int, int, str], None]

#: How far back the first sync (and ``--full``) goes when no ``--since`` is given.
DEFAULT_HISTORY_DAYS = 365
PAYNET_WINDOW_DAYS = 31
PAYOFIN_WINDOW_DAYS = MAX_LIST_DAYS
#: Already-synced days listed again by an incremental Payofin sync (late cancellations).
PAYOFIN_OVERLAP_DAYS = 1
#: "Recent activity" for Paynet: invoices dated, or subscriptions created, this many days back.
RECENT_DAYS = 35
#: Invoice statuses Paynet still moves on: their subscriptions are re-listed on every sync.
LIVE_STATUSES = (InvoiceStatus.WAITING, InvoiceStatus.DONE_UNSUCCEED)

SUBSCRIPTIONS_SCOPE = "subscriptions"
PAYMENTS_SCOPE = "payments"


@dataclass(frozen=True)
class FailedWindow:
    """A date window whose sync failed; the next sync tries it again."""

    provider: str
    scope: str
    first_day: date
    last_day: date
    error: str

    def __str__(self) -> str:
        days = dates.format_display_date(self.first_day)
        if self.last_day != self.first_day:
            days += f"–{dates.format_display_date(self.last_day)}"
        return f"{self.provider} {self.scope} {days}: {self.error}"


@dataclass(frozen=True)
class SyncReport:
    """What one provider's sync did. ``new``/``changed``/``unchanged`` add up every table;
    ``tables`` has them per table. ``requests`` counts HTTP requests sent, retries included."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed_windows: tuple[FailedWindow, ...] = ()
    requests: int = 0
    windows: int = 0
    tables: Mapping[str, UpsertResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed_windows

    @property
    def written(self) -> int:
        return self.new + self.changed

    def __str__(self) -> str:
        text = f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged"
        if self.failed_windows:
            text += f"; {len(self.failed_windows)} failed window(s)"
        return f"{text}; {self.requests} request(s)"


class _HasStore(Protocol):
    # read-only: Runtime's store is a cached_property and its mode a property
    @property
    def store(self) -> Store: ...
    @property
    def mode(self) -> Mode: ...


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def sync_paynet(
    target: Store | Any,
    client: Any | None = None,
    *,
    since: date | None = None,
    full: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
) -> SyncReport:
    """Bring Paynet subscriptions and invoices into the cache (see the module docstring).

    ``target`` is a :class:`~paynet_core.runtime.Runtime` (its store, and a client it opens and
    closes), or a :class:`Store` with a ``PaynetClient`` in ``client``. ``since`` lists
    subscriptions created from that day on; ``full`` re-lists everything.
    """
    store, client, owned = _resolve(target, client, "paynet")
    try:
        with _counting(client) as sent:
            run = _PaynetSync(store, client, today or dates.today(), progress)
            report = run.run(since=since, full=full)
        return replace(report, requests=sent[0])
    finally:
        if owned:
            client.close()


def sync_payofin(
    target: Store | Any,
    client: Any | None = None,
    *,
    since: date | None = None,
    full: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
    overlap_days: int = PAYOFIN_OVERLAP_DAYS,
) -> SyncReport:
    """Bring Payofin bill payments into the cache, in windows of at most 15 days.

    Incremental runs start at the last synced day (listed again: ``overlap_days`` days of
    overlap). ``since`` lists from that day on; ``full`` from the first cached payment day (or a
    year back, whichever is earlier).
    """
    if overlap_days < 1:
        raise ValueError("overlap_days must be at least 1 (the last synced day was partial)")
    store, client, owned = _resolve(target, client, "payofin")
    try:
        with _counting(client) as sent:
            run = _PayofinSync(store, client, today or dates.today(), progress)
            report = run.run(since=since, full=full, overlap_days=overlap_days)
        return replace(report, requests=sent[0])
    finally:
        if owned:
            client.close()


def sync_all(
    runtime: _HasStore,
    *,
    since: date | None = None,
    full: bool = False,
    progress: Progress | None = None,
    progress_for: Callable[[str], Progress | None] | None = None,
    today: date | None = None,
    actor: str | None = None,
) -> dict[str, SyncReport]:
    """Sync Paynet, then Payofin, and write one ``sync.run`` audit row for ``actor``.

    Progress goes to ``progress_for(provider)`` when given (one bar each, as the CLI shows),
    else to ``progress`` with messages that start with the provider's name. The dashboard and
    the CLI both come here, so a sync is audited the same way whoever starts it.
    """

    def tagged(name: str) -> Progress | None:
        if progress_for is not None:
            return progress_for(name)
        if progress is None:
            return None
        return lambda done, total, message: progress(done, total, f"{name}: {message}")

    reports = {
        "paynet": sync_paynet(
            runtime, since=since, full=full, progress=tagged("Paynet"), today=today
        ),
        "payofin": sync_payofin(
            runtime, since=since, full=full, progress=tagged("Payofin"), today=today
        ),
    }
    if actor is not None:
        runtime.store.audit(
            actor,
            AuditAction.SYNC_RUN,
            mode=runtime.mode.value,
            target_type="cache",
            details={name: str(report) for name, report in reports.items()},
        )
    return reports


# --------------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------------


def _resolve(target: Any, client: Any | None, provider: str) -> tuple[Store, Any, bool]:
    if isinstance(target, Store):
        if client is None:
            raise TypeError(f"sync_{provider}(store, client): give the {provider} client")
        return target, client, False
    store = target.store
    if client is not None:
        return store, client, False
    return store, getattr(target, provider)(), True


@contextmanager
def _counting(client: Any) -> Iterator[list[int]]:
    """Count the HTTP requests the client sends (retries included) with an httpx event hook.

    The clients expose no counter, so this reaches their ``httpx.Client`` (``_http``); a client
    without one (a test double) is counted as zero.
    """
    box = [0]
    http = getattr(client, "_http", None)
    if http is None:
        yield box
        return
    before = http.event_hooks

    def hook(_request: object) -> None:
        box[0] += 1

    http.event_hooks = {**before, "request": [*before.get("request", []), hook]}
    try:
        yield box
    finally:
        http.event_hooks = before


def _days(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def _fatal(err: Exception) -> bool:
    """Errors no later window can escape: stop asking, record the rest as failed."""
    return isinstance(err, AuthenticationError | ConfigError)


def _message(err: Exception) -> str:
    return str(err) or type(err).__name__


def _start_day(
    since: date | None,
    full: bool,
    cursor: date | None,
    today: date,
    earliest: Callable[[], date | None],
    overlap_days: int = 1,
) -> date:
    default = today - timedelta(days=DEFAULT_HISTORY_DAYS)
    if since is not None:
        return since
    if full:
        first = earliest()
        return min(default, first) if first else default
    if cursor is not None:
        return min(cursor - timedelta(days=overlap_days - 1), today)
    return default


def _moves_cursor(since: date | None, cursor: date | None) -> bool:
    """A ``--since`` later than the cursor leaves a gap behind: keep the cursor then."""
    return since is None or cursor is None or since <= cursor + timedelta(days=1)


Window = tuple[date, date]


class _Run:
    provider = ""
    scope = ""

    def __init__(self, store: Store, client: Any, today: date, progress: Progress | None):
        self.store = store
        self.client = client
        self.today = today
        self.progress = progress
        self.done = 0
        self.total = 0
        self.failures: list[FailedWindow] = []
        self.tables: dict[str, UpsertResult] = {}
        self.windows = 0
        self.abort: Exception | None = None

    def tick(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    def step_done(self) -> None:
        self.done += 1

    def count(self, table: str, result: UpsertResult) -> None:
        self.tables[table] = self.tables.get(table, UpsertResult()) + result

    def cursor(self) -> date | None:
        state = self.store.sync_state(self.provider, self.scope)
        day = state and state.get("last_synced_day")
        return date.fromisoformat(day) if day else None

    def fail(self, first: date, last: date, error: str) -> None:
        self.store.record_sync_window(self.provider, first, last, scope=self.scope, error=error)
        self.failures.append(FailedWindow(self.provider, self.scope, first, last, error))

    def succeed(self, first: date, last: date) -> None:
        self.store.record_sync_window(self.provider, first, last, scope=self.scope)

    def finish(self, since: date | None, cursor: date | None) -> SyncReport:
        if self.failures:
            first = self.failures[0]
            error = f"{len(self.failures)} window(s) failed; first: {first}"
            self.store.save_sync_state(self.provider, self.scope, error=error)
        else:
            day = self.today if _moves_cursor(since, cursor) else None
            self.store.save_sync_state(self.provider, self.scope, last_synced_day=day)
        self.done = self.total
        self.tick("done")
        total = sum(self.tables.values(), UpsertResult())
        return SyncReport(
            new=total.new,
            changed=total.changed,
            unchanged=total.unchanged,
            failed_windows=tuple(self.failures),
            windows=self.windows,
            tables=dict(self.tables),
        )

    def plan(
        self, start: date, window_days: int
    ) -> tuple[list[Window], list[Window], list[Window]]:
        """(failed windows to retry as they were, fresh windows from ``start`` to today, every
        failed window). A failed window inside the fresh range is covered by the fresh ones."""
        fresh = dates.date_windows(start, self.today, window_days) if start <= self.today else []
        failed = self.store.failed_sync_windows(self.provider, self.scope)
        retry = [w for w in failed if not (start <= w[0] and w[1] <= self.today)]
        return retry, fresh, failed


# --------------------------------------------------------------------------------------------
# Payofin
# --------------------------------------------------------------------------------------------


class _PayofinSync(_Run):
    provider = "payofin"
    scope = PAYMENTS_SCOPE

    def run(self, *, since: date | None, full: bool, overlap_days: int) -> SyncReport:
        cursor = self.cursor()
        start = _start_day(since, full, cursor, self.today, self._earliest, overlap_days)
        retry, fresh, before = self.plan(start, PAYOFIN_WINDOW_DAYS)
        self.total = len(retry) + len(fresh)
        listed: set[date] = set()
        for first, last in [*retry, *fresh]:
            self.tick(f"payments {_span(first, last)}")
            if self._window(first, last):
                listed.update(_days(first, last))
            self.step_done()
        # Failed windows inside today's range were covered by the fresh windows.
        for first, last in before:
            if (first, last) not in retry and set(_days(first, last)) <= listed:
                self.succeed(first, last)
        return self.finish(since, cursor)

    def _window(self, first: date, last: date) -> bool:
        self.windows += 1
        if self.abort is not None:
            self.fail(first, last, f"not tried: {_message(self.abort)}")
            return False
        try:
            payments = self.client.list_payments_window(first, last)
            self.count("bill_payments", self.store.upsert_payments(payments))
        except (ProviderError, StoreError) as err:
            self.fail(first, last, _message(err))
            if _fatal(err):
                self.abort = err
            return False
        self.succeed(first, last)
        return True

    def _earliest(self) -> date | None:
        return self.store.earliest_payment_day()


# --------------------------------------------------------------------------------------------
# Paynet
# --------------------------------------------------------------------------------------------


class _PaynetSync(_Run):
    provider = "paynet"
    scope = SUBSCRIPTIONS_SCOPE

    def run(self, *, since: date | None, full: bool) -> SyncReport:
        cursor = self.cursor()
        start = _start_day(since, full, cursor, self.today, self._earliest)
        retry, fresh, before = self.plan(start, PAYNET_WINDOW_DAYS)
        failed_days = {day for window in before for day in _days(*window)}
        windows = [*retry, *fresh]
        self.total = len(windows)

        # Phase 1: subscriptions by creation window; remember which need their invoices, and
        # where each was found (a failed invoice listing fails that window).
        to_list: dict[str, Window] = {}
        found_in: dict[str, Window] = {}
        listed: list[Window] = []
        for first, last in windows:
            self.tick(f"subscriptions {_span(first, last)}")
            found = self._subscriptions(first, last)
            self.step_done()
            if found is None:
                continue
            listed.append((first, last))
            subs, known = found
            for sub in subs:
                found_in.setdefault(sub.subscription_id, (first, last))
                created = _created_day(sub)
                if sub.subscription_id not in known or created is None or created in failed_days:
                    to_list.setdefault(sub.subscription_id, (first, last))

        # Phase 2: invoices of new, failed-window, live (or, in a full sync, all) subscriptions.
        for sub_id, created in self._relist(full).items():
            day = created or self.today
            to_list.setdefault(sub_id, found_in.get(sub_id, (day, day)))
        self.total += len(to_list)
        broken: dict[Window, str] = {}
        for sub_id, window in sorted(to_list.items()):
            self.tick(f"invoices of subscription {sub_id}")
            error = self._invoices(sub_id)
            self.step_done()
            if error is not None:
                broken.setdefault(window, f"invoices of subscription {sub_id}: {error}")

        # Phase 3: a window is done when its subscriptions and their invoices all made it.
        for window in listed:
            if window in broken:
                self.fail(*window, broken.pop(window))
            else:
                self.succeed(*window)
        for window, error in broken.items():  # live subscriptions outside today's windows
            self.fail(*window, error)
        ok_days = {d for w in listed if w not in broken for d in _days(*w)}
        failed_now = {(f.first_day, f.last_day) for f in self.failures}
        for window in before:
            if window not in failed_now and window not in listed and set(_days(*window)) <= ok_days:
                self.succeed(*window)
        return self.finish(since, cursor)

    def _subscriptions(self, first: date, last: date) -> tuple[list[Subscription], set[str]] | None:
        self.windows += 1
        if self.abort is not None:
            self.fail(first, last, f"not tried: {_message(self.abort)}")
            return None
        try:
            subs = self.client.list_subscriptions(first, last)
            known = self._cached([s.subscription_id for s in subs])
            self.count("subscriptions", self.store.upsert_subscriptions(subs))
        except (ProviderError, StoreError) as err:
            self.fail(first, last, _message(err))
            if _fatal(err):
                self.abort = err
            return None
        return subs, known

    def _invoices(self, subscription_id: str) -> str | None:
        if self.abort is not None:
            return f"not tried: {_message(self.abort)}"
        try:
            invoices = self.client.list_invoices(subscription_id=subscription_id)
            self.count("invoices", self.store.upsert_invoices(invoices, source="sync"))
        except (ProviderError, StoreError) as err:
            if _fatal(err):
                self.abort = err
            return _message(err)
        return None

    def _cached(self, ids: list[str]) -> set[str]:
        return self.store.cached_subscription_ids(ids)

    def _relist(self, full: bool) -> dict[str, date | None]:
        """Cached subscriptions whose invoices may still change (all of them when ``full``),
        with their creation day."""
        since = self.today - timedelta(days=RECENT_DAYS)
        return self.store.subscriptions_to_relist(
            full=full, since=since, live_statuses=LIVE_STATUSES
        )

    def _earliest(self) -> date | None:
        return self.store.earliest_subscription_day()


def _created_day(sub: Subscription) -> date | None:
    created = sub.created_at
    if created is None:
        return None
    if isinstance(created, datetime):
        return dates.to_istanbul(created).date()
    return created


def _span(first: date, last: date) -> str:
    if first == last:
        return dates.format_display_date(first)
    return f"{dates.format_display_date(first)}–{dates.format_display_date(last)}"
