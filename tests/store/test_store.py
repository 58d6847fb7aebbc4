import sqlite3
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.errors import StoreError
from paynet_core.paynet.models import Invoice, InvoiceStatus, Subscription
from paynet_core.store import JobItem, Store, UpsertResult


class Clock:
    """Time that moves one minute per reading, so every stamp is predictable and distinct."""

    def __init__(self):
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=ISTANBUL)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@dataclass(frozen=True)
class Payment:
    invoice_payment_id: int
    amount_kurus: int
    paid_at: datetime | date | None
    status: str = "Paid"
    fee_kurus: int = 50
    invoice_type: str = "Su Faturası"
    institution: str = "İSKİ"
    subscriber_no: str = "01345677000"
    customer_name: str = "DE*** ÖZ****"
    invoice_no: str = "0000000"
    due_date: date | None = date(2026, 11, 30)


def invoice(no: str, status: int = 0, amount: int = 1000, **extra) -> Invoice:
    fields = dict(
        invoice_no=no,
        invoice_id=f"id-{no}",
        subscription_id="S1",
        reference_no="R1",
        amount=amount,
        status=status,
        val_date="23.11.2026 10:32:24",
    )
    return Invoice(**(fields | extra))


def writes_of(store: Store, action) -> int:
    """Rows written by ``action``, and proof from a second connection that the file changed."""
    if store.dialect == "postgresql":
        version, before = store.data_version(), store.db.conn.total_changes
        action()
        written = store.db.conn.total_changes - before
        assert (store.data_version() != version) == (written > 0)
        return written
    other = sqlite3.connect(store.path)
    version = other.execute("PRAGMA data_version").fetchone()[0]
    before = store.db.conn.total_changes
    action()
    written = store.db.conn.total_changes - before
    changed_on_disk = other.execute("PRAGMA data_version").fetchone()[0] != version
    other.close()
    assert changed_on_disk == (written > 0)
    return written


# ---- upserts ---------------------------------------------------------------------------------


def test_subscriptions_report_new_changed_unchanged(store):
    subs = [
        Subscription(subscription_id=f"S{i}", name_surname="Ayşe Yılmaz", amount="1000")
        for i in range(3)
    ]
    assert store.upsert_subscriptions(subs) == UpsertResult(new=3)
    renamed = subs[0].model_copy(update={"name_surname": "Ayşe Kaya"})
    assert store.upsert_subscriptions([renamed, *subs[1:]]) == UpsertResult(changed=1, unchanged=2)
    assert (
        store.query("SELECT name_surname FROM subscriptions WHERE subscription_id='S0'").iloc[0, 0]
        == "Ayşe Kaya"
    )


def test_a_second_identical_sync_writes_nothing(store):
    subs = [Subscription(subscription_id="S1", begin_date="01.01.2026", is_fixed_price=True)]
    invoices = [invoice(f"N{i}") for i in range(10)]
    payments = [Payment(i, 1000, datetime(2026, 11, 23, 14, 5, tzinfo=ISTANBUL)) for i in range(10)]
    store.upsert_subscriptions(subs)
    store.upsert_invoices(invoices)
    store.upsert_payments(payments)

    assert writes_of(store, lambda: store.upsert_subscriptions(subs)) == 0
    assert writes_of(store, lambda: store.upsert_invoices(invoices)) == 0
    assert writes_of(store, lambda: store.upsert_payments(payments)) == 0
    assert store.upsert_invoices(invoices) == UpsertResult(unchanged=10)
    version = store.data_version()
    # The invoice, its three rollup rows (same key, new amount) and the data version.
    assert writes_of(store, lambda: store.upsert_invoices([invoice("N1", amount=2000)])) == 5
    assert store.data_version() == version + 1


