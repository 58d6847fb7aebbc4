import asyncio
import importlib.util
import pickle
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from job_helpers import factory_for, instant, run, seed, start, statuses

from paynet_core import jobs
from paynet_core.config import Mode
from paynet_core.dates import ISTANBUL
from paynet_core.errors import JobConflictError, JobError
from paynet_core.importing import read_invoice_rows
from paynet_core.jobs.planner import plan_invoices, plan_status_changes
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.sandbox import Sandbox, SandboxTransport

ROOT = Path(__file__).resolve().parents[2]
WAITING, CANCEL, DONE = 0, 5, 3


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def invoices_file(sub: str, n: int) -> bytes:
    lines = "".join(f"{sub};{10 + i},00;15.01.2027\n" for i in range(n))
    return ("abonelik_no;tutar;tarih\n" + lines).encode()


class Tap(httpx.AsyncBaseTransport):
    """Passes requests on; calls ``hook(n, request)`` after the n-th reply arrived."""

    def __init__(self, inner, hook=None):
        self.inner, self.hook, self.count = inner, hook, 0

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        self.count += 1
        if self.hook:
            await self.hook(self.count, request)
        return response


# -- the happy path --------------------------------------------------------------------------------


def test_status_job_changes_every_invoice_and_records_who_and_when(sandbox, store):
    _, nos = seed(sandbox, store, 12)
    plan = plan_status_changes(
        [(no, CANCEL) for no in nos[:6]] + [(no, DONE) for no in nos[6:]], store=store
    )
    job_id = start(plan, store)
    seen = []
    summary = run(job_id, store, factory_for(sandbox), concurrency=3, progress=seen.append)
    assert summary.ok and summary.done == 12
    assert statuses(sandbox, nos) == [CANCEL] * 6 + [DONE] * 6
    assert sandbox.request_counts["invoice_status_update"] == 12
    assert seen[-1]["done"] == 12
    items = store.job_items(job_id)
    assert set(items["state"]) == {"done"} and set(items["provider_code"]) == {0}
    assert list(items["status_before"]) == [WAITING] * 12
    assert list(items["status_after"]) == [CANCEL] * 6 + [DONE] * 6
    assert store.get_invoice(nos[0])["status"] == CANCEL
    history = store.invoice_history(nos[0])
    assert history.iloc[-1][["source", "job_id", "actor", "new_status"]].tolist() == [
        "job",
        job_id,
        "ayse@example.com",
        CANCEL,
    ]
    who = store.audit_rows(target_id=nos[0])
    assert who.iloc[0][["actor", "action", "status_before", "status_after", "job_id"]].tolist() == [
        "ayse@example.com",
        "invoice_status_update",
        WAITING,
        CANCEL,
        job_id,
    ]
    actions = store.audit_rows(job_id=job_id)["action"].tolist()
    assert actions[0] == "job.finish" and actions[-1] == "job.start"
    assert store.job(job_id)["runner_pid"] == 0


def test_successes_share_journal_transactions_and_a_failure_is_recorded_at_once(
    sandbox, store, monkeypatch
):
    _, nos = seed(sandbox, store, 40)
    plan = plan_status_changes([(no, CANCEL) for no in nos], store=store)
    job_id = start(plan, store)
    batches: list[list[str]] = []
    real = store.finish_sending_items

    def finish(rows):
        batches.append([r[0] for r in rows])
        real(rows)

    monkeypatch.setattr(store, "finish_sending_items", finish)
    monkeypatch.setattr(jobs.runner, "RECORD_WAIT", 60.0)  # only the count or the end flushes
    sandbox.faults.fail_next("invoice_status_update", ("result_code", 6))
    summary = run(job_id, store, factory_for(sandbox), concurrency=8)
    assert summary.done == 39 and summary.failed == 1
    assert sorted(s for b in batches for s in b) == ["done"] * 39 + ["failed"]
    # the failure is committed with what came in with it, not held back for the rest; the
    # successes after it share one transaction
    assert "failed" in batches[0] and len(batches[0]) < 40 and len(batches) == 2


