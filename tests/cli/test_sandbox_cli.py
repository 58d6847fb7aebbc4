"""``paynet-ops sandbox seed | serve | log`` and the fault settings behind them."""

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.dates import ISTANBUL
from paynet_core.sandbox import (
    PAYNET_BASE_URL,
    FaultPlan,
    Sandbox,
    SandboxTransport,
    fault_plan_from_env,
    open_sandbox,
    parse_faults,
)
from paynet_core.sandbox.faults import fault_shares
from paynet_core.sandbox.log import parse_since

AUTH = {"Authorization": "Basic sck_test"}
STATE_TABLES = ("subscriptions", "invoices", "payofin_payments", "payofin_bills", "meta")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)

runner = CliRunner()


def cli(*args: str, db=None):
    env = {"PAYNET_OPS_SANDBOX_DB": str(db)} if db is not None else None
    return runner.invoke(app, ["sandbox", *args], env=env)


def digest(path) -> str:
    """One hash over every row of the state tables, in id order."""
    h = hashlib.sha256()
    with sqlite3.connect(path) as conn:
        for table in STATE_TABLES:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                h.update(repr((table, row)).encode())
    return h.hexdigest()


def counts(path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in STATE_TABLES}


# -- seed ------------------------------------------------------------------------------------


def test_seed_twice_into_two_fresh_files_gives_identical_data(tmp_path):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    for db in (first, second):
        result = cli("seed", "--invoices", "3000", "--seed", "7", db=db)
        assert result.exit_code == 0, result.output
        assert "3,000" in result.output and "300" in result.output
    assert counts(first)["invoices"] == 3000 and counts(first)["subscriptions"] == 300
    assert counts(first)["payofin_payments"] == 3000
    assert digest(first) == digest(second)

    other = tmp_path / "c.db"
    assert cli("seed", "--invoices", "3000", "--seed", "8", db=other).exit_code == 0
    assert digest(other) != digest(first)


def test_seeded_data_is_then_cached_by_sync(tmp_path):
    sandbox_db, cache_db = tmp_path / "seeded.db", tmp_path / "cache.db"
    assert cli("seed", "--invoices", "3000", "--seed", "7", db=sandbox_db).exit_code == 0
    env = {"PAYNET_OPS_SANDBOX_DB": str(sandbox_db), "PAYNET_OPS_DB": str(cache_db)}
    synced = runner.invoke(app, ["sync"], env=env)
    assert synced.exit_code == 0, synced.output
    with Sandbox(sandbox_db) as sb:
        seeded = {i.invoice_no: (i.amount, int(i.status)) for i in sb.invoices()}
    from paynet_core.store import Store

    store = Store.read_only(cache_db)
    cached = store.query("SELECT invoice_no, amount_kurus AS amount, status FROM invoices")
    assert len(seeded) == 3000
    assert {r.invoice_no: (r.amount, r.status) for r in cached.itertuples()} == seeded
    assert (
        store.query("SELECT count(*) AS n FROM bill_payments")["n"][0]
        == counts(sandbox_db)["payofin_payments"]
    )


def test_seed_prints_what_it_created(tmp_path):
    db = tmp_path / "s.db"
    result = cli(
        "seed", "--invoices", "500", "--payments", "120", "--subscriptions", "40",
        "--seed", "3", "--today", "2026-05-01", db=db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:]}
    assert lines["subscriptions"] == ["40"]
    assert lines["invoices"][0] == "500" and lines["payments"][0] == "120"
    first_paid, last_paid = lines["payments"][1], lines["payments"][3]
    assert "2026-04-01" <= last_paid <= "2026-04-30" and "2025-05-01" <= first_paid < "2025-09-01"
    with Sandbox(db) as sb:
        assert len(sb.invoices()) == 500 and len(sb.subscriptions()) == 40
        assert len(sb.payments()) == 120