def test_invoice_row_holds_kurus_istanbul_times_and_labels(store):
    store.upsert_invoices(
        [invoice("N1", status=3, amount=123456, agent_amount="100", val_date="01.02.2026 23:30:00")]
    )
    row = store.get_invoice("N1")
    assert row["amount_kurus"] == 123456 and row["agent_amount_kurus"] == 100
    assert row["val_date"] == "2026-02-01T23:30:00+03:00" and row["val_day"] == "2026-02-01"
    assert (row["status"], row["status_label"], row["outcome"]) == (3, "Done succeed", "paid")
    assert row["created_at"] == row["updated_at"] == row["synced_at"]
    assert store.get_invoice(invoice_id="id-N1")["invoice_no"] == "N1"
    assert store.get_invoice("nope") is None


def test_sync_records_status_changes_but_not_first_sightings(store):
    store.upsert_invoices([invoice("N1"), invoice("N2")])
    assert store.invoice_history("N1").empty

    result = store.upsert_invoices([invoice("N1", status=5), invoice("N2", amount=5)])

    assert result == UpsertResult(changed=2)
    history = store.invoice_history("N1")
    assert history[
        ["old_status", "new_status", "old_status_label", "new_status_label", "source"]
    ].values.tolist() == [[0, 5, "Waiting", "Cancel", "sync"]]
    assert store.invoice_history("N2").empty  # an amount change is not a status change
    row = store.get_invoice("N1")
    assert (row["status_label"], row["outcome"]) == ("Cancel", "cancelled")
    assert row["updated_at"] > row["created_at"]


def test_invoices_we_create_are_recorded_from_their_first_sighting(store):
    store.upsert_invoices([invoice("N1", invoice_id=None)], source="job", actor="ayse", job_id="j1")
    history = store.invoice_history("N1")
    assert history[["old_status", "new_status", "source", "actor", "job_id"]].values.tolist() == [
        [None, 0, "job", "ayse", "j1"]
    ]
    assert store.get_invoice("N1")["synced_at"] is None


def test_a_known_invoice_id_survives_a_reply_without_it(store):
    store.upsert_invoices([invoice("N1")])
    assert store.upsert_invoices([invoice("N1", invoice_id=None)]) == UpsertResult(unchanged=1)
    assert store.get_invoice("N1")["invoice_id"] == "id-N1"


def test_invoice_rows_are_refused_without_invoice_no_or_with_a_taken_invoice_id(store):
    with pytest.raises(StoreError, match="has no invoice_no"):
        store.upsert_invoices([invoice(None)])
    store.upsert_invoices([invoice("N1")])
    with pytest.raises(StoreError, match="UNIQUE"):
        store.upsert_invoices([invoice("N2", invoice_id="id-N1")])
    assert store.get_invoice("N2") is None


def test_payments_from_objects_and_dicts_and_late_cancellations(store):
    paid = Payment(1786, 100, datetime(2026, 5, 10, 14, 0, tzinfo=ISTANBUL))
    as_dict = {
        "invoice_payment_id": "1787",
        "amount_kurus": 250,
        "fee_kurus": 0,
        "paid_at": date(2026, 5, 11),
        "status": "Paid",
        "customer_name": "",
    }
    assert store.upsert_payments([paid, as_dict]) == UpsertResult(new=2)
    row = store.get_payment(1786)
    assert row["institution"] == "İSKİ" and row["customer_name_masked"] == "DE*** ÖZ****"
    assert (row["paid_at"], row["paid_day"], row["due_date"]) == (
        "2026-05-10T14:00:00+03:00",
        "2026-05-10",
        "2026-11-30",
    )
    assert (row["amount_kurus"], row["fee_kurus"], row["outcome"]) == (100, 50, "paid")
    second = store.get_payment("1787")
    assert (
        second["paid_at"] == "2026-05-11T00:00:00+03:00" and second["customer_name_masked"] is None
    )

    cancelled = Payment(1786, 100, paid.paid_at, status="Cancelled")
    assert store.upsert_payments([cancelled, as_dict]) == UpsertResult(changed=1, unchanged=1)
    row = store.get_payment(1786)
    assert (row["status"], row["outcome"]) == ("Cancelled", "cancelled")
    assert row["first_seen_at"] < row["synced_at"]
    history = store.query(
        "SELECT invoice_payment_id, old_status, new_status FROM payment_status_history"
    )
    assert history.values.tolist() == [[1786, "Paid", "Cancelled"]]


