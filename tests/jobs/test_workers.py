"""Distributed workers on the PostgreSQL queue: chunks, the shared rate, the schedule, the drill."""

import asyncio
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

from paynet_core.config import load_settings, parse_interval
from paynet_core.errors import ConfigError
from paynet_core.store import queue_pg
from paynet_core.workers import chunk_ranges
from paynet_core.workers.queue import connect
from paynet_core.workers.shared_rate import SharedRateLimiter

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("workers_drill", ROOT / "bench" / "workers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["workers_drill"] = module
    spec.loader.exec_module(module)
    return module


def test_chunks_cover_every_seq_once():
    assert chunk_ranges(250, 100) == [(1, 100), (101, 200), (201, 250)]
    assert chunk_ranges(0, 100) == []
    covered = [s for lo, hi in chunk_ranges(1001, 37) for s in range(lo, hi + 1)]
    assert covered == list(range(1, 1002))


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(None, 0), ("0", 0), ("15m", 900), ("1h", 3600), ("90", 90), ("2d", 172800)],
)
def test_sync_every_reads_minutes_hours_days(raw, seconds):
    assert parse_interval("PAYNET_OPS_SYNC_EVERY", raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "-5m", "10s", "15 minutes", "nanm"])
def test_a_bad_sync_every_is_refused_with_examples(raw):
    with pytest.raises(ConfigError, match=r"PAYNET_OPS_SYNC_EVERY=.*e\.g\. 15m"):
        load_settings({"PAYNET_OPS_SYNC_EVERY": raw}, secrets_file=None)


def test_the_queue_is_the_store_url_or_its_own_setting_never_echoed():
    url = "postgresql://ops@db.internal/paynet"
    assert load_settings({"PAYNET_OPS_QUEUE": url}, secrets_file=None).queue_url == url
    assert load_settings({}, secrets_file=None).queue_url is None
    with pytest.raises(ConfigError, match="postgresql://") as err:
        load_settings({"PAYNET_OPS_QUEUE": "mysql://u:hunter2@x/db"}, secrets_file=None)
    assert "hunter2" not in str(err.value)


def test_one_bucket_paces_two_processes_worth_of_limiters_and_a_429_slows_both(pg_db):
    rate = 40.0

    async def go() -> tuple[list[float], float]:
        async with connect(pg_db) as a, connect(pg_db) as b:
            await queue_pg.install(a)
            limiters = [SharedRateLimiter(c, "paynet:test", rate) for c in (a, b)]
            times: list[float] = []

            async def take(limiter: SharedRateLimiter, n: int) -> None:
                for _ in range(n):
                    await limiter.acquire()
                    times.append(time.monotonic())

            await asyncio.gather(*(take(limiters[i % 2], 15) for i in range(6)))  # 90 requests
            await limiters[0].slow_down(1.0)
            start = time.monotonic()
            await limiters[1].acquire()  # the other limiter waits for the 429's pause too
            return times, time.monotonic() - start

    times, waited = asyncio.run(go())
    times.sort()
    windows = [sum(1 for t in times if s <= t < s + 1.0) for s in times]
    assert max(windows) <= rate
    assert (
        len(times) / (times[-1] - times[0]) > rate * 0.5
    )  # paced, not a crawl (even on a loaded machine)
    assert waited >= 0.9


def test_a_scheduled_task_is_claimed_once_per_period_however_many_ask(pg_db):
    async def go() -> list[bool]:
        async with connect(pg_db) as conn:
            await queue_pg.install(conn)
            conns = [
                await __import__("psycopg").AsyncConnection.connect(pg_db, autocommit=True)
                for _ in range(4)
            ]
            try:
                first = await asyncio.gather(
                    *(queue_pg.claim_due(c, "sync", 60, f"w{i}") for i, c in enumerate(conns))
                )
                again = await queue_pg.claim_due(conns[0], "sync", 60, "w0")
            finally:
                for c in conns:
                    await c.close()
            return [*first, again]

    results = asyncio.run(go())
    assert results[:4].count(True) == 1
    assert results[4] is False  # not due again within the period


