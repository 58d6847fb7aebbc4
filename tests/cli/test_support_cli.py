import hashlib
import sqlite3
from datetime import date, datetime

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from demo_files import copy_synced_demo
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.cli.support import run_read_only_sql
from paynet_core.dates import ISTANBUL
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.reports import ChartFilters, outcome_series
from paynet_core.reports.exports import export_frame
from paynet_core.runtime import prepare_demo
from paynet_core.store import ReadOnlyGuard, SqlRefused, Store

FROM, TO = "01.08.2026", "2026-11-30"
EVIL = {9001: '=HYPERLINK("http://x")', 9002: "+90 555", 9003: "-2+3", 9004: "@SUM(A1)"}


@pytest.fixture
def runtime(tmp_path_factory, cache_target):
    copy_synced_demo(tmp_path_factory)
    rt = prepare_demo()
    rt.store.upsert_payments(
        {
            "invoice_payment_id": pid,
            "invoice_type": "Su Faturası",
            "institution": "İSKİ",
            "subscriber_no": "=1+1",
            "customer_name": name,
            "invoice_no": f"B{pid}",
            "due_date": date(2026, 11, 30),
            "amount_kurus": 123456,
            "fee_kurus": 50,
            "paid_at": datetime(2026, 11, 20, 9, 30, tzinfo=ISTANBUL),
            "status": "Paid",
        }
        for pid, name in EVIL.items()
    )
    yield rt
    rt.store.close()


@pytest.fixture
def cli():
    return CliRunner()


def export(cli, tmp_path, what, fmt, *extra):
    out = tmp_path / f"{what}.{fmt}"
    result = cli.invoke(
        app,
        ["export", what, "--from", FROM, "--to", TO, "--format", fmt, "--out", str(out), *extra],
    )
    assert result.exit_code == 0, result.output
    return out


# -- export ------------------------------------------------------------------------------------


def test_csv_export_reads_back_with_pandas_with_integer_kurus_and_dates(runtime, cli, tmp_path):
    out = export(cli, tmp_path, "payments", "csv")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out, sep=",", encoding="utf-8-sig", dtype={"subscriber_no": str})
    assert df["amount_kurus"].dtype == "int64" and df["fee_kurus"].dtype == "int64"
    days = pd.to_datetime(df["paid_day"], format="%d.%m.%Y")
    assert days.min() >= pd.Timestamp("2026-08-01") and days.max() <= pd.Timestamp("2026-11-30")
    evil = df[df["invoice_payment_id"] == 9001].iloc[0]
    assert evil["amount_tl"] == "1.234,56 ₺" and evil["amount_kurus"] == 123456
    expected = export_frame(runtime.store, "payments", ChartFilters(day_from=FROM, day_to=TO))
    assert len(df) == len(expected) and df["amount_kurus"].sum() == expected["amount_kurus"].sum()


def test_xlsx_export_has_integer_kurus_and_real_dates(runtime, cli, tmp_path):
    out = export(cli, tmp_path, "invoices", "xlsx")
    ws = openpyxl.load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert isinstance(first["amount_kurus"], int)
    assert isinstance(first["val_day"], datetime)  # openpyxl reads dates as datetimes
    assert ws.cell(row=2, column=header.index("val_day") + 1).is_date
    assert first["amount_tl"].endswith(" ₺")
    assert len(rows) - 1 == len(
        export_frame(runtime.store, "invoices", ChartFilters(day_from=FROM, day_to=TO))
    )


def test_parquet_export_has_int64_kurus_date32_days_and_aware_timestamps(runtime, cli, tmp_path):
    out = export(cli, tmp_path, "outcomes", "parquet")
    table = pq.read_table(out)
    schema = table.schema
    assert schema.field("amount_kurus").type == pa.int64()
    assert schema.field("fee_kurus").type == pa.int64()
    assert schema.field("day").type == pa.date32()
    assert schema.field("occurred_at").type == pa.timestamp("us", tz="Europe/Istanbul")
    assert schema.field("amount_tl").type == pa.string()
    df = table.to_pandas()
    assert set(df["provider"]) == {"paynet", "payofin"}
    assert isinstance(df["day"].iloc[0], date)
    # the same records as the dashboard's chart for the same filters
    series = outcome_series(runtime.store, filters=ChartFilters(day_from=FROM, day_to=TO))
    assert len(df) == int(series["count"].sum())


