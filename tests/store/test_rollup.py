"""daily_rollup stays equal to a rebuild from the base tables whatever the writes, the charts
read from it give the base tables' numbers, ``paynet-ops db check`` catches a tampered row, and
the data version moves exactly when data does."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paynet_core import reports
from paynet_core.cli import app
from paynet_core.dates import ISTANBUL
from paynet_core.store import ROLLUP_VERSION, Store
from paynet_core.store import cache as store_module  # BATCH_ROWS lives there

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)
DAYS = ("2026-03-02", "2026-03-03", "2026-04-10")

subscriptions = st.builds(
    lambda n, agent: {"subscription_id": f"S{n}", "reference_no": f"900{n}", "agent_id": agent},
    st.integers(1, 3),
    st.sampled_from([None, "AG1", "AG2"]),
)
invoices = st.builds(
    lambda n, sub, day, status, amount: {
        "invoice_no": f"I{n}",
        "subscription_id": f"S{sub}",
        "amount": amount,
        "val_date": None if day is None else f"{day}T10:00:00",
        "status": status,
    },
    st.integers(1, 6),
    st.integers(1, 4),  # S4 is never cached: its invoices have no agent
    st.sampled_from([*DAYS, None]),
    st.sampled_from([0, 2, 3, 4, 5, 6]),
    st.integers(0, 50_000),
)
payments = st.builds(
    lambda pid, day, inst, amount, fee, status: {
        "invoice_payment_id": pid,
        "invoice_type": None if inst is None else f"{inst} Faturası",
        "institution": inst,
        "amount_kurus": amount,
        "fee_kurus": fee,
        "paid_at": None if day is None else f"{day}T14:30:00",
        "status": status,
    },
    st.integers(1, 5),
    st.sampled_from([*DAYS, None]),
    st.sampled_from(["İSKİ", "BEDAŞ", None]),
    st.integers(0, 50_000),
    st.sampled_from([0, 50, 175]),
    st.sampled_from(["Paid", "Cancelled"]),
)
status_change = st.tuples(st.integers(1, 7), st.sampled_from([0, 2, 3, 4, 5, 6]))
operations = st.one_of(
    st.tuples(st.just("subscriptions"), st.lists(subscriptions, min_size=1, max_size=4)),
    st.tuples(st.just("invoices"), st.lists(invoices, min_size=1, max_size=5)),
    st.tuples(st.just("payments"), st.lists(payments, min_size=1, max_size=5)),
    st.tuples(st.just("action"), status_change),
    st.tuples(st.just("job"), st.lists(status_change, min_size=1, max_size=4)),
)


def apply(store: Store, operation: tuple) -> None:
    kind, arg = operation
    if kind == "subscriptions":
        store.upsert_subscriptions(arg)
    elif kind == "invoices":
        store.upsert_invoices(arg, source="sync")
    elif kind == "payments":
        store.upsert_payments(arg)
    elif kind == "action":
        store.record_status_change(f"I{arg[0]}", arg[1], source="action", actor="a@example.com")
    else:
        with store.transaction():
            changes = {f"I{n}": status for n, status in arg}
            store.record_status_changes(
                changes, source="job", actor="a@example.com", job_id="J1", now="x"
            )


def every_chart(store: Store) -> dict[str, pd.DataFrame]:
    out = {f"by_{by}": reports.breakdown(store, by=by) for by in reports.BREAKDOWNS}
    out["series"] = reports.outcome_series(store, grain="week", measure="amount")
    out["fees"] = reports.fee_totals(store, grain="day")
    out["rate"] = reports.cancellation_rate(store, grain="month")
    out["agent"] = reports.outcome_series(store, filters=reports.ChartFilters(agent_id="AG1"))
    out["kpis"] = pd.DataFrame([reports.kpis(store)])
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=12))
def test_rollup_equals_a_rebuild_after_any_write_sequence(sequence):
    # Batches of two: a multi-row write spans several transactions, and the same invoice twice
    # in one call lands in one batch (last one wins) or in two.
    saved, store_module.BATCH_ROWS = store_module.BATCH_ROWS, 2
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            Store.open(Path(tmp) / "cache.db", clock=lambda: NOW) as store,
        ):
            for operation in sequence:
                apply(store, operation)
                assert store.rollup_differences() == [], operation
            empty = store.query("SELECT COUNT(*) AS n FROM daily_rollup WHERE count <= 0")
            assert empty["n"][0] == 0
            got = every_chart(store)
            with reports.from_base_tables():
                expected = every_chart(store)
            for name, frame in expected.items():
                pd.testing.assert_frame_equal(got[name], frame, obj=name)
    finally:
        store_module.BATCH_ROWS = saved


def test_migration_backfills_the_rollup_from_rows_already_cached(tmp_path):
    with Store.open(tmp_path / "cache.db", clock=lambda: NOW) as store:
        store.migrate(to=4)  # nothing to do: opened at the latest version already
    old = Store(tmp_path / "old.db", clock=lambda: NOW)
    old.migrate(to=4)
    with old.transaction() as db:
        db.conn.execute(
            """INSERT INTO invoices (invoice_no, amount_kurus, val_day, status, status_label,
               outcome, created_at, updated_at) VALUES
               ('I1', 100, '2026-03-02', 3, 'Done succeed', 'paid', 'x', 'x'),
               ('I2', 250, '2026-03-02', 3, 'Done succeed', 'paid', 'x', 'x')"""
        )
    assert old.migrate(to=ROLLUP_VERSION) == [5]
    rows = old.query("SELECT provider, day, status, count, amount_kurus FROM daily_rollup")
    assert rows.values.tolist() == [["paynet", "2026-03-02", "Done succeed", 2, 350]]
    assert old.rollup_differences() == []
    old.close()


# -- paynet-ops db check ------------------------------------------------------------------------


@pytest.fixture
def filled(tmp_path, monkeypatch):
    path = tmp_path / "check.db"
    monkeypatch.setenv("PAYNET_OPS_DB", str(path))
    with Store.open(path, clock=lambda: NOW) as store:
        store.upsert_subscriptions([{"subscription_id": "S1", "agent_id": "AG1"}])
        store.upsert_invoices(
            [{"invoice_no": "I1", "subscription_id": "S1", "amount": 10_000, "status": 3,
              "val_date": "2026-03-02T10:00:00"}]
        )  # fmt: skip
        store.upsert_payments(
            [{"invoice_payment_id": 1, "institution": "İSKİ", "invoice_type": "Su Faturası",
              "amount_kurus": 500, "fee_kurus": 50, "paid_at": "2026-03-02T14:30:00",
              "status": "Paid"}]
        )  # fmt: skip
    return path


def test_db_check_passes_on_a_consistent_cache(filled):
    result = CliRunner().invoke(app, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output and "6 rows" in result.output
    assert "daily_rollup_days" in result.output


def test_db_check_finds_a_tampered_rollup_row(filled):
    with Store.open(filled) as store, store.transaction() as db:
        db.conn.execute(
            "UPDATE daily_rollup SET amount_kurus = amount_kurus + 1 WHERE provider = 'payofin'"
        )
        db.conn.execute(
            """INSERT INTO daily_rollup VALUES
               ('paynet', '2026-01-01', 'paid', 'Done succeed', '', '', '', 1, 7, 0)"""
        )
    result = CliRunner().invoke(app, ["db", "check"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "differs from a rebuild at 2 keys" in result.output
    assert result.output.count("daily_rollup ") == 2  # the totals were not touched
    assert "1 / 501 / 50" in result.output and "1 / 500 / 50" in result.output
    assert "2026-01-01" in result.output and "missing" in result.output


def test_db_check_without_a_cache_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYNET_OPS_DB", str(tmp_path / "none.db"))
    result = CliRunner().invoke(app, ["db", "check"])
    assert result.exit_code == 2
    assert "no cache database" in result.output and "Traceback" not in result.output


# -- data version ---------------------------------------------------------------------------


def test_data_version_moves_only_when_data_changes_and_is_seen_by_other_connections(tmp_path):
    path = tmp_path / "cache.db"
    with Store.open(path, clock=lambda: NOW) as writer, Store.read_only(path) as reader:
        sub = [{"subscription_id": "S1", "agent_id": "AG1"}]
        start = reader.data_version()
        writer.upsert_subscriptions(sub)
        assert reader.data_version() == start + 1
        writer.upsert_subscriptions(sub)  # identical: nothing written, version kept
        with writer.transaction():
            pass
        assert reader.data_version() == start + 1
        writer.audit("a@example.com", "test.action", mode="sandbox")
        assert reader.data_version() == start + 2