@pytest.mark.timeout(420)
def test_the_drill_three_workers_one_killed_twice_every_invoice_once(pg_db, tmp_path):
    # bench/workers.py at a small N: served sandbox with 500s, drops and lost replies.
    drill = _bench()
    result = drill.run_drill(
        creations=240, changes=240, rate=100, concurrency=8, pg_url=pg_db, work=tmp_path
    )
    assert result["created_once"] == result["stored_once"] == 240, result
    assert result["created_twice_or_more"] == 0
    assert result["status_applied"] == result["changes"] == 240
    # Rows whose every try met a fault were uploaded again (rare: about 1 in 90,000 creations).
    assert sum(map(sum, result["uploaded_again"].values())) <= 3, result["uploaded_again"]
    assert result["max_requests_in_1s"] <= 100
    assert {"500", "drop", "drop_after"} <= set(result["faults"])
    assert result["kills"] == 2
    assert all(t["moved_on_s"] is not None and t["moved_on_s"] < 15 for t in result["takeovers"])
    # `jobs list` names the workers and their chunks while the queue is configured
    env = {**os.environ, "PAYNET_OPS_DB": pg_db}  # cache, journal and queue in one database
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "paynet_core.cli", "jobs", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Chunks held by workers" in out.stdout and "done" in out.stdout
    json.dumps(result)  # the bench's last line is JSON


@pytest.mark.timeout(240)
def test_the_drill_uploads_failed_rows_again_with_their_invoice_no_and_then_gives_up(
    pg_db, tmp_path
):
    # A row Paynet refuses every time (an unknown subscription) takes the drill's path for failed
    # rows: exported, uploaded again, and after UPLOADS_AGAIN rounds the drill stops and says so.
    from paynet_core.importing import read_invoice_rows

    bench = _bench()
    drill = bench.Drill(tmp_path, pg_db, latency_ms=0, fault_rate=0, faults="")
    try:
        drill.start_worker(0)
        sub = drill.subscriptions()[0]
        upload = tmp_path / "create.csv"
        upload.write_text(
            f"abonelik_no;tutar;tarih\n{sub};10,00;15.01.2027\nNO-SUCH-SUB;20,00;15.01.2027\n",
            encoding="utf-8",
        )
        job = drill.job("create", upload, 0, 2)
        with pytest.raises(RuntimeError, match="the create job ended with 1; see"):
            drill.finish(job, "create", 0, 2, 120)
        entries = drill.log()
    finally:
        drill.close()
    uploads = [tmp_path / f"failed-create-{i}.csv" for i in range(1, bench.UPLOADS_AGAIN + 1)]
    rows = [read_invoice_rows(p.read_bytes(), p.name).rows for p in uploads]
    assert [[r.subscription_id for r in got] for got in rows] == [["NO-SUCH-SUB"]] * len(uploads)
    kept = {got[0].invoice_no for got in rows}
    assert len(kept) == 1  # every round sends the number the planner fixed first
    assert not (tmp_path / f"failed-create-{bench.UPLOADS_AGAIN + 1}.csv").exists()
    creations = [e for e in entries if e["operation"] == "create_invoice"]
    refused = [e for e in creations if e["invoice_no"] in kept]
    assert len(refused) == 1 + bench.UPLOADS_AGAIN and all(
        e["outcome"] != "applied" for e in refused
    )
    assert [e["outcome"] for e in creations if e["invoice_no"] not in kept] == ["applied"]


# -- control from anywhere, and the schedule, with workers in this process ----------------------

import threading  # noqa: E402

from paynet_core import jobs  # noqa: E402
from paynet_core.jobs.planner import plan_status_changes  # noqa: E402
from paynet_core.paynet.models import Invoice, Subscription  # noqa: E402
from paynet_core.runtime import open_runtime  # noqa: E402
from paynet_core.sandbox import Sandbox, SandboxTransport  # noqa: E402
from paynet_core.store import Store  # noqa: E402
from paynet_core.workers.worker import run_worker  # noqa: E402


