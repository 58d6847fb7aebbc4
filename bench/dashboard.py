"""Benchmark of the dashboard's pages on a big cache.

    uv run python bench/dashboard.py               # 1,000,000 invoices + 1,000,000 payments
    uv run python bench/dashboard.py --n 100000    # a quicker run
    uv run python bench/dashboard.py --rebuild     # build the cache again

What it measures:

1. **Cache.** ``bench/results/dashboard_<n>.db``, built once through ``Store.upsert_*`` from the
   deterministic rows of ``bench/cache.py`` (so the rollup is kept as a sync keeps it) and reused
   on later runs (``--rebuild`` builds it again). Built under a temporary name and renamed when
   complete, so an interrupted build is never reused.
2. **Script run time per page.** Each page of ``dashboard/views`` is run through
   ``streamlit.testing.v1.AppTest`` on ``dashboard/app.py`` in sandbox mode, signed in as an
   admin (every page is reachable): one run to warm the caches, then ``--runs``
   timed runs; the median is reported.
3. **Charts page in Chromium.** Streamlit is started in a subprocess on a free loopback port on
   the same cache; Debian's ``/usr/bin/chromium`` (through Playwright) opens the charts page and
   the clock runs from navigation until the page is fully rendered: the script is idle
   (``data-test-script-state="notRunning"``), no skeleton is left and each of the page's five
   Vega-Lite charts has drawn its SVG marks (every mark group of every panel holds a drawn
   mark; the page has no plotly chart left, and one would have to be drawn too). The first
   load (the browser's and the server's caches cold: Streamlit's and Vega's JavaScript are
   fetched and compiled) is reported beside the median of ``--runs``
   loads in new tabs of the same browser (new sessions; both caches warm, as for a user who
   comes back to the page); the target applies to the latter.

   Three baselines are loaded the same way in the same browser, their loads interleaved with
   the charts page's: a Streamlit page holding only a title (the floor of any page of this
   frontend on this machine), that page opened by a link to its own path (``/charts`` of a
   two-page ``st.navigation`` app, as the charts page is opened: Streamlit's frontend first
   looks for its server under the link's path, then at the root) and the title page plus one
   small Vega-Lite chart.

Targets: every page under 0.3 s warm and the charts page rendered under 1.5 s (the earlier
targets, 1.0 s and 2 s, are shown beside them). The last line of output is one JSON object, each
figure beside its target and the charts page beside its baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project first: this file is named like the `dashboard` package, and its own folder is on
# sys.path (as the script's), so an installed project's path entry must not come after it.
for path in (ROOT / "bench", ROOT):
    while str(path) in sys.path:
        sys.path.remove(str(path))
    sys.path.insert(0, str(path))

RESULTS = ROOT / "bench" / "results"
APP = ROOT / "dashboard" / "app.py"
PAGES = (
    "views/overview.py",
    "views/issue.py",
    "views/bulk_status.py",
    "views/charts.py",
    "views/lookup.py",
    "views/jobs.py",
    "views/audit.py",
    "views/settings.py",
)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# The charts page draws with Vega-Lite (plotly.js alone took longer to load than the target).
CHARTS_ON_PAGE = {"vega": 5, "plotly": 0}
TARGETS = {"page_warm_s": 0.3, "charts_rendered_s": 1.5}
EARLIER_TARGETS = {"page_warm_s": 1.0, "charts_rendered_s": 2.0}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


def build_cache(n: int, seed: int, rebuild: bool) -> tuple[Path, float | None]:
    """The cache file for ``n`` rows per provider, built only when missing (or ``rebuild``)."""
    import cache as rows  # bench/cache.py: the same deterministic rows

    from paynet_core.store import Store

    target = RESULTS / f"dashboard_{n}.db"
    if target.exists() and not rebuild:
        return target, None
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    for stale in (target, partial):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    log(f"building {target.name}: {n:,} invoices and {n:,} payments")
    started = time.perf_counter()
    store = Store.open(partial, clock=lambda: rows.CLOCK)
    store.upsert_subscriptions(rows.subscriptions(n, seed))
    for chunk in rows.invoice_chunks(n, seed):
        store.upsert_invoices(chunk)
    for chunk in rows.payment_chunks(n, seed):
        store.upsert_payments(chunk)
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    partial.rename(target)
    seconds = time.perf_counter() - started
    log(f"built in {seconds:.1f} s")
    return target, seconds


def app_env(db: Path, sandbox_db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
    return env | {
        "PAYNET_OPS_MODE": "sandbox",
        "PAYNET_OPS_DB": str(db),
        "PAYNET_OPS_SANDBOX_DB": str(sandbox_db),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }


# --------------------------------------------------------------------------------------------
# Script run time per page (AppTest)
# --------------------------------------------------------------------------------------------


def page_times(runs: int) -> dict[str, dict]:
    from streamlit.testing.v1 import AppTest

    from dashboard import services
    from paynet_core.auth import Role, User

    # The sandbox's demo user is an operator; the audit log and settings need an admin, as a
    # login with [roles] would give.
    admin = User(email="bench.admin@sandbox.local", name="Bench admin", role=Role.ADMIN, demo=True)
    services.demo_user = lambda: admin
    out = {}
    for page in PAGES:
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        at.switch_page(page)
        started = time.perf_counter()
        at.run()  # warm-up: fills the caches this page uses
        first = time.perf_counter() - started
        problems = [str(e.value) for e in (*at.exception, *at.error)]
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        name = Path(page).stem
        out[name] = {
            "warm_median_s": round(median, 3),
            "first_s": round(first, 3),
            "target_s": TARGETS["page_warm_s"],
            "met": median < TARGETS["page_warm_s"] and not problems,
        }
        if problems:
            out[name]["problems"] = problems
        log(f"  {name:12s} warm {median * 1000:8.1f} ms  (first run {first * 1000:8.1f} ms)")
    return out


# --------------------------------------------------------------------------------------------
# The charts page in Chromium
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(
    env: dict[str, str], log_path: Path, app: Path = APP
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not healthy(f"{base}/_stcore/health"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise SystemExit(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, base


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_RENDERED = """({count, idle}) => {
    if (!document.querySelector(idle) || document.querySelector('[data-testid="stSkeleton"]'))
        return false;
    const plots = document.querySelectorAll('.js-plotly-plot');
    const vegas = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
    const drawn = v => {  // Vega's SVG: one g.role-mark per mark of each panel, paths inside
        const marks = v.querySelectorAll('svg.marks g.role-mark');
        return marks.length > 0 && Array.from(marks).every(g => g.querySelector('path'));
    };
    return plots.length === count.plotly && vegas.length === count.vega
        && Array.from(plots).every(p => p.querySelector('.main-svg') && p._fullLayout)
        && Array.from(vegas).every(drawn);
}"""


def load_charts(context, url: str, charts: dict[str, int] = CHARTS_ON_PAGE) -> tuple[float, float]:
    """Seconds from navigation until the page's title is shown (the app is up and the script
    has sent its first elements) and until it is fully rendered, in a new tab (a new Streamlit
    session)."""
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector("h1", timeout=120_000)
        title = time.perf_counter() - started
        # The idle marker is also set before the first script run starts: wait for the charts.
        page.wait_for_function(
            _RENDERED, arg={"count": charts, "idle": IDLE}, timeout=120_000, polling=20
        )
        return title, time.perf_counter() - started
    finally:
        page.close()


# Baselines drawn in the same browser in the same run, so the charts figure can be read against
# what Streamlit's own frontend costs on this machine: a page holding only a title (the floor of
# any Streamlit page), the same page reached by a link to its path (as /charts is: the frontend
# tries the link's path for its server first) and the title page plus one small Vega-Lite chart
# (the floor of a page with a chart: Vega's JavaScript is loaded and compiled on first use in
# each tab).
_TITLE_ONLY = 'import streamlit as st\nst.set_page_config(layout="wide")\nst.title("paynet-ops")\n'
_BY_LINK = (
    "import streamlit as st\n"
    'st.set_page_config(layout="wide")\n'
    "st.navigation([st.Page(lambda: st.title('home'), title='home', url_path='home'),"
    " st.Page(lambda: st.title('paynet-ops'), title='charts', url_path='charts')]).run()\n"
)
BASELINE_APPS = {  # name: (script, path opened, charts drawn)
    "bare_page": (_TITLE_ONLY, "/", {"vega": 0, "plotly": 0}),
    "bare_page_by_link": (_BY_LINK, "/charts", {"vega": 0, "plotly": 0}),
    "one_chart_page": (
        _TITLE_ONLY
        + "st.vega_lite_chart({'data': {'values': [{'d': 'a', 'n': 3}, {'d': 'b', 'n': 5}]},"
        " 'mark': 'bar', 'encoding': {'x': {'field': 'd', 'type': 'nominal'},"
        " 'y': {'field': 'n', 'type': 'quantitative'}}})\n",
        "/",
        {"vega": 1, "plotly": 0},
    ),
}


def chromium_times(env: dict[str, str], runs: int, folder: Path) -> dict:
    """The charts page's load times, and the baselines' (runs interleaved: load moves all alike)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} is missing (apt-get install -y chromium)"}
    proc, base = start_server(env, folder / "streamlit.log")
    servers = [proc]
    pages = {"charts_page": (f"{base}/charts", CHARTS_ON_PAGE)}  # name: (url, charts drawn)
    load_before = os.getloadavg()[0]  # a shared machine's load moves these timings most
    try:
        for name, (source, path, count) in BASELINE_APPS.items():
            script = folder / f"{name}.py"
            script.write_text(source)
            proc, base = start_server(env, folder / f"{name}.log", app=script)
            servers.append(proc)
            pages[name] = (base + path, count)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                contexts = {
                    name: browser.new_context(viewport={"width": 1400, "height": 1000})
                    for name in pages
                }
                first = {name: load_charts(contexts[name], *pages[name])[1] for name in pages}
                loads: dict[str, list[tuple[float, float]]] = {name: [] for name in pages}
                for _ in range(runs):
                    for name in pages:
                        loads[name].append(load_charts(contexts[name], *pages[name]))
                for context in contexts.values():
                    context.close()
            finally:
                browser.close()
    finally:
        for proc in servers:
            stop_server(proc)
    figures = {
        name: {
            "rendered_median_s": round(statistics.median(r for _, r in times), 3),
            "title_shown_median_s": round(statistics.median(t for t, _ in times), 3),
            "first_load_s": round(first[name], 3),
            "runs_s": [round(r, 3) for _, r in times],
        }
        for name, times in loads.items()
    }
    median = figures["charts_page"]["rendered_median_s"]
    bare = figures["bare_page"]["rendered_median_s"]
    log(
        f"  charts page in Chromium: {median:.2f} s warm (title at "
        f"{figures['charts_page']['title_shown_median_s']:.2f} s; first load "
        f"{first['charts_page']:.2f} s); a bare page {bare:.2f} s (by link "
        f"{figures['bare_page_by_link']['rendered_median_s']:.2f} s), one chart "
        f"{figures['one_chart_page']['rendered_median_s']:.2f} s"
    )
    return {
        **figures.pop("charts_page"),
        "baselines": figures,
        "over_bare_page_s": round(median - bare, 3),
        "over_bare_page_by_link_s": round(
            median - figures["bare_page_by_link"]["rendered_median_s"], 3
        ),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "target_s": TARGETS["charts_rendered_s"],
        "met": median < TARGETS["charts_rendered_s"],
    }


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="invoices and payments each")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per page")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="build the cache file again")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    args = parser.parse_args(argv)

    db, build_s = build_cache(args.n, args.seed, args.rebuild)
    with tempfile.TemporaryDirectory(prefix="paynet-dashboard-bench-") as tmp:
        folder = Path(tmp)
        env = app_env(db, folder / "sandbox.db")
        os.environ.clear()
        os.environ.update(env)
        log(f"pages (AppTest, median of {args.runs} warm runs) on {db.name}:")
        pages = page_times(args.runs)
        browser = None if args.no_browser else chromium_times(env, args.runs, folder)
    slowest = max(p["warm_median_s"] for p in pages.values())
    result = {
        "rows_invoices": args.n,
        "rows_payments": args.n,
        "cache": str(db.relative_to(ROOT)),
        "cache_build_s": None if build_s is None else round(build_s, 1),
        "pages": pages,
        "slowest_page_warm_s": slowest,
        "charts_in_chromium": browser,
        "targets": {
            "every_page_warm_s": {
                "value": slowest,
                "target": TARGETS["page_warm_s"],
                "met": slowest < TARGETS["page_warm_s"],
                "earlier_target": EARLIER_TARGETS["page_warm_s"],
            },
            "charts_rendered_s": {
                "value": None
                if not browser or "skipped" in browser
                else browser["rendered_median_s"],
                "target": TARGETS["charts_rendered_s"],
                "met": bool(browser and browser.get("met")),
                "earlier_target": EARLIER_TARGETS["charts_rendered_s"],
            },
        },
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