def test_payments_with_bad_money_or_ids_are_refused(store):
    with pytest.raises(StoreError, match="amount_kurus"):
        store.upsert_payments([Payment(1, 1.5, None)])
    with pytest.raises(StoreError, match="invoice_payment_id"):
        store.upsert_payments([Payment("x1", 100, None)])


def test_record_status_change_updates_row_and_history_together(store):
    store.upsert_invoices([invoice("N1")])
    before = store.record_status_change("N1", InvoiceStatus.CANCEL, source="action", actor="ayse")
    assert before is InvoiceStatus.WAITING
    assert store.get_invoice("N1")["status_label"] == "Cancel"
    assert (
        store.record_status_change("N1", "İptal", source="action", actor="ayse")
        is InvoiceStatus.CANCEL
    )
    assert len(store.invoice_history("N1")) == 1  # setting the same status again records nothing

    assert store.record_status_change("N9", 6, source="job", actor="bulk", job_id="j1") is None
    assert store.invoice_history("N9")["new_status_label"].tolist() == ["Deleted"]
    with pytest.raises(StoreError, match="source"):
        store.record_status_change("N1", 5, source="manual", actor="x")


# ---- queries ---------------------------------------------------------------------------------


def test_find_invoices_filters_and_open_invoices(store):
    store.upsert_invoices(
        [
            invoice("N1", status=0, amount=500, val_date="01.11.2026 10:00:00"),
            invoice("N2", status=0, amount=1500, val_date="02.11.2026 10:00:00"),
            invoice("N3", status=3, amount=2500, val_date="03.11.2026 10:00:00"),
            invoice(
                "N4", status=0, amount=900, subscription_id="S2", val_date="04.11.2026 10:00:00"
            ),
        ]
    )

    def found(**filters) -> list[str]:
        return store.find_invoices(**filters)["invoice_no"].tolist()

    assert found() == ["N4", "N3", "N2", "N1"]
    assert found(status=InvoiceStatus.WAITING, subscription_id="S1") == ["N2", "N1"]
    assert found(status=[0, 3], day_from="2026-11-02", day_to=date(2026, 11, 3)) == ["N3", "N2"]
    assert found(min_amount=900, max_amount=1500) == ["N4", "N2"]
    assert found(limit=1) == ["N4"]
    assert found(status=5) == [] and "amount_kurus" in store.find_invoices(status=5).columns
    assert store.open_invoices_of("S1") == ["N1", "N2"]


def test_search_subscriptions_ignores_case_and_turkish_accents(store):
    store.upsert_subscriptions(
        [
            Subscription(subscription_id="100200", reference_no="REF-77", name_surname="AYŞE IŞIK"),
            Subscription(subscription_id="100300", reference_no="X-1", name_surname="Mehmet Öz"),
        ]
    )
    assert store.search_subscriptions("ayse isik")["subscription_id"].tolist() == ["100200"]
    assert store.search_subscriptions("Işık")["subscription_id"].tolist() == ["100200"]
    assert store.search_subscriptions("ref-7")["subscription_id"].tolist() == ["100200"]
    assert store.search_subscriptions("1003")["subscription_id"].tolist() == ["100300"]
    assert store.search_subscriptions("100", limit=1)["subscription_id"].tolist() == ["100200"]
    assert store.search_subscriptions("50%").empty


# ---- views -----------------------------------------------------------------------------------