class _Workers:
    """``n`` workers, each on its own thread and event loop, sharing this process's sandbox."""

    def __init__(self, runtime, sandbox, n: int, sync=None):
        self.stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.threads = []
        factory = jobs.paynet_over(SandboxTransport(sandbox))
        ready = threading.Barrier(n + 1)

        def one() -> None:
            async def go() -> None:
                stop = asyncio.Event()
                self.stops.append((asyncio.get_running_loop(), stop))
                ready.wait()
                await run_worker(runtime, client_factory=factory, stop=stop, sync=sync)

            asyncio.run(go())

        for _ in range(n):
            t = threading.Thread(target=one, daemon=True)
            t.start()
            self.threads.append(t)
        ready.wait()

    def stop(self) -> None:
        for loop, event in self.stops:
            loop.call_soon_threadsafe(event.set)
        for t in self.threads:
            t.join(30)


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(180)
def test_pause_from_another_store_handle_stops_every_worker_and_resume_finishes(
    pg_db, tmp_path, monkeypatch
):
    monkeypatch.setenv("PAYNET_OPS_QUEUE", pg_db)
    runtime = open_runtime()
    sandbox = Sandbox(tmp_path / "paynet.db")
    sandbox.faults.set_latency(0.02)
    sub = sandbox.add_subscription(amount=1000)
    nos = [
        sandbox.add_invoice(subscription_id=sub.subscription_id, amount=1000 + i).invoice_no
        for i in range(400)
    ]
    spare = sandbox.add_invoice(subscription_id=sub.subscription_id, amount=999).invoice_no
    nos_in_cache = [*nos, spare]  # one untouched invoice keeps the plan from collapsing
    store = runtime.store
    store.upsert_subscriptions(
        [Subscription(subscription_id=sub.subscription_id, reference_no=sub.reference_no)]
    )
    store.upsert_invoices(
        [
            Invoice(invoice_no=no, subscription_id=sub.subscription_id, amount=1000, status=0)
            for no in nos_in_cache
        ]
    )
    plan = plan_status_changes([(no, 5) for no in nos], store=store)
    job_id = jobs.start_job(
        plan, runtime=runtime, created_by="ayse@example.com", rate=0, concurrency=2
    )
    workers = _Workers(runtime, sandbox, 2)
    try:
        jobs.run_job_in_background(job_id, runtime).join(30)  # with a queue: only enqueues
        _wait(lambda: store.job_progress(job_id)["done"] >= 40, 60, "some items done")
        other = Store.open(runtime.settings.cache_target)  # another dashboard or CLI, same db
        jobs.pause_job(job_id, store=other, actor="mehmet@example.com")
        paused_at = time.monotonic()
        _wait(lambda: other.job_progress(job_id)["sending"] == 0, 10, "in-flight items settled")
        settled = time.monotonic() - paused_at
        done = other.job_progress(job_id)["done"]
        time.sleep(1.5)
        assert other.job_progress(job_id)["done"] == done  # nobody claims anything any more
        assert settled < 3
        assert 0 < done < 400
        jobs.resume_job(job_id, store=other, actor="mehmet@example.com")
        jobs.run_job_in_background(job_id, runtime).join(30)
        _wait(lambda: other.job(job_id)["state"] == "done", 180, "the job done")
        assert other.job_progress(job_id)["done"] == 400
        assert all(sandbox.get_invoice(no).status == 5 for no in nos)
        other.close()
    finally:
        workers.stop()
        sandbox.close()


