import os
from datetime import date, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.cli.sync import parse_day
from paynet_core.config import Settings
from paynet_core.dates import ISTANBUL
from paynet_core.ops.sync import (
    DEFAULT_HISTORY_DAYS,
    RECENT_DAYS,
    SyncReport,
    sync_all,
    sync_paynet,
    sync_payofin,
)
from paynet_core.paynet import PaynetClient
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.payofin import PayofinClient
from paynet_core.runtime import Runtime
from paynet_core.sandbox import Sandbox, SandboxTransport, open_sandbox, seed_demo
from paynet_core.store import Store

TODAY = date(2026, 5, 1)
DATA_TABLES = (
    "subscriptions",
    "invoices",
    "invoice_status_history",
    "bill_payments",
    "payment_status_history",
)


class Clock:
    """One clock for the sandbox and the store; tests move it forward."""

    def __init__(self) -> None:
        self.now = datetime.combine(TODAY, datetime.min.time(), ISTANBUL).replace(hour=12)

    def __call__(self) -> datetime:
        return self.now

    @property
    def today(self) -> date:
        return self.now.date()

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sandbox(clock):
    sb = Sandbox(clock=clock)
    yield sb
    sb.close()


@pytest.fixture
def demo(sandbox):
    seed_demo(sandbox)
    return sandbox


@pytest.fixture
def store(cache_target, clock):
    with Store.open(cache_target, clock=clock) as s:
        yield s


@pytest.fixture
def paynet(sandbox):
    with PaynetClient(transport=SandboxTransport(sandbox), sleep=lambda s: None) as c:
        yield c


@pytest.fixture
def payofin(sandbox):
    with PayofinClient(transport=SandboxTransport(sandbox), sleep=lambda s: None) as c:
        yield c


def run_both(store, paynet, payofin, clock, **kw):
    return (
        sync_paynet(store, paynet, today=clock.today, **kw),
        sync_payofin(store, payofin, today=clock.today, **kw),
    )


def sent(sandbox, before):
    after = sandbox.request_counts
    return {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}


def snapshot(store):
    conn = store.db.conn
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in DATA_TABLES}


def payofin_windows(sandbox):
    return [
        (date.fromisoformat(body["firstDate"]), date.fromisoformat(body["lastDate"]))
        for op, body in sandbox.calls
        if op == "invoicelist"
    ]


def live_subscriptions(sandbox, today):
    """Subscriptions the incremental sync must re-list, computed from the sandbox's own state."""
    recent = today - timedelta(days=RECENT_DAYS)
    live = set()
    for sub in sandbox.subscriptions():
        invoices = sandbox.invoices(subscription_id=sub.subscription_id)
        if sub.created_at.date() >= recent or any(
            i.status in (InvoiceStatus.WAITING, InvoiceStatus.DONE_UNSUCCEED)
            or i.val_date.date() >= recent
            for i in invoices
        ):
            live.add(sub.subscription_id)
    return live


# -- first and second sync ------------------------------------------------------------------


def test_first_sync_fills_the_cache_with_everything_the_sandbox_holds(
    demo, store, paynet, payofin, clock
):
    before = demo.request_counts
    pn, pf = run_both(store, paynet, payofin, clock)

    subs, invoices, payments = demo.subscriptions(), demo.invoices(), demo.payments()
    assert store.query("SELECT COUNT(*) AS n FROM subscriptions")["n"][0] == len(subs) == 300
    assert store.query("SELECT COUNT(*) AS n FROM invoices")["n"][0] == len(invoices)
    assert store.query("SELECT COUNT(*) AS n FROM bill_payments")["n"][0] == len(payments) == 3000
    assert (pn.new, pn.changed, pn.unchanged) == (len(subs) + len(invoices), 0, 0)
    assert (pf.new, pf.changed, pf.unchanged) == (3000, 0, 0)
    assert pn.ok and pf.ok
    # A year back: 366 days in 31-day windows (12) and 15-day windows (25); one invoice_list
    # per subscription (every demo subscription has fewer than 100 invoices: one page).
    assert sent(demo, before) == {"list": 12, "invoice_list": 300, "invoicelist": 25}
    assert (pn.requests, pf.requests, pn.windows, pf.windows) == (312, 25, 12, 25)
    cached = store.get_invoice(invoices[0].invoice_no)
    assert (
        cached["status"] == int(invoices[0].status) and cached["amount_kurus"] == invoices[0].amount
    )
    assert store.sync_state("paynet", "subscriptions")["last_synced_day"] == TODAY.isoformat()
    assert store.sync_state("payofin", "payments")["last_synced_day"] == TODAY.isoformat()
    assert store.last_sync_time() == clock.now