def test_formula_cells_are_neutralised_in_csv_and_xlsx_and_kept_exact_in_parquet(
    runtime, cli, tmp_path
):
    csv_df = pd.read_csv(
        export(cli, tmp_path, "payments", "csv"), sep=",", encoding="utf-8-sig", dtype=str
    ).set_index("invoice_payment_id")
    ws = openpyxl.load_workbook(export(cli, tmp_path, "payments", "xlsx")).active
    rows = list(ws.iter_rows(values_only=True))
    xlsx = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    parquet = pq.read_table(export(cli, tmp_path, "payments", "parquet")).to_pandas()
    parquet = parquet.set_index("invoice_payment_id")
    for pid, name in EVIL.items():
        assert csv_df.loc[str(pid), "customer_name_masked"] == "'" + name
        assert csv_df.loc[str(pid), "subscriber_no"] == "'=1+1"
        assert xlsx[pid]["customer_name_masked"] == "'" + name
        assert parquet.loc[pid, "customer_name_masked"] == name
    formulas = [c for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


def test_export_filters_are_the_charts_filters(runtime, cli, tmp_path):
    out = export(
        cli, tmp_path, "outcomes", "parquet", "--institution", "İSKİ", "--provider", "payofin"
    )
    df = pq.read_table(out).to_pandas()
    assert set(df["provider"]) == {"payofin"} and set(df["institution"]) == {"İSKİ"}
    out = export(cli, tmp_path, "invoices", "csv", "--institution", "İSKİ")
    assert len(pd.read_csv(out, sep=",", encoding="utf-8-sig")) == 0  # institutions are Payofin's


def test_export_refuses_a_bad_day_with_exit_2(runtime, cli, tmp_path):
    result = cli.invoke(app, ["export", "payments", "--from", "31.02.2026", "--to", TO])
    assert result.exit_code == 2
    result = cli.invoke(app, ["export", "payments", "--from", TO, "--to", FROM])
    assert result.exit_code == 2


# -- lookup ------------------------------------------------------------------------------------


def waiting_invoice(store):
    return store.query("SELECT invoice_no FROM invoices WHERE status = 0 LIMIT 1").iloc[0, 0]


def test_lookup_invoice_from_cache_then_refresh_from_the_sandbox(runtime, cli):
    number = waiting_invoice(runtime.store)
    with runtime.paynet() as paynet:  # changed at Paynet only; the cache does not know yet
        paynet.update_invoice_status(invoice_no=number, status=InvoiceStatus.CANCEL)

    cached = cli.invoke(app, ["lookup", "invoice", number])
    assert cached.exit_code == 0, cached.output
    assert (
        number in cached.output and "Waiting" in cached.output and "from the cache" in cached.output
    )

    fresh = cli.invoke(app, ["lookup", "invoice", number, "--refresh"])
    assert fresh.exit_code == 0, fresh.output
    assert "Cancel" in fresh.output and "Status history" in fresh.output
    assert runtime.store.get_invoice(invoice_no=number)["status"] == InvoiceStatus.CANCEL


def test_lookup_unknown_invoice_exits_1(runtime, cli):
    result = cli.invoke(app, ["lookup", "invoice", "NOPE-1"])
    assert result.exit_code == 1 and "not in the cache" in result.output


def test_lookup_payment_from_cache_then_refresh_from_the_sandbox(runtime, cli):
    pid = int(
        runtime.store.query(
            "SELECT invoice_payment_id FROM bill_payments WHERE status = 'Paid' AND invoice_payment_id < 9000 LIMIT 1"
        ).iloc[0, 0]
    )
    with runtime.store.transaction() as db:  # the cache goes stale: it thinks it was cancelled
        db.conn.execute(
            "UPDATE bill_payments SET status = 'Cancelled', outcome = 'cancelled' WHERE invoice_payment_id = ?",
            (pid,),
        )
    cached = cli.invoke(app, ["lookup", "payment", str(pid)])
    assert cached.exit_code == 0, cached.output
    assert "Cancelled" in cached.output and "from the cache" in cached.output

    fresh = cli.invoke(app, ["lookup", "payment", str(pid), "--refresh"])
    assert fresh.exit_code == 0, fresh.output
    assert "from Payofin (sandbox)" in fresh.output and "Status history" in fresh.output
    assert runtime.store.get_payment(pid)["status"] == "Paid"


# -- sql ---------------------------------------------------------------------------------------


def db_fingerprint(path):
    if "://" in str(path):  # PostgreSQL: every table's content digest
        from paynet_core.store.copying import TABLE_KEYS, digest

        with Store.open(path) as store:
            return [digest(store, table) for table in TABLE_KEYS]
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    return hashlib.sha256(dump.encode()).hexdigest()


def test_sql_select_prints_a_table_and_writes_csv(runtime, cli, tmp_path):
    result = cli.invoke(app, ["sql", "SELECT status, COUNT(*) AS n FROM invoices GROUP BY status"])
    assert result.exit_code == 0, result.output
    assert "6 rows" in result.output
    out = tmp_path / "q.csv"
    result = cli.invoke(
        app,
        [
            "sql",
            "SELECT invoice_payment_id, customer_name_masked FROM bill_payments WHERE invoice_payment_id > 9000",
            "--csv",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, sep=",", encoding="utf-8-sig")
    assert df["customer_name_masked"].str.startswith("'").all()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO invoice_statuses VALUES (9, 'x', 'y', 'open')",
        "UPDATE invoices SET amount_kurus = 1",
        "DELETE FROM bill_payments",
        "DROP TABLE invoices",
        "ATTACH DATABASE '{new}' AS other",
        "WITH x AS (SELECT 1) DELETE FROM invoices",
        "PRAGMA query_only = OFF",
        "VACUUM INTO '{new}'",
        "CREATE TABLE t (x)",
    ],
)
def test_sql_refuses_writes_with_exit_2_and_leaves_the_db_unchanged(
    runtime, cli, tmp_path, statement
):
    path = runtime.settings.cache_target
    if runtime.store.dialect == "postgresql" and statement.split()[0] in (
        "ATTACH",
        "PRAGMA",
        "VACUUM",
    ):
        pytest.skip("SQLite's own statements")
    runtime.store.close()
    before = db_fingerprint(path)
    new = tmp_path / "created.db"
    result = cli.invoke(app, ["sql", statement.format(new=new)])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output
    assert db_fingerprint(path) == before
    assert not new.exists()