def test_outcomes_view_maps_every_paynet_status_and_payofin_status(store):
    store.upsert_subscriptions([Subscription(subscription_id="S1", agent_id="agent-7")])
    store.upsert_invoices([invoice(f"N{s.value}", status=s.value) for s in InvoiceStatus])
    store.upsert_payments(
        [
            Payment(1, 100, datetime(2026, 11, 23, 9, tzinfo=ISTANBUL), status="Paid"),
            Payment(2, 200, datetime(2026, 11, 23, 9, tzinfo=ISTANBUL), status="Cancelled"),
        ]
    )
    rows = store.db.conn.execute(
        "SELECT provider, record_id, outcome, status_label, fee_kurus, institution, agent_id, day "
        "FROM outcomes ORDER BY provider, record_id"
    ).fetchall()
    assert rows == [
        ("paynet", "N0", "open", "Waiting", 0, None, "agent-7", "2026-11-23"),
        ("paynet", "N2", "paid", "External charged", 0, None, "agent-7", "2026-11-23"),
        ("paynet", "N3", "paid", "Done succeed", 0, None, "agent-7", "2026-11-23"),
        ("paynet", "N4", "failed", "Done unsucceed", 0, None, "agent-7", "2026-11-23"),
        ("paynet", "N5", "cancelled", "Cancel", 0, None, "agent-7", "2026-11-23"),
        ("paynet", "N6", "cancelled", "Deleted", 0, None, "agent-7", "2026-11-23"),
        ("payofin", "1", "paid", "Paid", 50, "İSKİ", None, "2026-11-23"),
        ("payofin", "2", "cancelled", "Cancelled", 50, "İSKİ", None, "2026-11-23"),
    ]


def test_daily_totals_sum_per_day_provider_and_outcome(store):
    store.upsert_invoices(
        [
            invoice("N1", status=3, amount=1000, val_date="01.11.2026 10:00:00"),
            invoice("N2", status=3, amount=2000, val_date="01.11.2026 23:59:59"),
            invoice("N3", status=5, amount=400, val_date="02.11.2026 00:00:00"),
        ]
    )
    store.upsert_payments(
        [
            Payment(1, 100, datetime(2026, 11, 1, 8, tzinfo=ISTANBUL), fee_kurus=10),
            Payment(2, 300, datetime(2026, 11, 1, 9, tzinfo=ISTANBUL), fee_kurus=20),
            Payment(
                3, 700, datetime(2026, 11, 2, 9, tzinfo=ISTANBUL), status="Cancelled", fee_kurus=0
            ),
        ]
    )
    rows = store.db.conn.execute(
        "SELECT * FROM daily_totals ORDER BY day, provider, outcome"
    ).fetchall()
    assert rows == [
        ("2026-11-01", "paynet", "paid", 2, 3000, 0),
        ("2026-11-01", "payofin", "paid", 2, 400, 30),
        ("2026-11-02", "paynet", "cancelled", 1, 400, 0),
        ("2026-11-02", "payofin", "cancelled", 1, 700, 0),
    ]


def test_daily_breakdown_splits_by_institution_type_and_agent(store):
    store.upsert_subscriptions([Subscription(subscription_id="S1", agent_id="A1")])
    store.upsert_invoices(
        [
            invoice("N1", status=3, amount=1000, subscription_id="S1"),
            invoice("N2", status=3, amount=500, subscription_id="S1"),
            invoice("N3", status=3, amount=700, subscription_id="S9"),
        ]
    )
    at = datetime(2026, 11, 23, 12, tzinfo=ISTANBUL)
    store.upsert_payments(
        [
            Payment(1, 100, at, institution="İSKİ", invoice_type="Su"),
            Payment(2, 200, at, institution="İSKİ", invoice_type="Su"),
            Payment(3, 400, at, institution="BEDAŞ", invoice_type="Elektrik", status="Cancelled"),
        ]
    )
    rows = store.db.conn.execute(
        "SELECT provider, outcome, institution, invoice_type, agent_id, count, amount_kurus, fee_kurus "
        "FROM daily_breakdown ORDER BY provider, outcome, institution, agent_id NULLS FIRST"
    ).fetchall()
    assert rows == [
        ("paynet", "paid", None, None, None, 1, 700, 0),
        ("paynet", "paid", None, None, "A1", 2, 1500, 0),
        ("payofin", "cancelled", "BEDAŞ", "Elektrik", None, 1, 400, 50),
        ("payofin", "paid", "İSKİ", "Su", None, 2, 300, 100),
    ]