def _status_job(pg_db, monkeypatch, n: int, sandbox) -> tuple[Store, str]:
    monkeypatch.setenv("PAYNET_OPS_QUEUE", pg_db)
    runtime = open_runtime()
    sub = sandbox.add_subscription(amount=1000)
    nos = [
        sandbox.add_invoice(subscription_id=sub.subscription_id, amount=1000).invoice_no
        for _ in range(n)
    ]
    store = runtime.store
    store.upsert_invoices(
        [
            Invoice(invoice_no=no, subscription_id=sub.subscription_id, amount=1000, status=0)
            for no in [
                *nos,
                sandbox.add_invoice(subscription_id=sub.subscription_id, amount=999).invoice_no,
            ]
        ]
    )
    plan = plan_status_changes([(no, 5) for no in nos], store=store)
    return store, jobs.start_job(plan, runtime=runtime, created_by="ayse@example.com", rate=0)


@pytest.mark.timeout(60)
def test_the_sweep_puts_back_chunks_a_resume_could_not_enqueue(pg_db, tmp_path, monkeypatch):

    from paynet_core.workers.queue import install, put_chunks, requeue_stranded

    sandbox = Sandbox(tmp_path / "paynet.db")
    store, job_id = _status_job(pg_db, monkeypatch, 120, sandbox)  # chunks 1, 51, 101

    async def scenario() -> list:
        async with connect(pg_db) as conn:
            queries = await install(conn)
            seen = [await put_chunks(queries, conn, store, job_id)]
            # chunk 1 finished; chunks 51 and 101 were held when a pause came, and their
            # queue rows went away only after the resume had tried (and been refused)
            with store.transaction() as db:
                db.conn.execute(
                    "UPDATE job_items SET state = 'done' WHERE job_id = ? AND seq <= 50",
                    (job_id,),
                )
            await conn.execute("DELETE FROM pgqueuer")
            store.set_job_state(job_id, "paused")
            seen.append(await requeue_stranded(queries, conn, store))  # paused: left alone
            store.set_job_state(job_id, "pending")  # resumed
            seen.append(await requeue_stranded(queries, conn, store))
            seen.append(await requeue_stranded(queries, conn, store))  # already queued
            cur = await conn.execute("SELECT dedupe_key FROM pgqueuer ORDER BY id")
            seen.append([row[0] for row in await cur.fetchall()])
            store.set_job_state(job_id, "done")
            seen.append(await requeue_stranded(queries, conn, store))
            seen.append(await queue_pg.queued_jobs(conn))
        return seen

    try:
        first, paused, swept, again, keys, after_done, remembered = asyncio.run(scenario())
    finally:
        sandbox.close()
    assert (first, paused, swept, again) == (3, 0, 2, 0)
    assert keys == [f"{job_id}:51", f"{job_id}:101"]
    assert (after_done, remembered) == (0, [])


@pytest.mark.timeout(120)
def test_the_scheduled_sync_runs_on_one_worker_at_a_time(pg_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PAYNET_OPS_QUEUE", pg_db)
    monkeypatch.setenv("PAYNET_OPS_SYNC_EVERY", "1h")
    runtime = open_runtime()
    sandbox = Sandbox(tmp_path / "paynet.db")
    runs: list[str] = []
    overlap = threading.Lock()

    def fake_sync() -> None:
        assert overlap.acquire(blocking=False), "two syncs at once"
        runs.append(threading.current_thread().name)
        time.sleep(0.5)
        overlap.release()

    workers = _Workers(runtime, sandbox, 3, sync=fake_sync)
    try:
        _wait(lambda: len(runs) >= 1, 30, "a scheduled sync")
        time.sleep(3)  # every worker has looked at the schedule again
        assert len(runs) == 1  # one per period, across all workers
    finally:
        workers.stop()
        sandbox.close()


def test_a_429_pushes_the_limiter_back_for_every_later_request():
    import httpx

    from paynet_core.http.ratelimit import NS, RateLimitedTransport, RateLimiter

    now = [0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    transport = RateLimitedTransport(
        httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "2"})), limiter
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += int(seconds * NS)

    limiter._sleep = sleep
    request = httpx.Request("POST", "http://paynet.test/v1/x")
    asyncio.run(transport.handle_async_request(request))
    assert slept == []  # the first one went at once
    asyncio.run(limiter.acquire())
    assert sum(slept) >= 2.0  # the next waits out the Retry-After