def test_seed_refuses_a_sandbox_with_data_and_reset_replaces_it(tmp_path):
    db = tmp_path / "s.db"
    assert cli("seed", "--invoices", "100", "--seed", "1", db=db).exit_code == 0
    before = digest(db)
    again = cli("seed", "--invoices", "100", "--seed", "2", db=db)
    assert again.exit_code == 1
    assert "already holds data" in again.output and "--reset" in again.output
    assert digest(db) == before

    replaced = cli("seed", "--invoices", "200", "--seed", "2", "--reset", db=db)
    assert replaced.exit_code == 0, replaced.output
    assert counts(db)["invoices"] == 200 and digest(db) != before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--invoices", "-1"], "invoices must be between 0 and"),
        (["--subscriptions", "20000"], "subscriptions must be between 0 and 10000"),
        (["--subscriptions", "2", "--invoices", "1000"], "at most 100 each"),
        (["--payments", "-5"], "payments must be between"),
        (["--months", "0"], "months must be between 1 and 60"),
        (["--today", "yesterday"], "is not a day like 23.11.2026"),
    ],
)
def test_seed_refuses_bad_numbers_without_a_traceback(tmp_path, args, message):
    result = cli("seed", *args, db=tmp_path / "s.db")
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


# -- faults from the shell ---------------------------------------------------------------------


def test_fault_names_map_to_kinds():
    assert parse_faults("500,503,drop,drop_after,hang,429,malformed") == (
        "http_500",
        "http_503",
        "disconnect_before",
        "disconnect",
        "timeout_before",
        "rate_limit",
        "malformed_json",
    )
    assert parse_faults(" 500 , DROP,disconnect ") == (
        "http_500",
        "disconnect_before",
        "disconnect",
    )


def test_a_fault_named_twice_is_drawn_twice_as_often():
    plan = FaultPlan(rate=1.0, kinds=parse_faults("500,500,drop"), seed=7)
    drawn = Counter(str(plan.take("create_invoice", provider="paynet")) for _ in range(3000))
    assert set(drawn) == {"http_500", "disconnect_before"}
    assert 1.7 < drawn["http_500"] / drawn["disconnect_before"] < 2.3
    shares = fault_shares(0.2, parse_faults("500,500,drop,drop_after"))
    assert shares == pytest.approx({"500": 0.1, "drop": 0.05, "drop_after": 0.05})


@pytest.mark.parametrize("text", ["500,boom", "", " , "])
def test_a_bad_fault_name_is_named_with_the_choices(text):
    with pytest.raises(ValueError) as err:
        parse_faults(text)
    assert "drop_after" in str(err.value) and "malformed" in str(err.value)
    if "boom" in text:
        assert "'boom'" in str(err.value)


def test_fault_plan_from_env():
    plan = fault_plan_from_env(
        {"PAYNET_SANDBOX_FAULT_RATE": "0.25", "PAYNET_SANDBOX_FAULTS": "503,drop_after"}
    )
    assert (plan.rate, plan.random_kinds) == (0.25, ("http_503", "disconnect"))
    quiet = fault_plan_from_env({})
    assert quiet.rate == 0 and quiet.latency == 0
    with pytest.raises(ValueError, match="PAYNET_SANDBOX_FAULTS: unknown fault 'nope'"):
        fault_plan_from_env({"PAYNET_SANDBOX_FAULTS": "nope"})
    with pytest.raises(ValueError, match="PAYNET_SANDBOX_FAULT_RATE '1.5' must be between 0 and 1"):
        fault_plan_from_env({"PAYNET_SANDBOX_FAULT_RATE": "1.5"})
    with pytest.raises(ValueError, match="PAYNET_SANDBOX_FAULT_RATE 'lots' is not a number"):
        fault_plan_from_env({"PAYNET_SANDBOX_FAULT_RATE": "lots"})


def test_open_sandbox_takes_fault_settings(tmp_path):
    path = tmp_path / "f.db"
    with pytest.raises(ValueError, match="unknown fault 'x'"):
        open_sandbox(path, fault_rate=1.0, faults="x")
    sb = open_sandbox(path, fault_rate=1.0, faults="503", latency_ms=0)
    assert sb.faults.rate == 1.0 and sb.faults.random_kinds == ("http_503",)
    ref = sb.subscriptions()[0].reference_no
    with httpx.Client(transport=SandboxTransport(sb), base_url=PAYNET_BASE_URL, headers=AUTH) as c:
        reply = c.post("/v1/subscription/subscription_detail", json={"reference_no": ref})
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
    assert open_sandbox(path, fault_rate=0.0) is sb and sb.faults.rate == 0.0
    assert sb.faults.random_kinds == ("http_503",)  # only the settings given change