def test_chart_aggregates_are_answered_from_covering_indexes(store):
    if store.dialect == "postgresql":
        pytest.skip("SQLite's query plans; PostgreSQL's planner chooses per table statistics")
    plans = {
        "SELECT paid_day, outcome, SUM(amount_kurus), SUM(fee_kurus) FROM bill_payments GROUP BY 1, 2": "idx_bill_payments_day_outcome",
        "SELECT val_day, outcome, SUM(amount_kurus) FROM invoices WHERE val_day >= '2026-01-01' GROUP BY 1, 2": "idx_invoices_day_outcome",
        "SELECT institution, COUNT(*), SUM(amount_kurus) FROM bill_payments GROUP BY 1": "idx_bill_payments_institution",
    }
    for sql, index in plans.items():
        plan = " ".join(row[3] for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert f"COVERING INDEX {index}" in plan, plan
    for view in ("daily_totals", "daily_breakdown"):  # both halves, and no sorting of rows
        plan = " ".join(
            row[3] for row in store.db.conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM {view}")
        )
        assert "COVERING INDEX idx_invoices_day_outcome" in plan, plan
        assert "COVERING INDEX idx_bill_payments_day_outcome" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


# ---- audit -----------------------------------------------------------------------------------


def test_audit_log_is_append_only_even_for_raw_sql(store):
    audit_id = store.audit(
        "ayse",
        "invoice_status_update",
        mode="sandbox",
        target_type="invoice",
        target_ids=["N1", "N2"],
        status_before=InvoiceStatus.WAITING,
        status_after=InvoiceStatus.CANCEL,
        provider_code=0,
        details={"reason": "müşteri isteği"},
    )
    if store.dialect == "postgresql":  # a raw connection of its own, past the store
        import psycopg

        with psycopg.connect(store.url, autocommit=True) as raw:
            for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
                with pytest.raises(psycopg.Error, match="audit_log is append-only"):
                    raw.execute(sql)
            with pytest.raises(psycopg.Error, match="audit_log is append-only"):
                raw.execute("TRUNCATE audit_log")
        assert store.audit_rows()["actor"].tolist() == ["ayse"]
        return
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="audit_log is append-only"):
        raw.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?", (audit_id,))
    with pytest.raises(sqlite3.DatabaseError, match="audit_log is append-only"):
        raw.execute("DELETE FROM audit_log")
    raw.close()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), store.transaction() as db:
        db.execute("DELETE FROM audit_log")
    row = store.audit_rows().iloc[0]
    assert (row["actor"], row["status_before"], row["status_after"]) == ("ayse", 0, 5)
    assert row["target_ids"] == '["N1", "N2"]' and "müşteri" in row["details"]


def test_audit_rows_filters(store):
    store.audit("ayse", "invoice_status_update", mode="sandbox", target_ids=["N1", "N2"])
    store.audit("mehmet", "create_invoice", mode="live", target_ids="N3", job_id="j1")
    store.audit("ayse", "create_invoice", mode="sandbox", target_ids=[])
    assert store.audit_rows()["id"].tolist() == [3, 2, 1]
    assert store.audit_rows(actor="ayse")["id"].tolist() == [3, 1]
    assert store.audit_rows(target_id="N2")["id"].tolist() == [1]
    assert store.audit_rows(job_id="j1", mode="live")["id"].tolist() == [2]
    assert store.audit_rows(action="create_invoice", limit=1)["id"].tolist() == [3]
    assert len(store.audit_rows(since=date(2026, 11, 23), until=date(2026, 11, 23))) == 3
    assert store.audit_rows(since=date(2026, 11, 24)).empty
    first_at = datetime.fromisoformat(store.audit_rows()["at"].iloc[-1])
    assert store.audit_rows(until=first_at)["id"].tolist() == [1]


def test_audit_refuses_secrets_and_unknown_modes(store):
    with pytest.raises(StoreError, match="credentials"):
        store.audit("ayse", "x", mode="sandbox", details={"headers": {"Secret-Key": "sck_123"}})
    with pytest.raises(StoreError, match="mode"):
        store.audit("ayse", "x", mode="prod")