def test_creation_job_creates_each_invoice_once_and_caches_it(sandbox, store):
    sub, _ = seed(sandbox, store, 0)
    plan = plan_invoices(read_invoice_rows(invoices_file(sub, 8), "new.csv"), store=store)
    job_id = start(plan, store)
    summary = run(job_id, store, factory_for(sandbox), concurrency=4)
    assert summary.ok
    planned = [c.payload["invoice_no"] for c in plan.calls]
    at_paynet = sandbox.invoices(subscription_id=sub)
    assert sorted(i.invoice_no for i in at_paynet) == sorted(planned)
    assert sum(i.amount for i in at_paynet) == plan.total_amount_kurus
    assert sandbox.request_counts["create_invoice"] == 8
    cached = store.get_invoice(planned[0])
    assert cached["status"] == WAITING and cached["subscription_id"] == sub
    assert store.invoice_history(planned[0]).iloc[0]["job_id"] == job_id


def test_a_collapsed_call_updates_the_whole_subscription_and_the_cache(sandbox, store):
    sub, nos = seed(sandbox, store, 5, whole=True)
    plan = plan_status_changes([(no, CANCEL) for no in nos], store=store)
    assert plan.call_count == 1
    job_id = start(plan, store)
    assert run(job_id, store, factory_for(sandbox)).ok
    assert statuses(sandbox, nos) == [CANCEL] * 5
    assert sandbox.request_counts == {"invoices_status_update_all": 1}
    assert all(store.get_invoice(no)["status"] == CANCEL for no in nos)
    assert store.audit_rows(target_id=nos[3]).iloc[0]["action"] == "invoices_status_update_all"


def test_each_failed_item_keeps_the_provider_code_and_message(sandbox, store):
    _, nos = seed(sandbox, store, 4)
    sandbox.set_invoice_status(nos[1], InvoiceStatus.DONE_SUCCEED)  # paid: cannot be cancelled
    store.record_status_change(nos[1], DONE, source="sync", actor=None)
    plan = plan_status_changes([(no, CANCEL) for no in nos] + [("NO-SUCH", CANCEL)], store=store)
    job_id = start(plan, store)
    summary = run(job_id, store, factory_for(sandbox))
    assert (summary.state, summary.done, summary.failed) == ("done", 3, 2)
    failed = {i["target_key"]: i for i in store.items_in_state(job_id, "failed")}
    assert failed[nos[1]]["provider_code"] == 6 and "cannot change" in failed[nos[1]]["message"]
    assert failed["NO-SUCH"]["provider_code"] == 12
    audit = store.audit_rows(target_id=nos[1]).iloc[0]
    assert (audit["provider_code"], audit["status_after"]) == (6, CANCEL)
    assert "result" in audit["details"] and "failed" in audit["details"]


# -- pause, cancel, resume ---------------------------------------------------------------------------


def test_pause_stops_claiming_and_resume_finishes_without_resending(sandbox, store):
    _, nos = seed(sandbox, store, 30)
    plan = plan_status_changes(
        [(no, CANCEL if i % 2 else DONE) for i, no in enumerate(nos)], store=store
    )
    job_id = start(plan, store)

    async def pause_after_five(n, _request):
        if n == 5:
            jobs.pause_job(job_id, store=store, actor="mehmet")

    summary = run(
        job_id,
        store,
        factory_for(sandbox, Tap(SandboxTransport(sandbox), pause_after_five)),
        concurrency=2,
    )
    assert summary.state == "paused" and summary.sending == 0
    assert 5 <= summary.done < 30 and summary.pending == 30 - summary.done
    assert sandbox.request_counts["invoice_status_update"] == summary.done
    with pytest.raises(JobError, match="paused"):
        run(job_id, store, factory_for(sandbox))
    assert jobs.resume_job(job_id, store=store, actor="mehmet") == "pending"
    summary = run(job_id, store, factory_for(sandbox))
    assert summary.ok and summary.done == 30
    assert sandbox.request_counts["invoice_status_update"] == 30
    actions = set(store.audit_rows(job_id=job_id)["action"])
    assert {"job.pause", "job.resume", "job.finish"} <= actions


