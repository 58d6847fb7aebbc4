"""Crash drill: a creation job killed with SIGKILL three times, resumed each time, faults on.

    uv run python bench/crash.py                    # N = 2,000 (about a minute)
    uv run python bench/crash.py --n 200 --seed 7   # quicker, another random draw

The sandbox is served over loopback HTTP from this process and answers 10% of all requests
with a 500 and drops the connection on 5% *after* applying them (the case that duplicates
invoices when a client resends blindly), every request 10–20 ms late. The job runs in its own
process (``python -m paynet_core.cli jobs run``, what the dashboard detaches), which is killed with
SIGKILL at three random moments (a random number of creations received, plus a random few
milliseconds) and started again; after the third kill it runs to the end, faults still on.

Judged by the sandbox's own record (``Sandbox(record_requests=True)``): what it stored (each
planned invoice exists, once, with its amount; nothing else on the subscription) and what it
received (per planned invoice_no, creations that reached the API: exactly one answered "created",
and none answered "already exists", i.e. none sent twice after being applied). The job's own
journal must agree: every item done.

The last line of output is one JSON object; the exit status is 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paynet_core.importing import read_invoice_rows  # noqa: E402
from paynet_core.jobs import start_job  # noqa: E402
from paynet_core.jobs.planner import plan_invoices  # noqa: E402
from paynet_core.sandbox import Sandbox, serve  # noqa: E402
from paynet_core.store import Store  # noqa: E402

#: 2/3 of the faulted requests get a 500, 1/3 a dropped connection: 10% and 5% of all.
FAULT_RATE = 0.15
FAULT_KINDS = ("http_500", "http_500", "disconnect")
CREATED, TAKEN = 0, 5  # Paynet's codes: success, "already exists"


def drill(
    workdir: Path,
    *,
    n: int = 2000,
    kills: int = 3,
    seed: int = 2026,
    concurrency: int = 8,
    log=print,
) -> dict:
    """Run the drill in ``workdir`` (it leaves ``cache.db`` and ``paynet.db`` there) and return
    its figures; ``result["ok"]`` is whether every check held."""
    rng = random.Random(seed)
    store = Store.open(workdir / "cache.db")
    sandbox = Sandbox(workdir / "paynet.db", record_requests=True)
    sub = sandbox.add_subscription(amount=1000).subscription_id
    rows = "".join(f"{sub};{10 + i % 990},{i % 100:02d};15.01.2027\n" for i in range(n))
    plan = plan_invoices(
        read_invoice_rows(("abonelik_no;tutar;tarih\n" + rows).encode(), "drill.csv"),
        store=store,
    )
    planned = {c.payload["invoice_no"]: c.payload["amount"] for c in plan.calls}
    assert len(planned) == n, plan.invalid_records[:3]
    job_id = start_job(
        plan,
        store=store,
        mode="sandbox",
        created_by="drill@example.com",
        concurrency=concurrency,
        rate=0,
    )
    sandbox.faults.set_latency(0.010, jitter=0.010)
    sandbox.faults.timeout_seconds = 0.5
    sandbox.faults.set_random(FAULT_RATE, kinds=FAULT_KINDS)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
    env |= {
        "PAYNET_OPS_MODE": "sandbox",
        "PAYNET_OPS_DB": str(workdir / "cache.db"),
        "PAYNET_OPS_SANDBOX_DB": str(workdir / "unused-sandbox.db"),
    }
    # Kill points: creations received, drawn at random; each runner sends some before its kill.
    step = max(2, n // 50)
    marks = sorted(rng.sample(range(n // 10, n * 3 // 4, step), kills))
    kills_done: list[dict] = []
    started = time.monotonic()
    with serve(sandbox) as server:
        command = [
            sys.executable,
            "-m",
            "paynet_core.cli",
            "jobs",
            "run",
            job_id,
            "--paynet-url",
            server.base_url,
        ]

        def runner() -> subprocess.Popen:
            log_file = (workdir / f"runner-{len(kills_done) + 1}.log").open("wb")
            with log_file:
                return subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log_file
                )

        for mark in marks:
            mark = max(mark, _creations(sandbox) + step)
            proc = runner()
            while _creations(sandbox) < mark:
                if proc.poll() is not None:
                    raise RuntimeError(f"the runner ended before the kill; see {workdir}")
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc.stdout.close()
            sending = len(store.items_in_state(job_id, "sending"))
            kills_done.append(
                {
                    "after_creations": _creations(sandbox),
                    "left_in_flight": sending,
                    "job_state": store.job(job_id)["state"],
                }
            )
            log(
                f"killed after {kills_done[-1]['after_creations']} creations; "
                f"{sending} items left in flight"
            )
        proc = runner()
        out, _ = proc.communicate(timeout=600)
    wall = time.monotonic() - started
    summary = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"the last runner failed ({proc.returncode}); see {workdir}")

    # -- judge by what the sandbox stored and received ---------------------------------------
    stored = Counter(i.invoice_no for i in sandbox.invoices(subscription_id=sub))
    amounts = {i.invoice_no: i.amount for i in sandbox.invoices(subscription_id=sub)}
    received = sandbox.received()
    creations = [r for r in received if r.operation == "create_invoice"]
    handled_ok = Counter(r.invoice_no for r in creations if r.handled and r.code == CREATED)
    refused_taken = [r.invoice_no for r in creations if r.handled and r.code == TAKEN]
    faults = Counter(r.fault for r in received if r.fault)
    items = store.job_items(job_id)
    checks = {
        "every_planned_invoice_stored_once": set(stored) == set(planned)
        and all(c == 1 for c in stored.values()),
        "amounts_as_planned": all(amounts.get(no) == a for no, a in planned.items()),
        "every_creation_applied_exactly_once": set(handled_ok) == set(planned)
        and all(c == 1 for c in handled_ok.values()),
        "none_sent_again_after_applied": not refused_taken,
        "job_items_all_done": set(items["state"]) == {"done"} and len(items) == n,
        "each_kill_left_work_in_flight": all(k["left_in_flight"] for k in kills_done),
    }
    result = {
        "n": n,
        "seed": seed,
        "concurrency": concurrency,
        "kills": kills_done,
        "wall_s": round(wall, 1),
        "requests_received": len(received),
        "create_requests_received": len(creations),
        "faults_shown": dict(faults),
        # Creations applied whose reply was lost: each one a duplicate under a blind retry.
        "creations_applied_reply_lost": sum(r.handled and r.fault is not None for r in creations),
        "invoice_list_pages": sum(r.operation == "invoice_list" for r in received),
        "job_summary": {k: summary.get(k) for k in ("state", "done", "failed", "skipped")},
        "failed_items": [
            {"invoice_no": r["target_key"], "attempts": r["attempts"], "message": r["message"]}
            for r in store.items_in_state(job_id, "failed")[:5]
        ],
        "checks": checks,
        "ok": all(checks.values()),
    }
    sandbox.close()
    store.close()
    return result


def _creations(sandbox: Sandbox) -> int:
    return sandbox.request_counts.get("create_invoice", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the databases and runner logs")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="paynet-crash-")
    try:
        print(
            f"crash drill: {args.n} creations, {args.kills} SIGKILLs, "
            f"{FAULT_RATE:.0%} faults (500s and dropped connections), seed {args.seed}"
        )
        result = drill(
            Path(tmp), n=args.n, kills=args.kills, seed=args.seed, concurrency=args.concurrency
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for name, held in result["checks"].items():
        print(f"  {'ok  ' if held else 'FAIL'} {name.replace('_', ' ')}")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