@pytest.mark.parametrize(
    "args, message",
    [
        (["--faults", "500,boom"], "--faults: unknown fault 'boom'; choose from 500, 502, 503"),
        (["--fault-rate", "2"], "--fault-rate 2.0 must be between 0 and 1"),
        (["--latency-ms", "-1"], "--latency-ms -1: must be between 0 and 600000"),
        (["--port", "70000"], "--port 70000: must be between"),
    ],
)
def test_serve_refuses_bad_settings_with_exit_2(tmp_path, args, message):
    result = cli("serve", *args, db=tmp_path / "s.db")
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


# -- the request log ---------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path):
    """A sandbox file that received: an invoice, the same invoice again, a status change, a 500
    (not applied), a dropped reply (applied) and a list."""
    path = tmp_path / "log.db"
    with Sandbox(path, record_requests=True) as sb:
        sub = sb.add_subscription(reference_no="90000600")
        with httpx.Client(
            transport=SandboxTransport(sb), base_url=PAYNET_BASE_URL, headers=AUTH
        ) as c:

            def create(no: str) -> httpx.Response:
                body = {"reference_no": "90000600", "amount": "1000", "invoice_no": no,
                        "val_date": "10.05.2026 09:00:00"}  # fmt: skip
                return c.post("/v1/subscription/create_invoice", json=body)

            assert create("L-1").json()["code"] == 0
            assert create("L-1").json()["code"] == 5
            invoice_id = sb.get_invoice("L-1").invoice_id
            status = {"invoice_id": invoice_id, "status": 5}
            assert c.post("/v1/subscription/invoice_status_update", json=status).json()["code"] == 0
            sb.faults.fail_next("create_invoice", "http_500")
            assert create("L-2").status_code == 500
            sb.faults.fail_next("create_invoice", "disconnect")
            with pytest.raises(httpx.RemoteProtocolError):
                create("L-3")
            listing = {"subscription_id": sub.subscription_id, "invoice_status": 0}
            assert c.post("/v1/subscription/invoice_list", json=listing).json()["code"] == 0
    return path, sub.subscription_id, invoice_id


def test_log_json_is_one_object_a_line_with_what_happened(recorded):
    path, subscription_id, invoice_id = recorded
    result = cli("log", "--json", db=path)
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.output.splitlines()]
    got = [
        (e["operation"], e["invoice_no"], e["invoice_id"], e["subscription"], e["status"],
         e["outcome"], e["code"], e["fault"])
        for e in entries
    ]  # fmt: skip
    assert got == [
        ("create_invoice", "L-1", None, "90000600", None, "applied", 0, None),
        ("create_invoice", "L-1", None, "90000600", None, "refused", 5, None),
        ("invoice_status_update", None, invoice_id, None, 5, "applied", 0, None),
        ("create_invoice", "L-2", None, "90000600", None, "not applied", None, "500"),
        ("create_invoice", "L-3", None, "90000600", None, "applied", 0, "drop_after"),
        ("invoice_list", None, None, subscription_id, 0, "answered", 0, None),
    ]
    assert [e["reply_lost"] for e in entries] == [False, False, False, False, True, False]
    times = [datetime.fromisoformat(e["time"]) for e in entries]
    assert times == sorted(times) and all(t.utcoffset() == timedelta(hours=3) for t in times)
    # what a script counts: creations of L-1 that the sandbox applied
    assert sum(e["invoice_no"] == "L-1" and e["outcome"] == "applied" for e in entries) == 1


def test_log_table_reads_as_text(recorded):
    path, _, _ = recorded
    result = cli("log", db=path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "time", "operation", "invoice_no", "invoice_id", "subscription", "status", "result",
    ]  # fmt: skip
    assert "refused (code 5)" in lines[2]
    assert lines[4].endswith("not applied: 500")
    assert lines[5].endswith("applied, reply lost: drop_after")
    assert lines[-1] == "6 requests"


def test_log_since_filters_by_time(recorded):
    path, _, _ = recorded
    assert len(cli("log", "--json", "--since", "1h", db=path).output.splitlines()) == 6
    future = cli("log", "--since", "2999-01-01", db=path)
    assert future.exit_code == 0 and future.output.startswith("no requests received since")
    assert cli("log", "--json", "--since", "2999-01-01", db=path).output == ""
    bad = cli("log", "--since", "yesterday", db=path)
    assert bad.exit_code == 2 and "30s, 10m, 2h, 1d" in bad.output


