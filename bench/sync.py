"""Benchmark: a Paynet sync at size, into an empty cache and then again with nothing changed.

    uv run python bench/sync.py                          # 10,000 subscriptions, 100,000 invoices
    uv run python bench/sync.py --subscriptions 1000 --invoices 10000    # quicker

The sandbox is seeded with the demo generator (what ``paynet-ops sandbox seed`` runs) on a fixed
day, once per size (kept under ``BENCH_DIR``, default a temporary folder). Each sync runs in a
child process of its own, so its peak RSS is its own: the Paynet client over the in-process
sandbox transport (no latency: the time is the client's, the sandbox's and the store's CPU).

Requests are counted twice: by the sync itself (``SyncReport.requests``, an httpx event hook)
and by the sandbox (its persisted request counters). Each is printed beside its baseline,
computed from the sandbox's own records without the sync's code:

* first sync: the fewest requests that can read everything: every page of the subscription
  list of each 31-day creation window, plus every page of ``invoice_list`` per subscription;
* second sync: one ``list`` of today's window plus one ``invoice_list`` page per subscription
  whose invoices Paynet may still move (see paynet_core.ops.sync: an invoice Waiting or Done
  unsucceed, one dated within 35 days or ahead, or a subscription created within 35 days).
  Paynet has no "changed since" filter and lists invoices only per subscription, so this is
  the least that can see every change that can still happen.

Peak RSS beside the child's RSS right after its imports (what the sync adds); time beside the
``invoice_list`` requests of the first sync sent by a bare loop without the store (the client
and sandbox alone). Wall and CPU seconds both: on a shared machine the wall clock also counts
the time spent waiting for a processor. The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 23)


def _rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory in MB.

    Not ``getrusage``: Linux carries ``ru_maxrss`` over ``exec`` from the parent, so a child
    would report the parent's peak (here the baseline pass, which holds every invoice)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(path: Path, subscriptions: int, invoices: int) -> float:
    from paynet_core.sandbox import Sandbox, seed_demo

    started = time.perf_counter()
    with Sandbox(path) as sandbox:
        seed_demo(
            sandbox,
            today=TODAY,
            subscriptions=subscriptions,
            invoices=invoices,
            payments=0,
        )
    return time.perf_counter() - started


def child_sync(sandbox_path: str, cache_path: str) -> None:
    """One sync_paynet run; prints its figures as JSON."""
    from paynet_core.ops.sync import sync_paynet
    from paynet_core.paynet import PaynetClient
    from paynet_core.sandbox import Sandbox, SandboxTransport
    from paynet_core.store import Store

    floor = _rss_mb()
    with Sandbox(sandbox_path) as sandbox, Store.open(cache_path) as store:
        before = dict(sandbox.request_counts)
        with PaynetClient(transport=SandboxTransport(sandbox), sleep=lambda s: None) as client:
            started = time.perf_counter()
            cpu = time.process_time()
            report = sync_paynet(store, client, today=TODAY)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
        after = dict(sandbox.request_counts)
        received = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
        cached = {
            "subscriptions": int(store.query("SELECT COUNT(*) AS n FROM subscriptions")["n"][0]),
            "invoices": int(store.query("SELECT COUNT(*) AS n FROM invoices")["n"][0]),
        }
    print(
        json.dumps(
            {
                "requests": report.requests,
                "received": received,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": _rss_mb(),
                "rss_after_imports_mb": floor,
                "new": report.new,
                "changed": report.changed,
                "unchanged": report.unchanged,
                "failed_windows": len(report.failed_windows),
                "cached": cached,
            }
        )
    )


def child_bare(sandbox_path: str, subscription_ids_file: str) -> None:
    """The invoice_list requests of a first sync, sent by a bare loop (no store): a yardstick."""
    from paynet_core.paynet import PaynetClient
    from paynet_core.sandbox import Sandbox, SandboxTransport

    ids = json.loads(Path(subscription_ids_file).read_text())
    with (
        Sandbox(sandbox_path) as sandbox,
        PaynetClient(transport=SandboxTransport(sandbox), sleep=lambda s: None) as client,
    ):
        started = time.perf_counter()
        cpu = time.process_time()
        n = sum(len(client.list_invoices(subscription_id=sub)) for sub in ids)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "invoices": n}))


def baselines(sandbox_path: Path) -> dict:
    """The fewest requests each sync can send, from the sandbox's records (see the docstring)."""
    from paynet_core import dates
    from paynet_core.ops.sync import DEFAULT_HISTORY_DAYS, PAYNET_WINDOW_DAYS, RECENT_DAYS
    from paynet_core.paynet.calls import PAGE_SIZE
    from paynet_core.paynet.models import InvoiceStatus
    from paynet_core.sandbox import Sandbox

    with Sandbox(sandbox_path) as sandbox:
        subs = sandbox.subscriptions()
        per_sub: dict[str, list] = {s.subscription_id: [] for s in subs}
        for inv in sandbox.invoices():
            per_sub.setdefault(inv.subscription_id, []).append(inv)
    start = TODAY - timedelta(days=DEFAULT_HISTORY_DAYS)
    windows = dates.date_windows(start, TODAY, PAYNET_WINDOW_DAYS)
    created = [dates.to_istanbul(s.created_at).date() for s in subs]
    list_pages = sum(
        max(1, math.ceil(sum(first <= day <= last for day in created) / PAGE_SIZE))
        for first, last in windows
    )
    invoice_pages = sum(max(1, math.ceil(len(v) / PAGE_SIZE)) for v in per_sub.values())
    recent = TODAY - timedelta(days=RECENT_DAYS)
    live_statuses = (InvoiceStatus.WAITING, InvoiceStatus.DONE_UNSUCCEED)
    live = [
        sub.subscription_id
        for sub, day in zip(subs, created, strict=True)
        if day >= recent
        or any(
            i.status in live_statuses or dates.to_istanbul(i.val_date).date() >= recent
            for i in per_sub[sub.subscription_id]
        )
    ]
    live_pages = sum(max(1, math.ceil(len(per_sub[s]) / PAGE_SIZE)) for s in live)
    return {
        "subscriptions": len(subs),
        "invoices": sum(len(v) for v in per_sub.values()),
        "first_min_requests": list_pages + invoice_pages,
        "second_min_requests": 1 + live_pages,
        "second_live_subscriptions": len(live),
        "subscription_ids": list(per_sub),
    }