def test_the_authorizer_refuses_attach_and_vacuum_into_before_a_file_is_created(runtime, tmp_path):
    if runtime.store.dialect == "postgresql":
        pytest.skip("SQLite's authorizer (PostgreSQL: tests/store/test_postgres_backend.py)")
    new = tmp_path / "created.db"
    with Store.read_only(runtime.settings.db_path) as store:
        conn = store.db.conn
        for statement in (f"ATTACH DATABASE '{new}' AS other", f"VACUUM INTO '{new}'"):
            guard = ReadOnlyGuard()
            conn.set_authorizer(guard)
            with pytest.raises(sqlite3.DatabaseError, match="not authorized|authorization denied"):
                conn.execute(statement)
            assert guard.denied == "ATTACH"
        conn.set_authorizer(None)
        with pytest.raises(SqlRefused, match="would DELETE"):
            run_read_only_sql(store, "WITH x AS (SELECT 1) DELETE FROM invoices")
    assert not new.exists()


def test_sql_reads_through_the_guard(runtime):
    if runtime.store.dialect == "postgresql":
        pytest.skip(
            "SQLite's authorizer and PRAGMA (PostgreSQL: tests/store/test_postgres_backend.py)"
        )
    store = Store.read_only(runtime.settings.db_path)
    df = run_read_only_sql(store, "WITH t AS (SELECT COUNT(*) AS n FROM outcomes) SELECT n FROM t")
    assert int(df.iloc[0, 0]) > 0
    assert not run_read_only_sql(store, "PRAGMA table_info(invoices)").empty
    store.close()
