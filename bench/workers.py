"""The workers drill: distributed bulk jobs on PostgreSQL, workers killed mid-run.

    uv run python bench/workers.py                       # the drill (5,000 + 5,000 at 200/s)
    uv run python bench/workers.py --creations 300 --changes 300
    uv run python bench/workers.py --scaling             # 1, 2, 4 workers, 40 ms, no rate limit

The drill: a PostgreSQL server (a throwaway one from tests/pg_server.py unless --pg-url), the
sandbox served over HTTP with faults (``paynet-ops sandbox serve --fault-rate --faults``), three
``paynet-ops worker`` processes, a creation job and then a status-change job started with the
CLI (which only enqueues and watches), at a shared rate. One worker is SIGKILLed during the
creations, started again, and SIGKILLed again during the status changes. The verdict is counted
from ``paynet-ops sandbox log --json`` and the sandbox's own file: every invoice_no created
exactly once, every status applied, the largest number of requests in any one-second window,
and for each kill the time until every chunk the dead worker held was picked by another. The
last line is JSON.

A row still fails when every try of its budget meets a fault: at a fault rate of 0.2, about one
creation in 90,000 (0.15^6: six sends, each failed before the sandbox applied it). The job then
exits 1 and names what to do, and the drill does it: it exports the failed rows (``jobs export
ID --failed``) and uploads them again. Failed creations keep their invoice_no, so "exactly once"
still holds; ``uploaded_again`` gives the rows of each such round.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project before this folder (bench/dashboard.py shadows it)

import httpx  # noqa: E402

from paynet_core.store import queue_pg  # noqa: E402
from paynet_core.workers.queue import ENTRYPOINT, connect  # noqa: E402

CANCELLED = 5  # the status the second job sets (Waiting -> Cancel)
#: Rounds of uploading a job's failed rows again before the drill gives up.
UPLOADS_AGAIN = 3


def _load_pg_server():
    spec = importlib.util.spec_from_file_location("pg_server", ROOT / "tests" / "pg_server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_server"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paynet_core.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def _records(path: Path) -> int:
    """Records in a CSV file (an error message may hold a line break)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return sum(1 for _ in csv.reader(f, delimiter=";"))