def test_parse_since():
    assert parse_since("10m", NOW) == NOW - timedelta(minutes=10)
    assert parse_since("2d", NOW) == NOW - timedelta(days=2)
    assert parse_since("2026-05-01T09:30", NOW) == datetime(2026, 5, 1, 9, 30, tzinfo=ISTANBUL)
    assert parse_since("2026-05-01T06:30:00+00:00", NOW) == datetime(
        2026, 5, 1, 9, 30, tzinfo=ISTANBUL
    )
    assert parse_since("2026-05-01", NOW) == datetime(2026, 5, 1, tzinfo=ISTANBUL)


def test_log_of_a_missing_file_says_so_without_creating_it(tmp_path):
    path = tmp_path / "none.db"
    result = cli("log", db=path)
    assert result.exit_code == 0 and "nothing received yet" in result.output
    assert not path.exists()


def test_an_old_sandbox_file_gains_the_new_log_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE received (seq INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL, "
            "invoice_no TEXT, handled INTEGER NOT NULL, code INTEGER, fault TEXT, "
            "received_at TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO received(operation, invoice_no, handled, code, fault, received_at) "
            "VALUES ('create_invoice', 'OLD-1', 1, 0, NULL, '2026-05-01T10:00:00')"
        )
    result = cli("log", "--json", db=path)
    assert result.exit_code == 0, result.output
    (old,) = [json.loads(line) for line in result.output.splitlines()]
    assert (old["invoice_no"], old["invoice_id"], old["outcome"]) == ("OLD-1", None, "applied")


def test_the_file_sandbox_records_requests(tmp_path):
    sb = open_sandbox(tmp_path / "rec.db")
    ref = sb.subscriptions()[0].reference_no
    with httpx.Client(transport=SandboxTransport(sb), base_url=PAYNET_BASE_URL, headers=AUTH) as c:
        c.post("/v1/subscription/subscription_detail", json={"reference_no": ref})
    assert [(r.operation, r.subscription) for r in sb.received()] == [("subscription_detail", ref)]


# -- serve, end to end -------------------------------------------------------------------------


def test_served_sandbox_drops_replies_after_applying_and_logs_it(tmp_path):
    db = tmp_path / "served.db"
    assert (
        cli("seed", "--invoices", "20", "--subscriptions", "2", "--payments", "0", db=db).exit_code
        == 0
    )
    with Sandbox(db) as sb:
        ref = sb.subscriptions()[0].reference_no
    env = {**os.environ, "PAYNET_OPS_SANDBOX_DB": str(db), "PYTHONUNBUFFERED": "1"}
    errors = tmp_path / "serve.err"
    with errors.open("w") as err, subprocess.Popen(
        [sys.executable, "-c", "from paynet_core.cli import app; app()", "sandbox", "serve", "--port", "0",
         "--fault-rate", "1", "--faults", "drop_after"],
        env=env, stdout=subprocess.PIPE, stderr=err, text=True,
    ) as proc:  # fmt: skip
        try:
            line = proc.stdout.readline()  # EOF (""), should it die before listening
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert match, (line, errors.read_text())
            assert "100% fail (drop_after 100%)" in line
            body = {"reference_no": ref, "amount": "1000", "invoice_no": "SRV-1",
                    "val_date": "10.05.2026 09:00:00"}  # fmt: skip
            with (
                httpx.Client(base_url=match.group(0), headers=AUTH, timeout=5) as c,
                pytest.raises(httpx.RemoteProtocolError),
            ):
                c.post("/v1/subscription/create_invoice", json=body)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    assert proc.returncode == 0, errors.read_text()
    entries = [json.loads(x) for x in cli("log", "--json", db=db).output.splitlines()]
    assert [(e["invoice_no"], e["outcome"], e["fault"]) for e in entries] == [
        ("SRV-1", "applied", "drop_after")
    ]
    with Sandbox(db) as sb:
        assert sb.get_invoice("SRV-1") is not None  # applied, though the client saw no reply


def test_the_default_demo_looks_like_a_year_of_operations(tmp_path):
    sb = open_sandbox(tmp_path / "demo.db")
    invoices, payments = sb.invoices(), sb.payments()
    assert len(sb.subscriptions()) == 300 and len(invoices) == 3000 and len(payments) == 3000
    today = date.today()
    assert min(i.val_date.date() for i in invoices) <= today - timedelta(days=300)
    assert min(p.paid_at.date() for p in payments) <= today - timedelta(days=300)
    months = {(p.paid_at.year, p.paid_at.month) for p in payments}
    assert len(months) >= 12