def test_second_sync_writes_nothing_and_sends_the_minimum_requests(
    demo, store, paynet, payofin, clock
):
    run_both(store, paynet, payofin, clock)
    tables = snapshot(store)
    changes = store.db.conn.total_changes
    version = store.data_version()
    before = demo.request_counts

    pn, pf = run_both(store, paynet, payofin, clock)

    assert (pn.new, pn.changed, pf.new, pf.changed) == (0, 0, 0, 0)
    assert snapshot(store) == tables
    # Only bookkeeping was written: one sync_windows row per window, one sync_state row each
    # (and the data version, once per bookkeeping transaction).
    bumps = store.data_version() - version
    assert 0 < bumps <= 4
    assert store.db.conn.total_changes - changes - bumps == pn.windows + pf.windows + 2 == 4
    # Today's subscription window, today's payment window, one page per live subscription.
    live = live_subscriptions(demo, TODAY)
    assert 0 < len(live) < 300
    assert sent(demo, before) == {"list": 1, "invoicelist": 1, "invoice_list": len(live)}
    assert pn.requests + pf.requests == 2 + len(live)
    assert pn.unchanged == sum(len(demo.invoices(subscription_id=s)) for s in live)


def test_full_sync_relists_every_subscription_and_every_day(demo, store, paynet, payofin, clock):
    run_both(store, paynet, payofin, clock)
    before = demo.request_counts
    pn, pf = run_both(store, paynet, payofin, clock, full=True)
    assert (pn.new, pn.changed, pf.new, pf.changed) == (0, 0, 0, 0)
    assert sent(demo, before) == {"list": 12, "invoice_list": 300, "invoicelist": 25}


def test_new_subscription_and_invoice_upstream_are_picked_up(demo, store, paynet, payofin, clock):
    run_both(store, paynet, payofin, clock)
    clock.advance(1)
    sub = demo.add_subscription(reference_no="90001234")
    demo.add_invoice(subscription_id=sub.subscription_id, amount=12_345, invoice_no="NEW-1")
    pn = sync_paynet(store, paynet, today=clock.today)
    assert pn.tables["subscriptions"].new == 1 and pn.tables["invoices"].new == 1
    assert store.get_invoice("NEW-1")["amount_kurus"] == 12_345


# -- status changes --------------------------------------------------------------------------


def test_a_status_changed_upstream_shows_up_as_changed_with_a_history_row(
    demo, store, paynet, payofin, clock
):
    run_both(store, paynet, payofin, clock)
    waiting = demo.invoices(status=InvoiceStatus.WAITING)[0]
    clock.advance(1)
    demo.set_invoice_status(waiting.invoice_no, InvoiceStatus.CANCEL)

    pn = sync_paynet(store, paynet, today=clock.today)

    assert (pn.new, pn.changed) == (0, 1)
    assert pn.tables["invoices"].changed == 1
    row = store.get_invoice(waiting.invoice_no)
    assert (row["status"], row["status_label"], row["outcome"]) == (5, "Cancel", "cancelled")
    history = store.invoice_history(waiting.invoice_no)
    assert history[["old_status", "new_status", "source"]].to_dict("records") == [
        {"old_status": 0, "new_status": 5, "source": "sync"}
    ]
    assert history["observed_at"][0] == clock.now.isoformat()


# -- Payofin windows -------------------------------------------------------------------------


def pay(sandbox, day, amount=10_000, **kw):
    at = datetime.combine(day, datetime.min.time(), ISTANBUL).replace(hour=10)
    return sandbox.add_payment(
        subscriber_no="01345677000", invoice_amount=amount, payment_date=at, **kw
    )