def test_cancel_lets_in_flight_items_finish_and_skips_the_rest(sandbox, store):
    _, nos = seed(sandbox, store, 20)
    plan = plan_status_changes(
        [(no, CANCEL if i % 2 else DONE) for i, no in enumerate(nos)], store=store
    )
    job_id = start(plan, store)

    async def cancel_after_four(n, _request):
        if n == 4:
            assert jobs.cancel_job(job_id, store=store, actor="mehmet") == "cancelling"

    summary = run(
        job_id,
        store,
        factory_for(sandbox, Tap(SandboxTransport(sandbox), cancel_after_four)),
        concurrency=2,
    )
    assert summary.state == "cancelled"
    assert summary.done + summary.skipped == 20 and summary.pending == summary.sending == 0
    assert 4 <= summary.done <= 6
    changed = [s != WAITING for s in statuses(sandbox, nos)]
    assert sum(changed) == summary.done == sandbox.request_counts["invoice_status_update"]
    skipped = store.items_in_state(job_id, "skipped")
    assert all(not changed[nos.index(i["target_key"])] for i in skipped)
    assert {"job.cancel", "job.cancelled"} <= set(store.audit_rows(job_id=job_id)["action"])


def test_a_job_without_a_runner_is_cancelled_at_once(sandbox, store):
    _, nos = seed(sandbox, store, 3)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    assert jobs.cancel_job(job_id, store=store, actor="x") == "cancelled"
    assert jobs.job_summary(store, job_id).skipped == 3
    assert sandbox.request_counts == {}
    with pytest.raises(JobError):
        jobs.resume_job(job_id, store=store, actor="x")


def test_first_batch_pauses_for_review_then_runs_the_rest(sandbox, store):
    _, nos = seed(sandbox, store, 10)
    plan = plan_status_changes([(no, DONE) for no in nos], store=store)
    job_id = start(plan, store, first_batch=3)
    summary = run(job_id, store, factory_for(sandbox), concurrency=4)
    assert (summary.state, summary.done, summary.pending) == ("paused", 3, 7)
    assert sandbox.request_counts["invoice_status_update"] == 3
    assert not store.audit_rows(job_id=job_id, action="job.review_pause").empty
    jobs.resume_job(job_id, store=store, actor="reviewer")
    summary = run(job_id, store, factory_for(sandbox), concurrency=4)
    assert summary.ok and summary.done == 10
    assert sandbox.request_counts["invoice_status_update"] == 10


def test_a_refused_key_pauses_the_job_without_failing_rows(store):
    sandbox = Sandbox(paynet_keys=["sck_right"])
    _, nos = seed(sandbox, store, 5)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    summary = run(
        job_id,
        store,
        jobs.paynet_over(SandboxTransport(sandbox), secret_key="sck_wrong", sleep=instant),
    )
    assert summary.state == "paused" and summary.failed == 0 and summary.pending == 5
    assert "refused the key" in summary.note
    sandbox.close()


# -- crash recovery ------------------------------------------------------------------------------------


class LoseRepliesAfter(httpx.AsyncBaseTransport):
    """After ``keep`` replies, requests still reach the sandbox (and are applied) but their
    replies never come back: the runner dies with those items in 'sending'."""

    def __init__(self, inner, keep: int):
        self.inner, self.keep, self.applied, self.stuck = inner, keep, 0, 0
        self.never = asyncio.Event()

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        self.applied += 1
        if self.applied > self.keep:
            self.stuck += 1
            await self.never.wait()
        return response