# ---- sync bookkeeping ------------------------------------------------------------------------


def test_sync_state_and_failed_windows(store):
    assert store.last_sync_time() is None
    store.save_sync_state("payofin", "payments", last_synced_day=date(2026, 11, 15))
    store.save_sync_state(
        "payofin", "payments", last_synced_day=date(2026, 11, 20), error="timeout"
    )
    state = store.sync_state("payofin", "payments")
    assert state["last_synced_day"] == "2026-11-15" and state["last_error"] == "timeout"
    assert state["last_run_at"] > state["last_success_at"]
    assert store.last_sync_time("payofin") == datetime.fromisoformat(state["last_success_at"])
    assert store.last_sync_time("paynet") is None

    store.record_sync_window(
        "payofin", date(2026, 11, 1), date(2026, 11, 15), scope="payments", error="HTTP 500"
    )
    store.record_sync_window("payofin", date(2026, 11, 15), date(2026, 11, 20), scope="payments")
    assert store.failed_sync_windows("payofin", "payments") == [
        (date(2026, 11, 1), date(2026, 11, 15))
    ]
    store.record_sync_window("payofin", "2026-11-01", "2026-11-15", scope="payments")
    assert store.failed_sync_windows("payofin", "payments") == []
    attempts = store.query("SELECT attempts FROM sync_windows WHERE first_day = '2026-11-01'")
    assert attempts.iloc[0, 0] == 2


# ---- job journal -----------------------------------------------------------------------------


def progress(**counts: int) -> dict[str, int]:
    return {"total": 0, "pending": 0, "sending": 0, "done": 0, "failed": 0, "skipped": 0} | counts


def make_job(store: Store, n: int = 5) -> str:
    items = [
        JobItem("invoice_status_update", f"N{i}", {"status": 5}, source_row=i + 2) for i in range(n)
    ]
    return store.create_job(
        "set_status",
        items,
        created_by="ayse",
        mode="sandbox",
        source_name="cancel.xlsx",
        options={"rate": 5},
    )


def test_create_job_writes_job_and_pending_items(store):
    job_id = make_job(store)
    job = store.job(job_id)
    assert (job["state"], job["total"], job["options"], job["source_name"]) == (
        "pending",
        5,
        {"rate": 5},
        "cancel.xlsx",
    )
    items = store.job_items(job_id)
    assert items["seq"].tolist() == [1, 2, 3, 4, 5]
    assert set(items["state"]) == {"pending"} and items["source_row"].tolist() == [2, 3, 4, 5, 6]
    assert store.job_progress(job_id) == progress(total=5, pending=5)
    assert store.jobs()["job_id"].tolist() == [job_id]


def test_create_job_refuses_secrets_unknown_operations_and_kinds(store):
    with pytest.raises(StoreError, match="credentials"):
        store.create_job(
            "set_status",
            [JobItem("invoice_status_update", "N1", {"secret_key": "x"})],
            created_by="a",
            mode="test",
        )
    with pytest.raises(StoreError, match="operation"):
        store.create_job(
            "set_status", [{"operation": "drop", "target_key": "N1"}], created_by="a", mode="test"
        )
    with pytest.raises(StoreError, match="kind"):
        store.create_job("delete_everything", [], created_by="a", mode="test")
    assert store.jobs().empty


def test_claim_and_finish_items(store):
    job_id = make_job(store)
    claimed = store.claim_items(job_id, 2)
    assert [(c["seq"], c["state"], c["attempts"], c["payload"]) for c in claimed] == [
        (1, "sending", 1, {"status": 5}),
        (2, "sending", 1, {"status": 5}),
    ]
    assert claimed[0]["started_at"] is not None
    store.finish_item(
        job_id, 1, "done", provider_code=0, message="successful", status_before=0, status_after=5
    )
    store.finish_item(job_id, 2, "failed", provider_code=12, message="nodata")
    assert store.job_progress(job_id) == progress(total=5, pending=3, done=1, failed=1)
    done = store.job_items(job_id, "done").iloc[0]
    assert (done["status_before"], done["status_after"], done["provider_code"]) == (0, 5, 0)
    assert done["finished_at"] >= done["started_at"]

    with pytest.raises(StoreError, match="already done"):
        store.finish_item(job_id, 1, "failed")
    with pytest.raises(StoreError, match="no item 99"):
        store.finish_item(job_id, 99, "done")
    with pytest.raises(StoreError, match="state"):
        store.finish_item(job_id, 3, "sending")
    store.finish_item(job_id, 3, "skipped", message="duplicate row")
    assert [c["seq"] for c in store.claim_items(job_id, 10)] == [4, 5]
    assert store.claim_items(job_id, 10) == []