def test_payofin_windows_cover_a_40_day_range_in_15_day_steps_then_overlap_one_day(
    sandbox, store, payofin, clock
):
    start = TODAY - timedelta(days=39)
    for n in range(40):
        pay(sandbox, start + timedelta(days=n), amount=10_000 + n)

    report = sync_payofin(store, payofin, since=start, today=clock.today)

    windows = payofin_windows(sandbox)
    assert windows == [
        (start, start + timedelta(days=14)),
        (start + timedelta(days=15), start + timedelta(days=29)),
        (start + timedelta(days=30), TODAY),
    ]
    assert all((last - first).days + 1 <= 15 for first, last in windows)
    assert (report.new, report.requests, report.windows) == (40, 3, 3)
    assert store.query("SELECT COUNT(DISTINCT paid_day) AS n FROM bill_payments")["n"][0] == 40

    # 20 days later the next sync starts at the last synced day: one day of overlap.
    clock.advance(20)
    sync_payofin(store, payofin, today=clock.today)
    assert payofin_windows(sandbox)[3:] == [
        (TODAY, TODAY + timedelta(days=14)),
        (TODAY + timedelta(days=15), TODAY + timedelta(days=20)),
    ]


def test_a_late_cancellation_is_caught_by_the_overlap_day(sandbox, store, payofin, clock):
    payment = pay(sandbox, TODAY)
    first = sync_payofin(store, payofin, today=clock.today)
    assert first.new == 1 and store.get_payment(payment.invoice_payment_id)["status"] == "Paid"

    clock.advance(1)
    sandbox.cancel_payment(payment.invoice_payment_id)
    report = sync_payofin(store, payofin, today=clock.today)

    assert payofin_windows(sandbox)[-1] == (TODAY, TODAY + timedelta(days=1))
    assert (report.new, report.changed) == (0, 1)
    row = store.get_payment(payment.invoice_payment_id)
    assert (row["status"], row["outcome"], row["paid_day"]) == (
        "Cancelled",
        "cancelled",
        TODAY.isoformat(),
    )
    history = store.query("SELECT old_status, new_status FROM payment_status_history")
    assert history.to_dict("records") == [{"old_status": "Paid", "new_status": "Cancelled"}]


def test_first_payofin_sync_goes_back_a_year(sandbox, store, payofin, clock):
    sync_payofin(store, payofin, today=clock.today)
    windows = payofin_windows(sandbox)
    assert windows[0][0] == TODAY - timedelta(days=DEFAULT_HISTORY_DAYS)
    assert windows[-1][1] == TODAY
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in zip(windows, windows[1:], strict=False))


# -- failures --------------------------------------------------------------------------------


def test_a_failed_payofin_window_is_recorded_and_retried_next_run(sandbox, store, payofin, clock):
    start = TODAY - timedelta(days=39)
    for n in range(0, 40, 5):
        pay(sandbox, start + timedelta(days=n))
    # The first window fails on every attempt (the client tries 4 times).
    sandbox.faults.fail_next("invoicelist", "http_500", count=4)

    report = sync_payofin(store, payofin, since=start, today=clock.today)

    failed = (start, start + timedelta(days=14))
    assert not report.ok
    assert [(w.first_day, w.last_day) for w in report.failed_windows] == [failed]
    assert "500" in report.failed_windows[0].error or "sandbox" in report.failed_windows[0].error
    assert report.requests == 4 + 2
    assert store.failed_sync_windows("payofin", "payments") == [failed]
    assert report.new == 5  # the payments of the two other windows
    state = store.sync_state("payofin", "payments")
    assert state["last_error"] and state["last_synced_day"] is None
    assert "failed window" in str(report)

    clock.advance(1)
    again = sync_payofin(store, payofin, today=clock.today)

    assert again.ok and again.new == 3
    assert store.failed_sync_windows("payofin", "payments") == []
    assert store.query("SELECT COUNT(*) AS n FROM bill_payments")["n"][0] == 8
    attempts = store.query(
        "SELECT attempts, state FROM sync_windows WHERE first_day = ? AND last_day = ?",
        (failed[0].isoformat(), failed[1].isoformat()),
    )
    assert attempts.to_dict("records") == [{"attempts": 2, "state": "done"}]
    assert store.sync_state("payofin", "payments")["last_error"] is None