def crash_mid_job(job_id, store, sandbox, *, keep: int, concurrency: int) -> None:
    """Run the job until `concurrency` requests are stuck after being applied, then kill the
    runner abruptly (the asyncio task is cancelled: no clean-up of the journal happens)."""

    async def main():
        lossy = LoseRepliesAfter(SandboxTransport(sandbox), keep)
        task = asyncio.ensure_future(
            jobs.run_job(
                job_id,
                store=store,
                client_factory=factory_for(sandbox, lossy),
                concurrency=concurrency,
                poll_interval=0,
            )
        )
        while lossy.stuck < concurrency:
            assert not task.done(), task
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_killed_creation_job_resumes_with_nothing_lost_and_nothing_sent_twice(sandbox, store):
    sub, _ = seed(sandbox, store, 0)
    n = 30
    plan = plan_invoices(read_invoice_rows(invoices_file(sub, n), "new.csv"), store=store)
    planned = sorted(c.payload["invoice_no"] for c in plan.calls)
    job_id = start(plan, store)
    sandbox.faults.fail_next(
        "create_invoice", "timeout_after"
    )  # one reply lost, the client looks it up
    crash_mid_job(job_id, store, sandbox, keep=10, concurrency=4)

    left = store.items_in_state(job_id, "sending")
    assert len(left) >= 4
    assert store.job(job_id)["state"] == "running"
    assert sandbox.request_counts["create_invoice"] == 14  # 10 answered, 4 applied but unanswered

    summary = run(job_id, store, factory_for(sandbox), concurrency=4)
    assert summary.ok and summary.done == n
    assert sorted(i.invoice_no for i in sandbox.invoices(subscription_id=sub)) == planned
    assert sandbox.request_counts["create_invoice"] == n  # not one creation sent twice
    recovered = [
        i
        for i in store.audit_rows(job_id=job_id, action="create_invoice")["details"]
        if '"recovered": true' in i
    ]
    assert len(recovered) >= 5  # 4 found by the resume, 1 by the client after the lost reply
    assert all(store.get_invoice(no) is not None for no in planned)


def test_a_killed_status_job_resumes_and_applies_every_change(sandbox, store):
    _, nos = seed(sandbox, store, 25)
    targets = [CANCEL if i % 3 else DONE for i in range(25)]
    plan = plan_status_changes(list(zip(nos, targets, strict=True)), store=store)
    job_id = start(plan, store)
    sandbox.faults.fail_next("invoice_status_update", "timeout_after")
    crash_mid_job(job_id, store, sandbox, keep=8, concurrency=3)
    assert len(store.items_in_state(job_id, "sending")) >= 3
    summary = run(job_id, store, factory_for(sandbox), concurrency=3)
    assert summary.ok and summary.done == 25
    assert statuses(sandbox, nos) == targets
    assert [store.get_invoice(no)["status"] for no in nos] == targets
    assert store.job_progress(job_id)["sending"] == 0


@pytest.mark.timeout(180)
def test_a_runner_process_killed_three_times_with_sigkill_loses_and_repeats_nothing(tmp_path):
    # bench/crash.py at a small N: 10% 500s, 5% dropped connections, three SIGKILLs.
    spec = importlib.util.spec_from_file_location("crash_drill", ROOT / "bench" / "crash.py")
    crash = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crash)
    result = crash.drill(tmp_path, n=100, kills=3, seed=11, concurrency=4, log=lambda _: None)
    assert result["checks"] == dict.fromkeys(result["checks"], True), result
    assert len(result["kills"]) == 3
    assert {"http_500", "disconnect"} <= set(result["faults_shown"])
    # Read the sandbox's record again, independently of the drill's own judging.
    with Sandbox(tmp_path / "paynet.db", record_requests=True) as sandbox:
        applied = [r.invoice_no for r in sandbox.received("create_invoice") if r.handled]
        stored = [i.invoice_no for i in sandbox.invoices()]
    assert len(stored) == len(set(stored)) == 100
    assert sorted(applied) == sorted(stored)  # each applied once; no "already exists" replies


# -- who may run a job ---------------------------------------------------------------------------------


def test_a_live_runner_elsewhere_is_respected_and_a_dead_one_is_taken_over(sandbox, store):
    _, nos = seed(sandbox, store, 3)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        store.set_job_state(job_id, "running", runner_pid=other.pid)
        store.job_heartbeat(job_id, other.pid)
        with pytest.raises(JobError, match=f"process {other.pid}"):
            run(job_id, store, factory_for(sandbox))
        assert jobs.stale_jobs(store) == []
    finally:
        other.stdin.close()
        other.wait(10)
    assert jobs.stale_jobs(store) == [job_id]
    assert run(job_id, store, factory_for(sandbox)).ok


