"""Benchmark: 10,000 status changes against the sandbox over loopback HTTP with 40 ms latency.

    uv run python bench/bulk.py                 # full size (about 1 min 40 s)
    uv run python bench/bulk.py --n 2000        # quicker

(a) a naive loop: one ``httpx.Client``, one request after another (what a notebook does). It
    runs on ``--naive-n`` invoices (default 500) and is extrapolated to N: 10,000 × 40 ms would
    take 400 s and measure nothing new. It bounds (b)'s speedup: at concurrency 32 no run beats
    N × latency / 32, so speedup ≤ 32 × (a's time per request) / latency, e.g. 33.6× when (a)
    takes 42 ms a request (``b_speedup_ceiling_at_limit``). 35× within 1.15× of the limit
    needs (a) at 50 ms a request or more: on a quiet machine (a) is faster than that; on a busy
    one each of its requests also waits for a processor, twice.
(b) the engine (plan → journal → run) at concurrency 32, no rate limit.
(c) the engine at 200 requests/s.

The sandbox runs in a child process (``--server thread`` runs it in this process instead; on
two cores a server thread shares the GIL with the engine, and both are CPU-bound at these
rates, so that measures the interpreter lock, not the engine). ``--server-procs 2`` starts two
server processes on one port (SO_REUSEPORT) over one state file. The child notes the arrival
time of every request (``TimedSandbox``, a thin wrapper in this file) and reports its own CPU
time; the engine side notes when each request leaves the rate limiter (``SendLog``). (c)'s
one-second windows are counted from both. ``BENCH_DIR`` picks where the state files go.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY = 0.040
CONCURRENCY = 32
RATE = 200.0
KEY = "sck_bench_local_0001"


# -- the server side (child process, or a thread with --server thread) ----------------------------


class _TimedFaults:
    """The sandbox's FaultPlan, noting the arrival time of each request (the door asks it for
    the latency as soon as a request has arrived)."""

    def __init__(self, faults, arrivals: list[int]):
        self._faults = faults
        self._arrivals = arrivals

    def next_delay(self) -> float:
        self._arrivals.append(time.monotonic_ns())
        return self._faults.next_delay()

    def __getattr__(self, name):
        return getattr(self._faults, name)


class TimedSandbox:
    """A Sandbox that logs request arrival times; everything else is the sandbox's own."""

    def __init__(self, sandbox):
        self._sandbox = sandbox
        self.arrivals: list[int] = []
        self.faults = _TimedFaults(sandbox.faults, self.arrivals)

    def handle(self, method, path, headers, body):
        return self._sandbox.handle(method, path, headers, body)

    def __getattr__(self, name):
        return getattr(self._sandbox, name)


