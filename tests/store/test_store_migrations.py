import sqlite3

import pytest

from paynet_core.errors import StoreError
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.store import LATEST_VERSION, MIGRATIONS, Store


def schema_of(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()


def fill_version_1(store: Store) -> None:
    """Rows in every version-1 table, written with plain SQL as an old release would."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO invoices (invoice_no, subscription_id, amount_kurus, val_date, val_day, "
            "status, status_label, outcome, created_at, updated_at) VALUES ('N1', 'S1', 1500, "
            "'2026-01-02T10:00:00+03:00', '2026-01-02', 3, 'Done succeed', 'paid', "
            "'2026-01-02T10:00:00+03:00', '2026-01-02T10:00:00+03:00')"
        )
        db.execute(  # after the invoice: its trigger copies the agent onto the invoice
            "INSERT INTO subscriptions (subscription_id, agent_id, synced_at) "
            "VALUES ('S1', 'A1', '2026-01-01T10:00:00+03:00')"
        )
        db.execute(
            "INSERT INTO bill_payments (invoice_payment_id, institution, amount_kurus, fee_kurus, "
            "paid_at, paid_day, status, outcome, synced_at, first_seen_at) VALUES (7, 'İSKİ', "
            "100, 50, '2026-01-03T00:00:00+03:00', '2026-01-03', 'Cancelled', 'cancelled', "
            "'2026-01-03T00:00:00+03:00', '2026-01-03T00:00:00+03:00')"
        )
        db.execute(
            "INSERT INTO audit_log (at, actor, mode, action) "
            "VALUES ('2026-01-03T00:00:00+03:00', 'ayse', 'sandbox', 'status_update')"
        )


def test_migrates_an_empty_file_to_the_latest_version(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    assert store.schema_version() == LATEST_VERSION
    applied = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied["version"].tolist() == [m.version for m in MIGRATIONS]
    assert len(MIGRATIONS) >= 2


def test_migrate_twice_is_a_no_op(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    before = schema_of(tmp_path / "cache.db")
    assert store.migrate() == []
    assert Store.open(tmp_path / "cache.db").migrate() == []
    assert schema_of(tmp_path / "cache.db") == before


@pytest.mark.parametrize("start", range(1, LATEST_VERSION))
def test_migrates_from_each_earlier_version_keeping_rows(tmp_path, start):
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    old = Store.open(tmp_path / "old.db", migrate=False)
    assert old.migrate(to=start) == list(range(1, start + 1))
    assert old.schema_version() == start
    fill_version_1(old)

    assert old.migrate() == list(range(start + 1, LATEST_VERSION + 1))

    assert old.schema_version() == LATEST_VERSION
    assert schema_of(tmp_path / "old.db") == schema_of(fresh)
    assert old.get_invoice("N1")["amount_kurus"] == 1500
    assert old.get_payment(7)["status"] == "Cancelled"
    assert len(old.audit_rows()) == 1
    outcomes = old.db.conn.execute(
        "SELECT provider, record_id, outcome, agent_id FROM outcomes ORDER BY 1"
    ).fetchall()
    assert outcomes == [("paynet", "N1", "paid", "A1"), ("payofin", "7", "cancelled", None)]


def test_refuses_a_database_newer_than_the_code(tmp_path):
    path = tmp_path / "cache.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match=r"schema version \d+, newer than this paynet-ops"):
        Store.open(path)
    with pytest.raises(StoreError, match="newer than this paynet-ops"):
        Store.read_only(path)


def test_a_failed_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    import paynet_core.store.migrations as store_module

    broken = store_module.Migration(LATEST_VERSION + 1, "broken", ("CREATE TABLE x (a)", "NOT SQL"))
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(store_module, "LATEST_VERSION", LATEST_VERSION + 1)
    store = Store(tmp_path / "cache.db")
    with pytest.raises(sqlite3.OperationalError):
        store.migrate()
    assert store.schema_version() == LATEST_VERSION
    assert "x" not in store.db.table_names()


def test_status_lookup_table_matches_the_enum(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    rows = store.query("SELECT status, label, label_tr, outcome FROM invoice_statuses ORDER BY 1")
    assert rows.values.tolist() == [
        [s.value, s.label, s.label_tr, s.outcome.value] for s in InvoiceStatus
    ]


def test_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    conn = store.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_read_only_store_refuses_writes_even_raw_sql(tmp_path):
    Store.open(tmp_path / "cache.db").close()
    ro = Store.read_only(tmp_path / "cache.db")
    assert ro.query("SELECT COUNT(*) AS n FROM invoices")["n"][0] == 0
    assert ro.db.conn.execute("PRAGMA query_only").fetchone()[0] == 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.query("DELETE FROM invoices")
    with pytest.raises(StoreError, match="read-only"):
        ro.audit("ayse", "x", mode="sandbox")
    with pytest.raises(StoreError, match="no cache database"):
        Store.read_only(tmp_path / "missing.db")