def test_resume_stale_jobs_restarts_a_job_whose_runner_died(sandbox, store):
    _, nos = seed(sandbox, store, 4)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    store.set_job_state(job_id, "running", runner_pid=dead.pid)
    store.claim_items(job_id, 2)  # it died with two items in flight
    started = jobs.resume_stale_jobs(store=store, client_factory=factory_for(sandbox))
    assert started == [job_id]
    wait_for(lambda: store.job(job_id)["state"] == "done", what="the resumed job")
    assert statuses(sandbox, nos) == [DONE] * 4


def test_a_background_job_keeps_running_after_the_caller_returns(sandbox, store):
    _, nos = seed(sandbox, store, 15)

    def start_from_a_page() -> str:
        job_id = start(plan_status_changes([(no, CANCEL) for no in nos], store=store), store)
        jobs.run_job_in_background(job_id, store=store, client_factory=factory_for(sandbox))
        return job_id  # the page returns; nothing holds the thread

    job_id = start_from_a_page()
    wait_for(lambda: store.job(job_id)["state"] == "done", what="the background job")
    assert statuses(sandbox, nos) == [CANCEL] * 15


@pytest.mark.timeout(120)
def test_a_detached_runner_process_runs_the_job_from_the_store(store):
    from paynet_core.runtime import open_runtime
    from paynet_core.sandbox import open_sandbox

    runtime = open_runtime()
    sandbox = open_sandbox(runtime.settings.sandbox_db_path)
    _, nos = seed(sandbox, runtime.store, 6)
    job_id = jobs.start_job(
        plan_status_changes([(no, DONE) for no in nos], store=runtime.store),
        runtime=runtime,
        created_by="page",
        rate=0,
    )
    child = jobs.run_job_detached(job_id, runtime)
    assert child.wait(60) == 0, (
        Path(runtime.settings.db_path).parent / "jobs" / f"{job_id}.log"
    ).read_text()
    assert runtime.store.job(job_id)["state"] == "done"
    assert statuses(sandbox, nos) == [DONE] * 6


# -- overlapping jobs ----------------------------------------------------------------------------------


def test_a_second_job_on_the_same_invoices_is_refused_naming_the_first(sandbox, store):
    _, nos = seed(sandbox, store, 4)
    first = start(plan_status_changes([(no, DONE) for no in nos[:2]], store=store), store)
    with pytest.raises(JobError) as refused:
        start(plan_status_changes([(nos[1], CANCEL), (nos[2], CANCEL)], store=store), store)
    assert first in str(refused.value) and nos[1] in str(refused.value)
    assert nos[2] not in str(refused.value)
    # Items carry both the number and Paynet's id: each invoice is counted once, and the
    # dashboard gets the job id to link to.
    assert "with 1 of these invoices" in str(refused.value)
    assert "invoice_id" not in str(refused.value)
    assert isinstance(refused.value, JobConflictError) and refused.value.job_id == first
    assert pickle.loads(pickle.dumps(refused.value)).job_id == first  # crosses process pools
    start(plan_status_changes([(nos[3], CANCEL)], store=store), store)  # no overlap: fine
    run(first, store, factory_for(sandbox))
    start(plan_status_changes([(nos[1], CANCEL)], store=store), store)  # the first is done now


def test_a_whole_subscription_sweep_overlaps_any_invoice_of_it(sandbox, store):
    sub, nos = seed(sandbox, store, 3, whole=True)
    sweep = plan_status_changes([(no, CANCEL) for no in nos], store=store)
    assert sweep.collapsed
    start(plan_invoices(read_invoice_rows(invoices_file(sub, 1), "one.csv"), store=store), store)
    with pytest.raises(JobError, match=f"all invoices of subscription {sub}"):
        start(sweep, store)


def test_two_jobs_started_at_once_on_the_same_invoices_never_both_start(sandbox, store):
    _, nos = seed(sandbox, store, 6)
    plan = plan_status_changes([(no, DONE) for no in nos[:3]] + [(nos[5], DONE)], store=store)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def attempt():
        barrier.wait()
        try:
            outcomes.append(start(plan, store))
        except JobError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    started = [o for o in outcomes if isinstance(o, str)]
    assert len(started) == 1 and len(outcomes) == 4


# -- LIVE guards ---------------------------------------------------------------------------------------