def _wait_for(predicate, what: str, timeout: float, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process ended (rc {proc.returncode}) before {what}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _count(served_db: Path, operation: str) -> int:
    try:
        with sqlite3.connect(f"file:{served_db}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(
                "SELECT count(*) FROM received WHERE operation = ?", (operation,)
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _held(url: str) -> list[dict]:
    async def go() -> list[dict]:
        async with connect(url) as conn:
            return await queue_pg.held_chunks(conn, "pgqueuer", ENTRYPOINT)

    return asyncio.run(go())


def _takeover(url: str, dead_pid: int, timeout: float) -> dict:
    """Seconds from now (just after the kill) until no chunk is held by ``dead_pid`` any more."""
    start = time.monotonic()
    held = [h for h in _held(url) if h["pid"] == dead_pid]
    ids = {h["id"] for h in held}
    while time.monotonic() - start < timeout:
        now = {h["id"]: h for h in _held(url)}
        if all(i not in now or now[i]["pid"] != dead_pid for i in ids):
            return {"chunks": len(ids), "moved_on_s": round(time.monotonic() - start, 2)}
        time.sleep(0.05)
    return {"chunks": len(ids), "moved_on_s": None}


class Drill:
    def __init__(
        self, work: Path, pg_url: str, *, latency_ms: float, fault_rate: float, faults: str
    ):
        self.work = work
        self.served_db = work / "served.db"
        self.pg_url = pg_url
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
        self.sandbox_env = {
            **base,
            "PAYNET_OPS_SANDBOX_DB": str(self.served_db),
            "PAYNET_OPS_DB": str(work / "sb-cache.db"),
        }
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = ["sandbox", "serve", "--port", str(port), "--latency-ms", f"{latency_ms:g}"]
        if fault_rate:
            args += ["--fault-rate", f"{fault_rate:g}", "--faults", faults]
        self.server = _cli(args, self.sandbox_env, work / "serve.log")
        _wait_for(self._up, "the sandbox server", 60, self.server)
        self.env = {
            **base,
            "PAYNET_OPS_MODE": "test",
            "PAYNET_SECRET_KEY": "sck_x",
            "PAYNET_BASE_URL": self.url,
            # The deployment the README describes: the cache, the journal and the queue in one
            # PostgreSQL database (the queue defaults to PAYNET_OPS_DB).
            "PAYNET_OPS_DB": pg_url,
            "PAYNET_OPS_SANDBOX_DB": str(work / "never-opened.db"),
        }
        self.workers: list[subprocess.Popen] = []

    def _up(self) -> bool:
        try:
            httpx.get(self.url + "/", timeout=1)
            return True
        except httpx.TransportError:
            return False

    def start_worker(self, i: int, concurrency: int = 2) -> subprocess.Popen:
        proc = _cli(
            ["worker", "--concurrency", str(concurrency)], self.env, self.work / f"worker{i}.log"
        )
        if i < len(self.workers):
            self.workers[i] = proc
        else:
            self.workers.append(proc)
        return proc

    def alive_worker(self, i: int) -> subprocess.Popen:
        """Worker ``i``, which must still run: a kill of a worker that already died would
        measure nothing."""
        proc = self.workers[i]
        if proc.poll() is not None:
            raise RuntimeError(
                f"worker {i} exited early ({proc.returncode}); see {self.work}/worker{i}.log"
            )
        return proc

    def subscriptions(self) -> list[str]:
        """The sandbox's subscriptions: invoices are spread over them as in real life (a
        lookup by invoice_no walks its subscription's invoices, so one huge one would make every
        exactly-once lookup a long walk)."""
        with sqlite3.connect(f"file:{self.served_db}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT subscription_id FROM subscriptions ORDER BY subscription_id")
            return [r[0] for r in rows]

    def job(self, kind: str, path: Path, rate: float, concurrency: int) -> subprocess.Popen:
        args = ["invoices", kind, str(path), "--yes", "--rate", f"{rate:g}"]
        return _cli(args + ["--concurrency", str(concurrency)], self.env, self.work / "jobs.log")

    def finish(
        self, job: subprocess.Popen, kind: str, rate: float, concurrency: int, deadline: float
    ) -> list[int]:
        """Wait for ``job``; while it ends with failed rows, upload them again as the CLI tells
        an operator to. Returns how many rows each round uploaded again."""
        rounds: list[int] = []
        while job.wait(deadline) != 0:
            if len(rounds) == UPLOADS_AGAIN:
                raise RuntimeError(f"the {kind} job ended with {job.returncode}; see {self.work}")
            failed = self.work / f"failed-{kind}-{len(rounds) + 1}.csv"
            export = subprocess.run(
                [sys.executable, "-m", "paynet_core.cli", "jobs", "export", self.last_job_id()]
                + ["--failed", "--csv-form", "tr", "--out", str(failed)],  # tr: ";" between
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
            )
            rows = _records(failed) - 1 if export.returncode == 0 else 0  # less its header
            if rows < 1:
                raise RuntimeError(
                    f"the {kind} job ended with {job.returncode} and left no rows to upload "
                    f"again ({export.stderr.strip() or export.stdout.strip()}); see {self.work}"
                )
            rounds.append(rows)
            job = self.job(kind, failed, rate, concurrency)
        return rounds

    def last_job_id(self) -> str:
        from paynet_core.store import Store

        with Store.open(self.pg_url, migrate=False) as store:
            return str(store.jobs(limit=1).iloc[0]["job_id"])

    def log(self) -> list[dict]:
        out = subprocess.run(
            [sys.executable, "-m", "paynet_core.cli", "sandbox", "log", "--json"],
            env=self.sandbox_env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            cwd=ROOT,
        )
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(20)
        except subprocess.TimeoutExpired:
            self.server.kill()


def _max_window(times: list[float]) -> int:
    """The most requests in any one-second window (sliding, on the sandbox's arrival times)."""
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect_right(times, t + 1.0 - 1e-9) - i)
    return best


def _seconds(entry: dict) -> float:
    return datetime.fromisoformat(entry["time"]).timestamp()


def run_drill(
    *,
    creations: int,
    changes: int,
    workers: int = 3,
    rate: float = 200,
    concurrency: int = 4,
    kills: int = 2,
    latency_ms: float = 0,
    fault_rate: float = 0.2,
    faults: str = "500,500,drop,drop_after",
    pg_url: str | None = None,
    work: Path | None = None,
    deadline: float = 1200,
) -> dict:
    """The drill; returns its verdict (see the module docstring)."""
    server = None
    if pg_url is None:
        pg_server = _load_pg_server()
        server = pg_server.start()
        pg_url = pg_server.create_database(server.url)
    work = Path(work or tempfile.mkdtemp(prefix="paynet-workers-"))
    drill = Drill(work, pg_url, latency_ms=latency_ms, fault_rate=fault_rate, faults=faults)
    takeovers: list[dict] = []
    try:
        for i in range(workers):
            drill.start_worker(i)
        subs = drill.subscriptions()
        upload = work / "create.csv"
        upload.write_text(
            "abonelik_no;tutar;tarih\n"
            + "".join(
                f"{subs[i % len(subs)]};{10 + i % 900},{i % 100:02d};15.01.2027\n"
                for i in range(creations)
            ),
            encoding="utf-8",
        )
        started = time.monotonic()
        job = drill.job("create", upload, rate, concurrency)
        if kills >= 1:
            _wait_for(
                lambda: _count(drill.served_db, "create_invoice") >= creations // 3,
                "a third of the creations",
                deadline,
                job,
            )
            victim = drill.alive_worker(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            takeovers.append(_takeover(pg_url, victim.pid, 60))
            drill.start_worker(0)  # started again once
        uploaded_again = {"create": drill.finish(job, "create", rate, concurrency, deadline)}
        create_s = time.monotonic() - started

        entries = drill.log()
        created = sorted(
            {
                e["invoice_no"]
                for e in entries
                if e["operation"] == "create_invoice" and e["outcome"] == "applied"
            }
        )
        changes_file = work / "status.csv"
        targets = created[:changes]
        changes_file.write_text(
            "invoice_no;status\n" + "".join(f"{no};{CANCELLED}\n" for no in targets),
            encoding="utf-8",
        )
        before = _count(drill.served_db, "invoice_status_update")
        started = time.monotonic()
        job = drill.job("set-status", changes_file, rate, concurrency)
        if kills >= 2:
            _wait_for(
                lambda: (
                    _count(drill.served_db, "invoice_status_update") - before >= len(targets) // 3
                ),
                "a third of the status changes",
                deadline,
                job,
            )
            victim = drill.alive_worker(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            takeovers.append(_takeover(pg_url, victim.pid, 60))
        uploaded_again["set-status"] = drill.finish(job, "set-status", rate, concurrency, deadline)
        change_s = time.monotonic() - started
        entries = drill.log()
    finally:
        drill.close()
        if server is not None:
            server.stop()

    creations_log = [e for e in entries if e["operation"] == "create_invoice"]
    applied = Counter(e["invoice_no"] for e in creations_log if e["outcome"] == "applied")
    with sqlite3.connect(f"file:{drill.served_db}?mode=ro", uri=True) as db:
        stored = Counter(n for (n,) in db.execute("SELECT invoice_no FROM invoices"))
        statuses = dict(db.execute("SELECT invoice_no, status FROM invoices"))
    ours = {n: c for n, c in stored.items() if n in applied}
    faults_seen = Counter(e["fault"] for e in entries if e["fault"])
    return {
        "bench": "workers",
        "workers": workers,
        "rate": rate,
        "creations": creations,
        "created_once": sum(1 for c in applied.values() if c == 1),
        "created_twice_or_more": sum(1 for c in applied.values() if c > 1),
        "stored_once": sum(1 for c in ours.values() if c == 1),
        "changes": len(targets),
        "status_applied": sum(1 for no in targets if statuses.get(no) == CANCELLED),
        "uploaded_again": uploaded_again,
        "requests": len(entries),
        "max_requests_in_1s": _max_window([_seconds(e) for e in entries]),
        "faults": dict(faults_seen),
        "kills": len(takeovers),
        "takeovers": takeovers,
        "create_s": round(create_s, 1),
        "change_s": round(change_s, 1),
        "work": str(work),
    }


def _sending_span(served_db: Path) -> float:
    """Seconds between the first and the last creation the sandbox received."""
    with sqlite3.connect(f"file:{served_db}?mode=ro", uri=True) as db:
        first, last = db.execute(
            "SELECT min(received_at), max(received_at) FROM received"
            " WHERE operation = 'create_invoice'"
        ).fetchone()
    return max(1e-3, (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds())


def run_scaling(*, n: int, counts=(1, 2, 4), latency_ms: float = 40, concurrency: int = 4) -> dict:
    """The same creation job at ``latency_ms`` with no rate limit on 1, 2, 4 workers."""
    pg_server = _load_pg_server()
    server = pg_server.start()
    results = []
    try:
        for workers in counts:
            pg_url = pg_server.create_database(server.url)
            work = Path(tempfile.mkdtemp(prefix=f"paynet-scaling-{workers}-"))
            drill = Drill(work, pg_url, latency_ms=latency_ms, fault_rate=0, faults="")
            try:
                for i in range(workers):
                    drill.start_worker(i)
                subs = drill.subscriptions()
                upload = work / "create.csv"
                upload.write_text(
                    "abonelik_no;tutar;tarih\n"
                    + "".join(
                        f"{subs[i % len(subs)]};{10 + i % 900},00;15.01.2027\n" for i in range(n)
                    ),
                    encoding="utf-8",
                )
                time.sleep(2)  # the workers are up and listening
                started = time.monotonic()
                job = drill.job("create", upload, 0, concurrency)
                if job.wait(1200) != 0:
                    raise RuntimeError(f"the job ended with {job.returncode}; see {work}")
                elapsed = time.monotonic() - started
            finally:
                drill.close()
            in_flight = workers * 2 * concurrency  # chunks per worker x clients per chunk
            limit = in_flight / (latency_ms / 1000)
            sent = _sending_span(drill.served_db)
            results.append(
                {
                    "workers": workers,
                    # as the provider saw it: creations between its first and last request
                    "throughput_per_s": round(n / sent, 1),
                    "latency_limit_per_s": round(limit, 1),
                    "ratio": round(n / sent / limit, 3),
                    # end to end, with the CLI's start, planning and watching
                    "cli_elapsed_s": round(elapsed, 1),
                    "cli_throughput_per_s": round(n / elapsed, 1),
                }
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        server.stop()
    return {"bench": "workers-scaling", "n": n, "latency_ms": latency_ms, "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creations", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight per chunk")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--n", type=int, default=2000, help="--scaling: creations per run")
    args = parser.parse_args()
    if args.scaling:
        result = run_scaling(n=args.n, concurrency=args.concurrency)
    else:
        result = run_drill(
            creations=args.creations,
            changes=args.changes,
            workers=args.workers,
            rate=args.rate,
            concurrency=args.concurrency,
            pg_url=args.pg_url,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
