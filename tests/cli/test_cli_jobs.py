import os

import pytest
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.importing import read_invoice_rows, read_status_rows
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.runtime import open_runtime
from paynet_core.sandbox import open_sandbox

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(cache_target):
    """Every command here runs on a SQLite cache and on a PostgreSQL one."""
    return cache_target


@pytest.fixture
def cli_sandbox():
    """The sandbox the CLI talks to (its process-wide one at PAYNET_OPS_SANDBOX_DB)."""
    return open_sandbox(os.environ["PAYNET_OPS_SANDBOX_DB"])


@pytest.fixture
def sub(cli_sandbox) -> str:
    return cli_sandbox.add_subscription(amount=1000).subscription_id


def invoices(cli_sandbox, sub: str, n: int) -> list[str]:
    return [cli_sandbox.add_invoice(subscription_id=sub, amount=1500).invoice_no for _ in range(n)]


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def cli_store():
    return open_runtime().store


def test_dry_run_prints_row_errors_and_the_plan_and_sends_nothing(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 2)
    path = write(tmp_path, "s.csv", f"fatura_no;durum\n{nos[0]};5\n{nos[1]};sideways\n;5\n")
    result = cli("invoices", "set-status", path, "--dry-run")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "2 invalid rows" in out and "sideways" in out and "invoice_no" in out
    assert "3 rows read: 1 valid, 2 invalid" in out
    assert "1 calls to Paynet" in out and "Dry run" in out
    assert cli_store().jobs().empty
    assert cli_sandbox.get_invoice(nos[0]).status == InvoiceStatus.WAITING


def test_a_clean_dry_run_exits_zero(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 2)
    path = write(tmp_path, "s.csv", f"fatura_no;durum\n{nos[0]};5\n{nos[1]};İptal\n")
    assert cli("invoices", "set-status", path, "--dry-run").exit_code == 0


def test_yes_runs_the_job_with_a_summary(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 4)
    path = write(tmp_path, "s.csv", "fatura_no;durum\n" + "".join(f"{no};3\n" for no in nos))
    result = cli("invoices", "set-status", path, "--yes", "--concurrency", 2, "--rate", 0)
    assert result.exit_code == 0, result.output
    assert all(cli_sandbox.get_invoice(no).status == InvoiceStatus.DONE_SUCCEED for no in nos)
    job = cli_store().jobs().iloc[0]
    assert job["state"] == "done" and job["created_by"].startswith("cli")
    assert job["job_id"] in result.output


