"""Issue 12, "The CLI" and "Actions without the role" (live confirmations).

Data was parsed as rich markup (a ``[/]`` ended in a MarkupError traceback) and terminal
escapes from provider data reached the terminal; ``sql`` had no time limit, ignored Ctrl+C and
loaded every row; ``--out`` overwrote anything, the cache included; ``--yes`` skipped LIVE's
typed count and first-batch review.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from datetime import date, datetime

import openpyxl
import pytest
from typer.testing import CliRunner

from paynet_core import jobs as engine
from paynet_core.cli import app
from paynet_core.cli.console import visible
from paynet_core.dates import ISTANBUL
from paynet_core.errors import JobError
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.runtime import open_runtime, prepare_demo

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "


@pytest.fixture
def runtime():
    rt = prepare_demo()
    rt.store.upsert_payments(
        [
            {
                "invoice_payment_id": 9100,
                "invoice_type": "Su [/] Faturası",
                "institution": f"İSKİ{OSC52}",
                "subscriber_no": "1",
                "customer_name": f"[bold]Ali[/] {OSC52}",
                "invoice_no": "B9100",
                "due_date": date(2026, 11, 30),
                "amount_kurus": 1000,
                "fee_kurus": 0,
                "paid_at": datetime(2026, 11, 20, 9, 30, tzinfo=ISTANBUL),
                "status": "Paid",
            }
        ]
    )
    yield rt
    rt.store.close()


def cli(*args, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.output


# -- markup and control characters ----------------------------------------------------------------


def test_visible_escapes_control_characters_and_bidi_overrides():
    assert visible(OSC52) == "\\x1b]52;c;ZWNobyBwd25lZA==\\x07"
    assert visible("a\tb\nc\x7f\x9b\u202e") == "a\tb\\x0ac\\x7f\\x9b\\u202e"
    assert visible("İSKİ 1.234,56 ₺ [/]") == "İSKİ 1.234,56 ₺ [/]"


def test_markup_in_a_sql_result_prints_as_typed(runtime):
    result = cli("sql", "SELECT '[/]' AS \"[bold]x[/]\", '[red]y' AS z")
    out = ok(result)
    assert result.exit_code == 0, out
    assert "[/]" in out and "[bold]x[/]" in out and "[red]y" in out


def test_osc52_in_provider_data_is_made_visible(runtime):
    for args in (
        ("lookup", "payment", 9100),
        ("sql", "SELECT institution FROM bill_payments WHERE invoice_payment_id = 9100"),
    ):
        result = cli(*args)
        out = ok(result)
        assert result.exit_code == 0, out
        assert "\x1b" not in out and "\x07" not in out
        assert "\\x1b]52" in out


def test_markup_in_a_csv_header_and_a_cell_prints_as_typed(runtime, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("abonelik_no;tutar;tarih;x[/]y\nS1;[/]10;15.01.2027;x\n", encoding="utf-8")
    result = cli("invoices", "create", path, "--dry-run")
    out = ok(result)
    assert result.exit_code == 1, out
    assert "'x[/]y'" in out  # the ignored header, in the plan's warnings
    assert "[/]10" in out  # the bad cell, in the row errors


def test_markup_in_an_out_path_prints_as_typed(runtime, tmp_path):
    out = tmp_path / "a[/]b.csv"
    result = cli("export", "payments", "--from", "01.11.2026", "--to", "30.11.2026", "--out", out)
    text = ok(result)
    assert result.exit_code == 0, text
    assert out.exists() and "a[/]b.csv" in text.replace("\n", "")


# -- sql: time limit, Ctrl+C, --limit -------------------------------------------------------------


def test_sql_timeout_ends_a_recursive_cte_within_the_limit(runtime):
    started = time.monotonic()
    result = cli("sql", FOREVER + "SELECT count(*) FROM c", "--timeout", "0.5")
    elapsed = time.monotonic() - started
    out = ok(result)
    assert result.exit_code == 2, out
    assert "time limit of 0.5 s" in out
    assert elapsed < 10, elapsed  # generous for a loaded machine; without a limit it never ends


def test_sql_has_a_default_time_limit():
    import inspect

    from paynet_core.cli.support import sql

    assert inspect.signature(sql).parameters["timeout"].default == 30.0


def test_sql_stops_on_ctrl_c(runtime):
    previous = signal.signal(
        signal.SIGINT, lambda *a: None
    )  # a missing handler must not kill pytest
    ours = signal.getsignal(signal.SIGINT)
    done = threading.Event()

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 10
        while (
            signal.getsignal(signal.SIGINT) is ours
            and not done.is_set()
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)  # polling for the command to install its handler
        if not done.wait(0.2):  # let the query get going
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        started = time.monotonic()
        result = cli("sql", FOREVER + "SELECT count(*) FROM c", "--timeout", "20")
        elapsed = time.monotonic() - started
    finally:
        done.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
    out = ok(result)
    assert result.exit_code == 130, out
    assert "Ctrl+C" in out
    assert elapsed < 15, elapsed


def test_sql_limit_streams_rows_and_never_reads_the_rest(runtime):
    started = time.monotonic()
    result = cli("sql", FOREVER + "SELECT x FROM c", "--limit", 5, "--timeout", 20)
    out = ok(result)
    assert result.exit_code == 0, out
    assert "first 5 rows shown" in out
    assert time.monotonic() - started < 15  # an endless result: only a streaming read ends


def test_sql_still_counts_small_results(runtime):
    result = cli("sql", "SELECT 1 UNION ALL SELECT 2")
    assert result.exit_code == 0 and "2 rows" in result.output


# -- --out ---------------------------------------------------------------------------------------

EXPORT = ("export", "payments", "--from", "01.11.2026", "--to", "30.11.2026")


def test_out_refuses_an_existing_file_unless_force(runtime, tmp_path):
    out = tmp_path / "mine.csv"
    out.write_text("precious", encoding="utf-8")
    refused = cli(*EXPORT, "--out", out)
    assert (
        refused.exit_code == 2
        and "already exists" in refused.output
        and "--force" in refused.output
    )
    assert out.read_text(encoding="utf-8") == "precious"
    forced = cli(*EXPORT, "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_text(encoding="utf-8-sig").startswith("invoice_payment_id")


def test_out_never_writes_over_the_cache_or_the_sandbox(runtime, tmp_path):
    db = runtime.settings.db_path
    sandbox = runtime.settings.sandbox_db_path
    link = tmp_path / "innocent.csv"
    link.symlink_to(db)
    before = db.read_bytes()
    for target in (db, db.with_name(db.name + "-wal"), sandbox, link):
        for args in (
            (*EXPORT, "--out", target, "--force"),
            ("sql", "SELECT 1", "--csv", target, "--force"),
        ):
            result = cli(*args)
            assert result.exit_code == 2, (target, result.output)
            assert "own database" in result.output
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_out_naming_a_directory_is_a_clear_error(runtime, tmp_path):
    result = cli(*EXPORT, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert "is a directory" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_out_with_a_name_the_file_system_refuses_is_a_clear_error(runtime, tmp_path):
    for args in ((*EXPORT, "--out"), ("sql", "SELECT 1", "--csv")):
        result = cli(*args, tmp_path / ("x" * 300 + ".csv"))
        assert result.exit_code == 2, result.output
        assert "cannot be used as a file name" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", ["a[1].xlsx", "b:c.xlsx", "what?.xlsx", "x*y.xlsx"])
def test_xlsx_names_excel_would_refuse_as_a_sheet_title_still_work(runtime, tmp_path, name):
    out = tmp_path / name
    result = cli(*EXPORT, "--format", "xlsx", "--out", out)
    assert result.exit_code == 0, (result.output, repr(result.exception))
    sheet = openpyxl.load_workbook(out).sheetnames[0]
    assert not set("[]:*?/\\") & set(sheet)


def test_jobs_export_and_sql_csv_refuse_an_existing_file(runtime, tmp_path):
    out = tmp_path / "taken.csv"
    out.write_text("precious", encoding="utf-8")
    sql = cli("sql", "SELECT 1", "--csv", out)
    assert sql.exit_code == 2 and "already exists" in sql.output
    jobs = cli("jobs", "export", "NOJOB", "--out", out)
    assert jobs.exit_code == 2 and "already exists" in jobs.output
    assert out.read_text(encoding="utf-8") == "precious"


# -- LIVE: --yes skips neither the typed count nor the first-batch review --------------------------


@pytest.fixture
def live(monkeypatch, tmp_path):
    monkeypatch.setenv("PAYNET_OPS_MODE", "live")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_live_never_used_0000")
    path = tmp_path / "s.csv"
    path.write_text("fatura_no;durum\nA1;5\nA2;5\n", encoding="utf-8")
    started: list[dict] = []

    def never_start(plan, **kwargs):  # nothing may reach live Paynet from a test
        started.append(kwargs)
        raise JobError("stopped by the test before anything was sent")

    monkeypatch.setattr(engine, "start_job", never_start)
    return path, started


def test_live_yes_does_not_skip_the_typed_count(live):
    path, started = live
    result = cli("invoices", "set-status", path, "--yes", input="\n")
    assert result.exit_code == 2, result.output
    assert "Type the number of invoices (2)" in result.output and "Not confirmed" in result.output
    assert started == []
    wrong = cli("invoices", "set-status", path, "--yes", "--confirm-count", 3)
    assert wrong.exit_code == 2 and "Not confirmed" in wrong.output and started == []


def test_live_confirm_count_matching_the_plan_starts_with_a_first_batch(live):
    path, started = live
    result = cli("invoices", "set-status", path, "--yes", "--confirm-count", 2)
    assert result.exit_code == 2 and "stopped by the test" in result.output
    assert (
        started
        and started[0]["confirmation"] == "2"
        and started[0]["first_batch"] == engine.LIVE_FIRST_BATCH
    )


def test_live_refuses_to_skip_the_first_batch(live):
    path, started = live
    result = cli("invoices", "set-status", path, "--confirm-count", 2, "--first-batch", 0)
    assert result.exit_code == 2 and "first batch" in result.output
    assert started == []


def test_a_live_job_always_gets_a_first_batch(tmp_path):
    rt = open_runtime()
    plan = plan_status_changes([("A1", InvoiceStatus.CANCEL)], store=rt.store)
    job_id = engine.start_job(
        plan, store=rt.store, mode="live", created_by="x", confirmation="1", first_batch=0
    )
    assert rt.store.job(job_id)["options"]["first_batch"] == engine.LIVE_FIRST_BATCH


def test_live_resume_yes_shows_the_review_and_needs_the_count(monkeypatch, tmp_path):
    rt = open_runtime()
    plan = plan_status_changes(
        [("A1", InvoiceStatus.CANCEL), ("A2", InvoiceStatus.CANCEL)], store=rt.store
    )
    job_id = engine.start_job(plan, store=rt.store, mode="live", created_by="x", confirmation="2")
    engine.pause_job(job_id, store=rt.store, actor="x")
    monkeypatch.setenv("PAYNET_OPS_MODE", "live")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_live_never_used_0000")
    resumed: list[str] = []

    def never_resume(job, **kwargs):
        resumed.append(job)
        raise JobError("stopped by the test before anything was sent")

    monkeypatch.setattr(engine, "resume_job", never_resume)
    refused = cli("jobs", "resume", job_id, "--yes", input="\n")
    assert refused.exit_code == 2, refused.output
    assert f"job {job_id}" in refused.output and "pending" in refused.output  # the review table
    assert "Type the number of items left (2)" in refused.output and resumed == []
    accepted = cli("jobs", "resume", job_id, "--yes", "--confirm-count", 2)
    assert "stopped by the test" in accepted.output and resumed == [job_id]