def build_sandbox(path: str, n: int):
    """The sandbox state with N invoices (built once; server processes then open the file)."""
    from paynet_core.sandbox import Sandbox

    sandbox = Sandbox(path, paynet_keys=[KEY])
    if sandbox.get_invoice(f"BENCH{n - 1:06d}") is not None:
        sandbox.faults.set_latency(LATENCY)
        return TimedSandbox(sandbox)
    with sandbox.state.transaction():
        subs = [sandbox.add_subscription(amount=10_000) for _ in range(max(1, n // 100))]
        for i in range(n):
            sandbox.add_invoice(
                subscription_id=subs[i % len(subs)].subscription_id,
                amount=10_000 + i,
                invoice_no=f"BENCH{i:06d}",
            )
    sandbox.faults.set_latency(LATENCY)
    return TimedSandbox(sandbox)


def serve_child(path: str, n: int, port: int) -> None:
    """A child: open the built sandbox, serve it, answer 'reset' / 'dump FILE' / 'quit' on stdin.

    Several children share one port (SO_REUSEPORT: the kernel spreads connections over them)
    and one state file, like a provider's servers behind a load balancer.
    """
    import socket

    from paynet_core.sandbox import SandboxServer

    timed = build_sandbox(path, n)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    with SandboxServer(timed, sock).start() as server:
        print(server.base_url, flush=True)
        cpu = time.process_time()
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "reset":
                timed.arrivals.clear()
                cpu = time.process_time()
            elif command == "dump":
                Path(arg).write_text(
                    json.dumps(
                        {
                            "arrivals": timed.arrivals,
                            "cpu": time.process_time() - cpu,
                            "counts": timed.request_counts,
                        }
                    )
                )
            elif command == "quit":
                break
            print("ok", flush=True)


class ChildServer:
    """``procs`` sandbox server processes on one loopback port."""

    def __init__(self, path: str, n: int, procs: int = 1):
        build_sandbox(path, n).close()
        self.procs = []
        port = 0
        for _ in range(procs):
            proc = subprocess.Popen(
                [sys.executable, __file__, "_serve", path, str(n), str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            self.base_url = proc.stdout.readline().strip()
            if not self.base_url.startswith("http"):
                raise RuntimeError("a sandbox server process did not start")
            port = int(self.base_url.rsplit(":", 1)[1])
            self.procs.append(proc)

    def _say(self, line: str) -> None:
        for proc in self.procs:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        for proc in self.procs:
            assert proc.stdout.readline().strip() == "ok"

    def reset(self) -> None:
        self._say("reset")

    def dump(self) -> dict:
        targets = []
        for proc in self.procs:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
                targets.append(f.name)
            proc.stdin.write(f"dump {f.name}\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "ok"
        merged = {"arrivals": [], "cpu": 0.0, "counts": None}
        for target in targets:
            data = json.loads(Path(target).read_text())
            os.unlink(target)
            merged["arrivals"] += data["arrivals"]
            merged["cpu"] += data["cpu"]
            merged["counts"] = data["counts"]  # persisted in the shared state: the same for all
        return merged

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass
        for proc in self.procs:
            proc.wait(10)


class ThreadServer:
    """The same, as a thread of this process (to show what the GIL costs)."""

    def __init__(self, path: str, n: int):
        from paynet_core.sandbox import serve

        self.timed = build_sandbox(path, n)
        self.server = serve(self.timed)
        self.base_url = self.server.base_url
        self._cpu = 0.0

    def reset(self) -> None:
        self.timed.arrivals.clear()
        self._cpu = time.thread_time()  # not meaningful across threads; reported as None

    def dump(self) -> dict:
        return {
            "arrivals": list(self.timed.arrivals),
            "cpu": None,
            "counts": self.timed.request_counts,
        }

    def close(self) -> None:
        self.server.stop()


# -- the three runs ---------------------------------------------------------------------------------


def naive(base_url: str, invoice_nos: list[str]) -> float:
    """What a notebook does: one client, one request after another."""
    import httpx

    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for no in invoice_nos:
            reply = client.post(
                "/v1/subscription/invoice_status_update",
                json={"invoice_no": no, "status": 4},
                headers={"Authorization": f"Basic {KEY}"},
            )
            reply.raise_for_status()
            assert reply.json()["code"] == 0, reply.text
    return time.perf_counter() - started


def engine(
    base_url: str, store, invoice_nos: list[str], status: int, *, rate: float, label: str
) -> dict:
    from paynet_core.jobs import paynet_over_http, run_job, start_job
    from paynet_core.jobs.loop import run as run_loop
    from paynet_core.jobs.planner import plan_status_changes

    t0 = time.perf_counter()
    plan = plan_status_changes([(no, status) for no in invoice_nos], store=store)
    job_id = start_job(
        plan,
        store=store,
        mode="sandbox",
        created_by="bench",
        source_name=label,
        concurrency=CONCURRENCY,
        rate=rate,
    )
    t1 = time.perf_counter()
    cpu0 = time.process_time()
    sends: list[int] = []
    over_http = paynet_over_http(base_url, secret_key=KEY)

    def factory(wrap):
        # wrap() puts the job's rate limiter in front; SendLog sits behind it, so it notes the
        # moment each request leaves the limiter for the network.
        return over_http(lambda transport: wrap(SendLog(transport, sends)))

    summary = run_loop(run_job(job_id, store=store, client_factory=factory))  # uvloop
    t2 = time.perf_counter()
    if summary.done != len(invoice_nos):
        raise SystemExit(f"{label}: {summary}")
    return {
        "plan_s": t1 - t0,
        "wall_s": t2 - t1,
        "cpu_s": time.process_time() - cpu0,
        "job_id": job_id,
        "sends": sends,
    }


class SendLog:
    """An httpx transport that notes when each request is passed on (engine side)."""

    def __init__(self, inner, log: list[int]):
        self.inner, self.log = inner, log

    async def handle_async_request(self, request):
        self.log.append(time.monotonic_ns())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def max_in_window(arrivals_ns: list[int], window_ns: int = 1_000_000_000) -> int:
    """The most requests that arrived within any half-open window [t, t + 1 s)."""
    times = sorted(arrivals_ns)
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect_left(times, t + window_ns, lo=i) - i)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--naive-n", type=int, default=500)
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--server-procs",
        type=int,
        default=1,
        help="sandbox server processes sharing the port (process server only)",
    )
    args = parser.parse_args()
    n = args.n
    from paynet_core.store import Store

    workdir = Path(tempfile.mkdtemp(prefix="paynet-bench-", dir=os.environ.get("BENCH_DIR")))
    print(
        f"building a sandbox with {n:,} invoices ({args.server} server, {LATENCY * 1000:.0f} ms latency)...",
        flush=True,
    )
    if args.server == "process":
        server = ChildServer(str(workdir / "sandbox.db"), n, args.server_procs)
    else:
        server = ThreadServer(str(workdir / "sandbox.db"), n)
    store = Store.open(workdir / "cache.db")
    invoice_nos = [f"BENCH{i:06d}" for i in range(n)]
    limit_s = n * LATENCY / CONCURRENCY
    try:
        naive_n = min(args.naive_n, n)
        wall_a_sample = naive(server.base_url, invoice_nos[:naive_n])
        rps_a = naive_n / wall_a_sample
        wall_a = n / rps_a
        print(
            f"(a) naive loop: {naive_n} requests in {wall_a_sample:.1f} s = {rps_a:.1f} req/s; "
            f"extrapolated to {n:,}: {wall_a:.0f} s",
            flush=True,
        )

        server.reset()
        b = engine(server.base_url, store, invoice_nos, 4, rate=0, label="bench-b")
        b_server = server.dump()
        rps_b = n / b["wall_s"]
        print(
            f"(b) engine, concurrency {CONCURRENCY}, no limit: {b['wall_s']:.2f} s = {rps_b:.0f} req/s "
            f"(plan+journal {b['plan_s']:.2f} s); limit N×latency/concurrency = {limit_s:.2f} s "
            f"→ {b['wall_s'] / limit_s:.2f}× the limit; {wall_a / b['wall_s']:.1f}× faster than (a)",
            flush=True,
        )
        print(
            f"    CPU per request: engine {b['cpu_s'] / n * 1000:.2f} ms"
            + (f", sandbox server {b_server['cpu'] / n * 1000:.2f} ms" if b_server["cpu"] else ""),
            flush=True,
        )

        server.reset()
        c = engine(server.base_url, store, invoice_nos, 0, rate=RATE, label="bench-c")
        c_server = server.dump()
        arrivals = sorted(c_server["arrivals"])
        span = (arrivals[-1] - arrivals[0]) / 1e9
        achieved = (len(arrivals) - 1) / span if span > 0 else float("nan")
        peak = max_in_window(arrivals)
        peak_sent = max_in_window(c["sends"])
        print(
            f"(c) engine at {RATE:.0f} req/s: {c['wall_s']:.2f} s; {len(arrivals):,} requests arrived over "
            f"{span:.2f} s = {achieved:.1f} req/s ({achieved / RATE:.1%} of the rate); "
            f"most in any one-second window: {peak} as the sandbox received them, "
            f"{peak_sent} as the engine sent them",
            flush=True,
        )
    finally:
        server.close()
        store.close()

    figures = {
        "n": n,
        "latency_ms": LATENCY * 1000,
        "server": args.server,
        "server_procs": args.server_procs if args.server == "process" else 0,
        "a_naive_sample_n": naive_n,
        "a_naive_sample_wall_s": round(wall_a_sample, 3),
        "a_naive_rps": round(rps_a, 2),
        "a_naive_wall_s_extrapolated": round(wall_a, 1),
        "b_engine_wall_s": round(b["wall_s"], 3),
        "b_engine_rps": round(rps_b, 1),
        "b_plan_and_journal_s": round(b["plan_s"], 3),
        "b_speedup_vs_a": round(wall_a / b["wall_s"], 1),
        # what (a) allows at all: its time per request, and the speedup of a run exactly at the
        # limit (speedup = this ceiling / b_ratio_to_limit, whatever the engine does)
        "a_naive_ms_per_request": round(1000 / rps_a, 2),
        "b_speedup_ceiling_at_limit": round(wall_a / limit_s, 1),
        "b_limit_s": round(limit_s, 3),
        "b_ratio_to_limit": round(b["wall_s"] / limit_s, 3),
        "b_engine_cpu_ms_per_request": round(b["cpu_s"] / n * 1000, 3),
        "b_server_cpu_ms_per_request": round(b_server["cpu"] / n * 1000, 3)
        if b_server["cpu"]
        else None,
        "c_rate": RATE,
        "c_engine_wall_s": round(c["wall_s"], 3),
        "c_wall_rps": round(n / c["wall_s"], 1),
        "c_achieved_rps": round(achieved, 2),
        "c_achieved_share_of_rate": round(achieved / RATE, 4),
        "c_max_in_any_1s_window": peak,
        "c_max_in_any_1s_window_as_sent": peak_sent,
        "targets_met": {
            "b_25x_faster_than_a": wall_a / b["wall_s"] >= 25,
            "b_within_1_3x_of_limit": b["wall_s"] / limit_s <= 1.3,
            "b_35x_faster_than_a": wall_a / b["wall_s"] >= 35,
            "b_within_1_15x_of_limit": b["wall_s"] / limit_s <= 1.15,
            "c_at_least_90pct_of_rate": achieved >= 0.9 * RATE,
            "c_never_above_rate_in_1s": peak <= RATE,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