def test_live_needs_a_typed_confirmation_and_a_rate_limit(sandbox, store):
    _, nos = seed(sandbox, store, 2)
    plan = plan_status_changes([(no, DONE) for no in nos], store=store)
    assert jobs.live_requires_confirmation(Mode.LIVE) and not jobs.live_requires_confirmation(
        "sandbox"
    )
    assert jobs.confirmation_phrase(plan) == "2"
    assert jobs.default_rate("live") == 5.0 and jobs.default_rate("test", 3) == 3.0
    assert (
        jobs.default_first_batch("live") == jobs.LIVE_FIRST_BATCH
        and jobs.default_first_batch("test") is None
    )
    live = dict(store=store, mode="live", created_by="x")
    with pytest.raises(JobError, match="typed confirmation"):
        jobs.start_job(plan, **live)
    with pytest.raises(JobError, match="typed confirmation"):
        jobs.start_job(plan, confirmation="3", **live)
    with pytest.raises(JobError, match="rate limit"):
        jobs.start_job(plan, confirmation="2", rate=0, **live)
    job_id = jobs.start_job(plan, confirmation="2", **live)
    assert store.job(job_id)["options"]["rate"] == 5.0


def test_nothing_to_send_is_refused(store):
    with pytest.raises(JobError, match="no calls"):
        start(plan_status_changes([], store=store), store)


def test_job_rows_hold_no_secrets(sandbox, store):
    _, nos = seed(sandbox, store, 2)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    run(
        job_id,
        store,
        jobs.paynet_over(SandboxTransport(sandbox), secret_key="sck_secret_9999", sleep=instant),
    )
    if store.dialect == "postgresql":
        from paynet_core.store.copying import TABLE_KEYS

        rows = (r for t in TABLE_KEYS for r in store.db.conn.execute(f"SELECT * FROM {t}"))
        dump = "\n".join(map(str, rows))
    else:
        dump = "\n".join(store.db.conn.iterdump())
    assert "sck_secret_9999" not in dump


def test_job_summary_reads_at_a_glance(sandbox, store):
    _, nos = seed(sandbox, store, 1)
    job_id = start(plan_status_changes([(nos[0], DONE)], store=store), store)
    summary = run(job_id, store, factory_for(sandbox))
    assert summary.as_dict() | {"job_id": "x"} == {
        "job_id": "x",
        "state": "done",
        "total": 1,
        "done": 1,
        "failed": 0,
        "skipped": 0,
        "pending": 0,
        "sending": 0,
        "note": None,
    }
    assert datetime.fromisoformat(store.job(job_id)["finished_at"]).tzinfo is not None
    assert ISTANBUL  # dates are Istanbul's, as everywhere in the cache


def test_a_number_found_with_another_amount_is_not_taken_for_ours(sandbox, store):
    sub, _ = seed(sandbox, store, 0)
    plan = plan_invoices(read_invoice_rows(invoices_file(sub, 1), "one.csv"), store=store)
    no = plan.calls[0].payload["invoice_no"]
    job_id = start(plan, store)
    store.claim_items(job_id, 1)  # a runner died after claiming it...
    sandbox.add_invoice(
        subscription_id=sub, amount=99_999, invoice_no=no
    )  # ...and someone else took the number
    summary = run(job_id, store, factory_for(sandbox))
    assert summary.failed == 1
    assert "another amount" in store.items_in_state(job_id, "failed")[0]["message"]


@pytest.mark.parametrize(
    ("failures", "state"), [(jobs.CREATE_TRIES - 1, "done"), (jobs.CREATE_TRIES, "failed")]
)
def test_a_creation_proven_absent_is_sent_again_within_one_budget(store, failures, state):
    # Each failed send is followed by a lookup that finds nothing, then sent again while the
    # job's one budget (CREATE_TRIES, not rounds of the client's tries) lasts. Judged by what
    # the sandbox handled.
    with Sandbox(record_requests=True) as sandbox:
        sub, _ = seed(sandbox, store, 0)
        plan = plan_invoices(read_invoice_rows(invoices_file(sub, 1), "one.csv"), store=store)
        no = plan.calls[0].payload["invoice_no"]
        sandbox.faults.fail_next("create_invoice", "http_500", count=failures)
        summary = run(start(plan, store), store, factory_for(sandbox))
        creations = sandbox.received("create_invoice")
        assert [r.fault for r in creations[:failures]] == ["http_500"] * failures
        handled = [r for r in creations if r.handled]
        assert len(handled) == (state == "done")
        assert [i.invoice_no for i in sandbox.invoices(subscription_id=sub)] == (
            [no] if state == "done" else []
        )
        assert store.job_items(summary.job_id)["state"].tolist() == [state]