def test_a_failed_invoice_listing_fails_its_window_until_a_later_run_lists_it(
    demo, store, paynet, clock
):
    sandbox = demo
    sandbox.faults.fail_next("invoice_list", "http_500", count=4)

    report = sync_paynet(store, paynet, today=clock.today)

    assert len(report.failed_windows) == 1
    failed = report.failed_windows[0]
    assert failed.scope == "subscriptions" and "invoices of subscription" in failed.error
    assert store.failed_sync_windows("paynet", "subscriptions") == [
        (failed.first_day, failed.last_day)
    ]
    missing = len(sandbox.invoices()) - store.query("SELECT COUNT(*) AS n FROM invoices")["n"][0]
    assert missing > 0

    clock.advance(1)
    again = sync_paynet(store, paynet, today=clock.today)

    assert again.ok and again.tables["invoices"].new == missing
    assert store.failed_sync_windows("paynet", "subscriptions") == []
    assert store.query("SELECT COUNT(*) AS n FROM invoices")["n"][0] == len(sandbox.invoices())


def test_an_authentication_error_stops_and_records_every_window_as_failed(store, clock):
    sandbox = Sandbox(clock=clock, payofin_keys={("right", "keys")})
    with PayofinClient(
        "wrong", "keys", transport=SandboxTransport(sandbox), sleep=lambda s: None
    ) as client:
        report = sync_payofin(store, client, since=TODAY - timedelta(days=39), today=clock.today)
    assert len(report.failed_windows) == 3 and report.requests == 1
    assert all("not tried" in w.error for w in report.failed_windows[1:])
    assert len(store.failed_sync_windows("payofin", "payments")) == 3
    sandbox.close()


# -- progress, runtime, CLI ------------------------------------------------------------------


def test_progress_reports_every_step_and_ends_complete(demo, store, paynet, clock):
    calls = []
    sync_paynet(store, paynet, today=clock.today, progress=lambda *a: calls.append(a))
    dones = [done for done, _, _ in calls]
    assert dones == sorted(dones)
    assert calls[-1] == (312, 312, "done")
    assert any("subscriptions" in m for _, _, m in calls) and any(
        "invoices" in m for _, _, m in calls
    )


def test_sync_all_uses_the_runtime_store_and_clients(tmp_path):
    runtime = Runtime(Settings(db_path=tmp_path / "rt.db", sandbox_db_path=tmp_path / "sandbox.db"))
    messages = []
    reports = sync_all(runtime, progress=lambda d, t, m: messages.append(m))
    assert set(reports) == {"paynet", "payofin"}
    assert all(isinstance(r, SyncReport) and r.ok and r.new for r in reports.values())
    assert runtime.store.query("SELECT COUNT(*) AS n FROM bill_payments")["n"][0] == 3000
    assert messages[0].startswith("Paynet: ") and messages[-1] == "Payofin: done"


def test_cli_sync_prints_a_summary_and_fails_when_a_window_failed(tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["sync"])
    assert first.exit_code == 0, first.output
    assert "Sync summary" in first.output and "Paynet" in first.output and "3000" in first.output

    open_sandbox(os.environ["PAYNET_OPS_SANDBOX_DB"]).faults.fail_next(
        "invoicelist", "http_500", count=4
    )
    failed = runner.invoke(app, ["sync", "--since", "2026-01-01"])
    assert failed.exit_code == 1
    assert "Failed windows" in failed.output and "payofin payments" in failed.output


@pytest.mark.parametrize("day", ["23.11.2025", "2025-11-23"])
def test_cli_sync_reads_both_day_forms(day):
    result = CliRunner().invoke(app, ["sync", "--since", day])
    assert result.exit_code == 0, result.output


def test_cli_sync_refuses_other_day_forms():
    result = CliRunner().invoke(app, ["sync", "--since", "23/13/2025"])
    assert result.exit_code == 2
    assert "Invalid value" in result.output and "--since" in result.output
    with pytest.raises(typer.BadParameter, match="23.11.2026 or 2026-11-23"):
        parse_day("2025/11/23")
    assert parse_day("23.11.2025") == parse_day("2025-11-23") == date(2025, 11, 23)