def test_without_yes_it_asks_and_a_no_sends_nothing(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 2)
    path = write(tmp_path, "s.csv", "fatura_no;durum\n" + "".join(f"{no};5\n" for no in nos))
    refused = cli("invoices", "set-status", path, input="n\n")
    assert refused.exit_code == 2 and "Not confirmed" in refused.output
    assert cli_store().jobs().empty
    accepted = cli("invoices", "set-status", path, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert all(cli_sandbox.get_invoice(no).status == InvoiceStatus.CANCEL for no in nos)


def test_live_asks_for_the_typed_invoice_count(tmp_path, monkeypatch, cli_sandbox, sub):
    monkeypatch.setenv("PAYNET_OPS_MODE", "live")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_live_never_used_0000")
    path = write(tmp_path, "s.csv", "fatura_no;durum\nA1;5\nA2;5\n")
    result = cli("invoices", "set-status", path, input="y\n")
    assert result.exit_code == 2
    assert "Type the number of invoices (2)" in result.output and "Not confirmed" in result.output
    assert cli_store().jobs().empty


def test_failed_and_invalid_rows_exit_one_and_export_for_a_fixed_upload(tmp_path, cli_sandbox, sub):
    text = (
        "abonelik_no;tutar;tarih\n"
        f"{sub};10,00;15.01.2027\n"
        "NO-SUCH-SUB;20,00;15.01.2027\n"  # valid here, refused by Paynet
        f"{sub};abc;15.01.2027\n"  # invalid: never sent
    )
    result = cli("invoices", "create", write(tmp_path, "new.csv", text), "--yes", "--rate", 0)
    assert result.exit_code == 1, result.output
    assert "1 invalid rows were not sent" in result.output
    job_id = cli_store().jobs().iloc[0]["job_id"]
    assert "jobs export" in result.output

    out = tmp_path / "failed.csv"
    exported = cli("jobs", "export", job_id, "--failed", "--out", out, "--csv-form", "tr")
    assert exported.exit_code == 0, exported.output
    back = read_invoice_rows(out.read_bytes(), out.name)
    assert back.total_rows == 2
    assert [r.row for r in back.rows] == [2]  # the provider-refused row re-imports as valid...
    assert back.rows[0].subscription_id == "NO-SUCH-SUB" and back.rows[0].invoice_no.startswith(
        "PO"
    )
    assert [e.field for e in back.errors] == ["amount"]  # ...the invalid one still needs a fix
    failed_no = back.rows[0].invoice_no

    fixed = (
        out.read_text(encoding="utf-8-sig").replace("NO-SUCH-SUB", sub).replace(";abc;", ";30,00;")
    )
    again = cli("invoices", "create", write(tmp_path, "fixed.csv", fixed), "--yes", "--rate", 0)
    assert again.exit_code == 0, again.output
    amounts = sorted(i.amount for i in cli_sandbox.invoices(subscription_id=sub))
    assert amounts == [1000, 2000, 3000]
    assert cli_sandbox.get_invoice(failed_no) is not None  # the same invoice number, kept


def test_status_failures_export_round_trips(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 3)
    cli_sandbox.set_invoice_status(nos[0], InvoiceStatus.DELETED)
    path = write(tmp_path, "s.csv", "fatura_no;durum\n" + "".join(f"{no};Cancel\n" for no in nos))
    assert cli("invoices", "set-status", path, "--yes", "--rate", 0).exit_code == 1
    job_id = cli_store().jobs().iloc[0]["job_id"]
    exported = cli("jobs", "export", job_id, "--failed")
    assert exported.exit_code == 0
    back = read_status_rows(exported.stdout_bytes, "failed.csv")
    assert [(r.invoice_no, r.status) for r in back.rows] == [(nos[0], InvoiceStatus.CANCEL)]
    assert "error" in exported.stdout.splitlines()[0]


def test_jobs_list_show_and_the_first_batch_review(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 5)
    path = write(tmp_path, "s.csv", "fatura_no;durum\n" + "".join(f"{no};3\n" for no in nos))
    first = cli("invoices", "set-status", path, "--yes", "--first-batch", 2, "--rate", 0)
    assert first.exit_code == 3, first.output
    assert "paused" in first.output and "jobs resume" in first.output
    job_id = cli_store().jobs().iloc[0]["job_id"]
    listed = cli("jobs", "list")
    assert listed.exit_code == 0 and job_id in listed.output and "paused" in listed.output
    shown = cli("jobs", "show", job_id)
    assert shown.exit_code == 0 and "first batch 2" in shown.output and "s.csv" in shown.output
    resumed = cli("jobs", "resume", job_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert all(cli_sandbox.get_invoice(no).status == InvoiceStatus.DONE_SUCCEED for no in nos)


def test_jobs_cancel_and_unknown_jobs(tmp_path, cli_sandbox, sub):
    nos = invoices(cli_sandbox, sub, 4)
    path = write(tmp_path, "s.csv", "fatura_no;durum\n" + "".join(f"{no};3\n" for no in nos))
    cli("invoices", "set-status", path, "--yes", "--first-batch", 1, "--rate", 0)
    job_id = cli_store().jobs().iloc[0]["job_id"]
    cancelled = cli("jobs", "cancel", job_id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    assert cli_store().job_progress(job_id)["skipped"] == 3
    assert cli("jobs", "resume", job_id, "--yes").exit_code == 2
    assert cli("jobs", "show", "nope").exit_code == 2
    assert cli("jobs", "export", job_id).exit_code == 0


def test_an_unreadable_file_exits_two(tmp_path):
    result = cli("invoices", "create", tmp_path / "missing.csv", "--dry-run")
    assert result.exit_code == 2 and "Cannot read" in result.output