def _run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    args = parser.parse_args()
    base = Path(os.environ.get("BENCH_DIR") or tempfile.gettempdir())
    sandbox_path = base / f"paynet-sync-bench-{args.subscriptions}-{args.invoices}.db"
    seeded_s = None
    if not sandbox_path.exists():
        print(f"seeding {args.subscriptions:,} subscriptions, {args.invoices:,} invoices...")
        seeded_s = seed(sandbox_path, args.subscriptions, args.invoices)
    want = baselines(sandbox_path)
    workdir = Path(tempfile.mkdtemp(prefix="paynet-sync-", dir=os.environ.get("BENCH_DIR")))
    cache = workdir / "cache.db"
    ids_file = workdir / "subscriptions.json"
    ids_file.write_text(json.dumps(want.pop("subscription_ids")))

    first = _run_child("_sync", str(sandbox_path), str(cache))
    print(
        f"first sync: {first['requests']:,} requests (fewest possible {want['first_min_requests']:,})"
        f" in {first['wall_s']:.1f} s; peak RSS {first['peak_rss_mb']:.0f} MB"
        f" ({first['rss_after_imports_mb']:.0f} MB after imports)",
        flush=True,
    )
    second = _run_child("_sync", str(sandbox_path), str(cache))
    print(
        f"second sync, nothing changed: {second['requests']:,} requests (fewest possible "
        f"{want['second_min_requests']:,}: {want['second_live_subscriptions']:,} subscriptions "
        f"can still change) in {second['wall_s']:.1f} s; {second['new'] + second['changed']} written",
        flush=True,
    )
    bare = _run_child("_bare", str(sandbox_path), str(ids_file))
    print(f"bare invoice_list loop, no store: {bare['wall_s']:.1f} s", flush=True)

    figures = {
        "subscriptions": want["subscriptions"],
        "invoices": want["invoices"],
        "seed_s": round(seeded_s, 1) if seeded_s is not None else None,
        "first_requests": first["requests"],
        "first_requests_received": sum(first["received"].values()),
        "first_requests_min": want["first_min_requests"],
        "first_wall_s": round(first["wall_s"], 2),
        "first_cpu_s": round(first["cpu_s"], 2),
        "first_bare_invoice_list_wall_s": round(bare["wall_s"], 2),
        "first_bare_invoice_list_cpu_s": round(bare["cpu_s"], 2),
        "first_peak_rss_mb": round(first["peak_rss_mb"], 1),
        "first_rss_after_imports_mb": round(first["rss_after_imports_mb"], 1),
        "first_cached": first["cached"],
        "first_failed_windows": first["failed_windows"],
        "second_requests": second["requests"],
        "second_requests_received": sum(second["received"].values()),
        "second_requests_by_operation": second["received"],
        "second_requests_min": want["second_min_requests"],
        "second_live_subscriptions": want["second_live_subscriptions"],
        "second_written": second["new"] + second["changed"],
        "second_wall_s": round(second["wall_s"], 2),
        "second_cpu_s": round(second["cpu_s"], 2),
        "second_peak_rss_mb": round(second["peak_rss_mb"], 1),
        "targets_met": {
            "first_reads_everything": first["cached"]
            == {"subscriptions": want["subscriptions"], "invoices": want["invoices"]},
            "first_at_min_requests": first["requests"] == want["first_min_requests"],
            "second_at_min_requests": second["requests"] == want["second_min_requests"],
            "second_writes_nothing": second["new"] + second["changed"] == 0,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_sync":
        child_sync(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "_bare":
        child_bare(sys.argv[2], sys.argv[3])
    else:
        main()