def test_a_lookup_that_fails_every_retry_once_is_walked_again_before_giving_up(sandbox, store):
    sub, _ = seed(sandbox, store, 0)
    plan = plan_invoices(read_invoice_rows(invoices_file(sub, 1), "one.csv"), store=store)
    p = plan.calls[0].payload
    job_id = start(plan, store)
    store.claim_items(job_id, 1)  # a runner died after sending it...
    sandbox.add_invoice(subscription_id=sub, amount=p["amount"], invoice_no=p["invoice_no"])
    sandbox.faults.fail_next("invoice_list", "http_500", count=4)  # ...and the first walk fails
    summary = run(job_id, store, factory_for(sandbox))
    assert summary.done == 1 and "found at Paynet" in store.job_items(job_id)["message"][0]
    assert sandbox.request_counts == {**sandbox.request_counts, "invoice_list": 5}
    assert "create_invoice" not in sandbox.request_counts  # never sent again


def test_an_invoice_no_already_made_by_an_earlier_attempt_counts_as_done(sandbox, store):
    # E.g. a failed row re-uploaded with its invoice_no after its first creation went through.
    sub, _ = seed(sandbox, store, 0)
    plan = plan_invoices(read_invoice_rows(invoices_file(sub, 2), "again.csv"), store=store)
    ours, taken = (c.payload for c in plan.calls)
    sandbox.add_invoice(subscription_id=sub, amount=ours["amount"], invoice_no=ours["invoice_no"])
    sandbox.add_invoice(subscription_id=sub, amount=1, invoice_no=taken["invoice_no"])
    summary = run(start(plan, store), store, factory_for(sandbox))
    assert (summary.done, summary.failed) == (1, 1)
    assert sandbox.request_counts["create_invoice"] == 2  # each sent once, each refused as taken
    assert len(sandbox.invoices(subscription_id=sub)) == 2  # no copy made
    assert store.get_invoice(ours["invoice_no"])["amount_kurus"] == ours["amount"]
    assert "another amount" in store.items_in_state(summary.job_id, "failed")[0]["message"]


def test_a_job_never_runs_against_another_mode_than_it_was_planned_for(sandbox, store, tmp_path):
    from paynet_core.config import Settings
    from paynet_core.runtime import Runtime

    _, nos = seed(sandbox, store, 2)
    job_id = start(plan_status_changes([(no, DONE) for no in nos], store=store), store)
    live = Runtime(Settings(mode=Mode.LIVE, db_path=tmp_path / "cache.db"))
    with pytest.raises(JobError, match="planned for sandbox"):
        asyncio.run(jobs.run_job(job_id, live, store=store, client_factory=factory_for(sandbox)))
    assert store.job(job_id)["state"] == "pending" and sandbox.request_counts == {}


def test_the_progress_of_many_jobs_is_one_query(sandbox, store):
    _, nos = seed(sandbox, store, 6)
    first = start(plan_status_changes([(no, CANCEL) for no in nos[:4]], store=store), store)
    run(first, store, factory_for(sandbox))
    second = start(plan_status_changes([(no, CANCEL) for no in nos[4:]], store=store), store)
    if store.dialect == "postgresql":  # the statement count is SQLite's trace; same answers
        many = store.jobs_progress([first, second, "nosuchjob"])
    else:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        try:
            many = store.jobs_progress([first, second, "nosuchjob"])
        finally:
            store.db.conn.set_trace_callback(None)
        assert len(statements) == 1
    assert many == {first: store.job_progress(first), second: store.job_progress(second)}
    assert many[first]["done"] == 4 and many[second]["pending"] == 2
    assert store.jobs_progress([]) == {}