def test_items_left_sending_by_a_crash_are_visible_and_can_be_requeued(store):
    job_id = make_job(store, 3)
    store.claim_items(job_id, 2)
    store.finish_item(job_id, 1, "done")
    assert [i["seq"] for i in store.items_in_state(job_id, "sending")] == [2]
    store.finish_item(job_id, 2, "pending")
    again = store.claim_items(job_id, 1)
    assert (again[0]["seq"], again[0]["attempts"]) == (2, 2)


def test_job_state_transitions_stamp_times_and_final_states_stick(store):
    job_id = make_job(store)
    store.set_job_state(job_id, "running", runner_pid=4242)
    started = store.job(job_id)["started_at"]
    store.set_job_state(job_id, "paused")
    store.set_job_state(job_id, "running")
    store.job_heartbeat(job_id)
    job = store.job(job_id)
    assert job["started_at"] == started and job["runner_pid"] == 4242 and job["finished_at"] is None
    assert job["heartbeat_at"] > started
    store.set_job_state(job_id, "cancelling")
    store.set_job_state(job_id, "cancelled")
    assert store.job(job_id)["finished_at"] is not None
    with pytest.raises(StoreError, match="already cancelled"):
        store.set_job_state(job_id, "running")
    with pytest.raises(StoreError, match="state"):
        store.set_job_state(job_id, "exploded")
    with pytest.raises(StoreError, match="no job"):
        store.set_job_state("nope", "running")


def test_job_items_need_their_job(store):
    refused = (sqlite3.IntegrityError, psycopg.errors.ForeignKeyViolation)
    with pytest.raises(refused, match="FOREIGN KEY|foreign key"), store.transaction() as db:
        db.conn.execute(
            "INSERT INTO job_items (job_id, seq, operation, target_key) "
            "VALUES ('ghost', 1, 'create_invoice', 'N1')"
        )


