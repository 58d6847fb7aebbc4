"""A served sandbox with faults, a CLI creation job killed twice and resumed: every invoice once.

The whole path a team uses with an egress proxy or a shared sandbox: `paynet-ops sandbox serve`
in one process, `paynet-ops invoices create` in test mode pointed at it by PAYNET_BASE_URL in
another, SIGKILL twice mid-run, `paynet-ops jobs resume`, and the verdict counted from
`paynet-ops sandbox log --json` (what the sandbox itself received and applied).
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

N = 300
DEADLINE_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "paynet_core.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(predicate, what: str, timeout: float = 60.0, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _creations(sandbox_db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{sandbox_db}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(
                "SELECT count(*) FROM received WHERE operation = 'create_invoice'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _job_id(cache_db: Path) -> str | None:
    try:
        with sqlite3.connect(f"file:{cache_db}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT job_id FROM jobs").fetchone()
            return row[0] if row else None
    except sqlite3.OperationalError:
        return None


@pytest.mark.timeout(DEADLINE_S + 60)
def test_a_cli_creation_job_against_a_served_faulty_sandbox_killed_twice_stores_each_invoice_once(
    tmp_path,
):
    served_db, cache_db = tmp_path / "served.db", tmp_path / "cache.db"
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
    sandbox_env = {
        **base,
        "PAYNET_OPS_SANDBOX_DB": str(served_db),
        "PAYNET_OPS_DB": str(tmp_path / "sb-cache.db"),
    }
    server = _cli(
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--fault-rate",
        "0.2",
        "--faults",
        "500,drop,drop_after",
        env=sandbox_env,
        log=tmp_path / "serve.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                httpx.get(url + "/", timeout=1)
                return True
            except httpx.TransportError:
                return False

        _wait_for(up, "the sandbox server", proc=server)
        with sqlite3.connect(f"file:{served_db}?mode=ro", uri=True) as db:
            sub = db.execute(
                "SELECT subscription_id FROM subscriptions ORDER BY subscription_id LIMIT 1"
            ).fetchone()[0]
        rows = "".join(f"{sub};{10 + i},{i % 100:02d};15.01.2027\n" for i in range(N))
        upload = tmp_path / "invoices.csv"
        upload.write_text("abonelik_no;tutar;tarih\n" + rows, encoding="utf-8")

        client_env = {
            **base,
            "PAYNET_OPS_MODE": "test",
            "PAYNET_SECRET_KEY": "sck_x",
            "PAYNET_BASE_URL": url,
            "PAYNET_OPS_DB": str(cache_db),
            "PAYNET_OPS_SANDBOX_DB": str(tmp_path / "never-opened.db"),
        }
        logs = tmp_path / "runs.log"
        run = _cli(
            "invoices",
            "create",
            str(upload),
            "--yes",
            "--rate",
            "0",
            "--concurrency",
            "4",
            env=client_env,
            log=logs,
        )
        for mark in (N // 5, N // 2):
            _wait_for(lambda m=mark: _creations(served_db) >= m, f"{mark} creations", proc=run)
            run.send_signal(signal.SIGKILL)
            run.wait(10)
            job_id = _job_id(cache_db)
            assert job_id, logs.read_text()
            run = _cli("jobs", "resume", job_id, "--yes", env=client_env, log=logs)
        assert run.wait(DEADLINE_S) == 0, logs.read_text()[-3000:]

        out = subprocess.run(
            [sys.executable, "-m", "paynet_core.cli", "sandbox", "log", "--json"],
            env=sandbox_env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        entries = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        creations = [e for e in entries if e["operation"] == "create_invoice"]
        applied = Counter(e["invoice_no"] for e in creations if e["outcome"] == "applied")
        faults = Counter(e["fault"] for e in entries if e["fault"])
        with sqlite3.connect(f"file:{served_db}?mode=ro", uri=True) as db:
            stored = Counter(
                n
                for (n,) in db.execute(
                    "SELECT invoice_no FROM invoices WHERE subscription_id = ?", (sub,)
                )
            )
        ours = {n: c for n, c in stored.items() if n in applied}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)

    assert len(applied) == N and set(applied.values()) == {1}  # each created exactly once
    assert len(ours) == N and set(ours.values()) == {1}  # and stored once
    assert not [
        e for e in creations if e["outcome"] == "refused" and e["code"] == 5
    ]  # never resent
    assert {"500", "drop", "drop_after"} <= set(faults)  # the faults really happened
    assert sum(1 for e in creations if e["reply_lost"] and e["outcome"] == "applied") > 0