def test_transaction_rolls_back_everything_on_error(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.audit("ayse", "x", mode="sandbox")
        store.upsert_invoices([invoice("N1")])
        raise RuntimeError("boom")
    assert store.audit_rows().empty and store.get_invoice("N1") is None


def test_invoices_carry_their_subscriptions_agent_whatever_arrives_first(store):
    store.upsert_invoices([invoice("N1", subscription_id="S1")])
    assert store.get_invoice("N1")["agent_id"] is None
    store.upsert_subscriptions([Subscription(subscription_id="S1", agent_id="A1")])
    assert store.get_invoice("N1")["agent_id"] == "A1"
    store.upsert_invoices([invoice("N2", subscription_id="S1")])
    assert store.get_invoice("N2")["agent_id"] == "A1"
    assert store.upsert_invoices([invoice("N1", subscription_id="S1")]) == UpsertResult(unchanged=1)
    store.upsert_subscriptions([Subscription(subscription_id="S1", agent_id="A2")])
    agents = store.db.conn.execute(
        "SELECT DISTINCT agent_id FROM outcomes WHERE provider = 'paynet'"
    )
    assert agents.fetchall() == [("A2",)]


def bill_payment(payment_id: int, **changes):
    """A Payofin ``BillPayment`` as a parsed reply holds it."""
    from paynet_core.payofin.models import BillPayment

    fields = dict(
        invoice_payment_id=payment_id,
        invoice_type="Su Faturası",
        institution="İSKİ",
        subscriber_no="01345677000",
        customer_name="DE*** ÖZ****",
        invoice_no="0000000",
        due_date=date(2022, 5, 10),
        amount_kurus=100,
        fee_kurus=50,
        paid_at=datetime(2022, 5, 10, tzinfo=ISTANBUL),
        status="Paid",
    )
    return BillPayment(**(fields | changes))


def test_payofin_bill_payment_objects_fit_the_store(store):
    payment = bill_payment(1786)
    assert store.upsert_payments([payment]) == UpsertResult(new=1)
    row = store.get_payment(1786)
    assert (row["paid_day"], row["outcome"], row["fee_kurus"]) == ("2022-05-10", "paid", 50)


def test_a_batch_skips_its_lookups_only_when_no_cached_key_lies_among_its_keys(store):
    """One probe for "nothing cached between the batch's smallest and largest key" replaces
    the lookups of a first sync; a batch around or over cached keys must still find them."""
    store.upsert_invoices([invoice("N2"), invoice("N5", status=3)])
    paid = datetime(2026, 5, 10, 14, 0, tzinfo=ISTANBUL)
    store.upsert_payments([Payment(20, 100, paid), Payment(50, 100, paid)])

    # Around a cached key, not on it: both new, the cached one untouched.
    assert store.upsert_invoices([invoice("N1"), invoice("N3")]) == UpsertResult(new=2)
    assert store.upsert_payments([Payment(10, 1, paid), Payment(30, 1, paid)]) == UpsertResult(
        new=2
    )
    # Beyond every cached key: new, and found again the next time.
    assert store.upsert_invoices([invoice("N8"), invoice("N9")]) == UpsertResult(new=2)
    assert store.upsert_invoices([invoice("N8"), invoice("N9")]) == UpsertResult(unchanged=2)
    # Spanning cached keys with changes among them: the changes are seen, history kept.
    result = store.upsert_invoices([invoice("N0"), invoice("N5", status=4), invoice("N7")])
    assert result == UpsertResult(new=2, changed=1)
    assert store.invoice_history("N5")["new_status_label"].tolist() == ["Done unsucceed"]
    cancelled = Payment(50, 100, paid, status="Cancelled")
    assert store.upsert_payments([Payment(40, 1, paid), cancelled]) == UpsertResult(
        new=1, changed=1
    )
    assert store.get_payment(50)["status"] == "Cancelled"
    assert store.query("SELECT COUNT(*) AS n FROM invoices")["n"].tolist() == [8]
    assert store.rollup_differences() == []


def test_a_payment_is_cached_the_same_by_the_fast_path_and_the_checked_one(store):
    """A parsed reply takes an inline-checked fast path; anything else (a UTC time, text
    dates and ids, an empty name) the full checks. Both must store the same values."""
    fast = bill_payment(1, paid_at=datetime(2022, 5, 10, 23, 30, tzinfo=ISTANBUL))
    checked = asdict(fast) | {
        "invoice_payment_id": "2",
        "due_date": "2022-05-10",
        "paid_at": datetime(2022, 5, 10, 20, 30, tzinfo=UTC),  # the same instant
    }
    assert store.upsert_payments([fast, checked]) == UpsertResult(new=2)
    one, two = store.get_payment(1), store.get_payment(2)
    assert one.pop("invoice_payment_id") == 1 and two.pop("invoice_payment_id") == 2
    assert one == two
    assert (one["paid_at"], one["paid_day"]) == ("2022-05-10T23:30:00+03:00", "2022-05-10")
    # The same payment seen again by either path is unchanged, so nothing is written.
    assert store.upsert_payments([checked, fast]) == UpsertResult(unchanged=2)

    for field, bad, message in [
        ("amount_kurus", -1, "amount_kurus"),
        ("fee_kurus", True, "fee_kurus"),
        ("invoice_payment_id", 3.0, "invoice_payment_id"),
        ("status", "", "no status"),
    ]:
        with pytest.raises(StoreError, match=message):
            store.upsert_payments([replace(fast, **{field: bad})])
