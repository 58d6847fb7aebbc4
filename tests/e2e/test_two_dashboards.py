"""Two dashboards, one database, workers on the queue (Chromium).

A job started on replica A shows its progress on replica B; a pause pressed on B stops the
workers. Every process (two ``paynet-ops run``, one ``paynet-ops worker``) shares the settings a
deployment gives them: one cache, one PostgreSQL queue, one served sandbox.

Two variants of "one database": the cache on PostgreSQL (the deployment the README describes),
and the cache as one SQLite file that both replicas open on this machine, with the queue on
PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    CHROMIUM,
    REPO_ROOT,
    _free_port,
    _healthy,
    open_page,
    poll,
    submit_text,
    wait_idle,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

N = 60
RATE = "2"  # requests per second: the job lasts ~30 s, long enough to open the other page and pause


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paynet_core.cli", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(params=["postgresql", "sqlite-file"])
def deployment(request, pg_db, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing")
    cache = pg_db if request.param == "postgresql" else str(tmp_path / "cache.db")
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
    sandbox_env = {
        **base,
        "PAYNET_OPS_SANDBOX_DB": str(tmp_path / "served.db"),
        "PAYNET_OPS_DB": str(tmp_path / "sb-cache.db"),
    }
    env = {
        **base,
        "PAYNET_OPS_MODE": "sandbox",
        "PAYNET_BASE_URL": f"http://127.0.0.1:{port}",
        "PAYNET_OPS_DB": cache,
        "PAYNET_OPS_QUEUE": pg_db,
        "PAYNET_OPS_RATE_LIMIT": RATE,
        "PAYNET_OPS_LANG": "en",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    procs = [_spawn(["sandbox", "serve", "--port", str(port)], sandbox_env, tmp_path / "serve.log")]
    try:
        poll(lambda: _healthy(f"http://127.0.0.1:{port}/") or _up(port), timeout=60, what="sandbox")
        sync = subprocess.run(
            [sys.executable, "-m", "paynet_core.cli", "sync"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stderr[-2000:]
        procs.append(_spawn(["worker"], env, tmp_path / "worker.log"))
        urls = []
        for name in ("a", "b"):
            app_port = _free_port()
            procs.append(_spawn(["run", "--port", str(app_port)], env, tmp_path / f"{name}.log"))
            urls.append(f"http://localhost:{app_port}")
        for url in urls:
            poll(lambda u=url: _healthy(f"{u}/_stcore/health"), timeout=120, what=url)
        yield {"urls": urls, "env": env, "cache": cache, "tmp": tmp_path}
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _up(port: int) -> bool:
    import httpx

    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.TransportError:
        return False


class _App:
    def __init__(self, base_url: str):
        self.base_url = base_url

    def url(self, page: str = "", **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.base_url}/{page}" + (f"?{urlencode(query)}" if query else "")


def _open_invoices(cache: str, n: int) -> list[str]:
    """``n`` Waiting invoices, one per subscription (so no file folds into a whole-subscription
    call)."""
    from paynet_core.store import Store

    with Store.open(cache) as store:
        rows = store.query(
            "SELECT invoice_no, subscription_id FROM invoices WHERE status = 0 ORDER BY invoice_no"
        ).to_dict("records")
    picked, subs = [], set()
    for row in rows:
        if row["subscription_id"] not in subs:
            subs.add(row["subscription_id"])
            picked.append(row["invoice_no"])
    assert len(picked) >= n
    return picked[:n]


def _job_state(cache: str, job_id: str) -> tuple[str, dict]:
    from paynet_core.store import Store

    with Store.open(cache) as store:
        return store.job(job_id)["state"], store.job_progress(job_id)


def test_a_job_started_on_one_replica_is_watched_and_paused_on_the_other(browser, deployment):
    a, b = (_App(u) for u in deployment["urls"])
    cache = deployment["cache"]
    invoices = _open_invoices(cache, N)
    context_a = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context_b = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    try:
        page_a, page_b = context_a.new_page(), context_b.new_page()
        for p in (page_a, page_b):
            p.set_default_timeout(30_000)
        data = ("invoice_no,status\n" + "".join(f"{no},5\n" for no in invoices)).encode()
        open_page(page_a, a, "bulk_status", "Bulk status updates")
        page_a.locator('input[type="file"]').first.set_input_files(
            files=[{"name": "cancel.csv", "mimeType": "text/csv", "buffer": data}]
        )
        wait_idle(page_a)
        submit_text(page_a, "to confirm", str(N), exact=False)
        page_a.get_by_role("button", name="Start job").click()
        wait_idle(page_a)
        from paynet_core.store import Store

        def started() -> list[str]:
            with Store.open(cache) as store:
                return store.jobs(limit=1)["job_id"].tolist()

        # the page may still be writing the job when it looks idle on a busy machine
        poll(lambda: bool(started()), timeout=60, what="the job in the shared cache")
        job_id = started()[0]

        # B shows A's job moving (the workers run it: neither replica sends anything)
        open_page(page_b, b, "jobs", "Jobs", job=job_id)
        moving = re.compile(rf"Job {job_id} · running · ([1-9]\d*)/{N} items", re.IGNORECASE)
        expect(page_b.get_by_text(moving)).to_be_visible(timeout=60_000)

        page_b.get_by_role("button", name="Pause").click()
        wait_idle(page_b)
        poll(
            lambda: (
                _job_state(cache, job_id)[0] == "paused"
                and _job_state(cache, job_id)[1]["sending"] == 0
            ),
            timeout=10,
            what="the workers to stop",
        )
        done = _job_state(cache, job_id)[1]["done"]
        time.sleep(3)
        state, counts = _job_state(cache, job_id)
        assert state == "paused" and counts["done"] == done < N  # nothing more was sent
        expect(
            page_a.get_by_text(re.compile(rf"Job {job_id} · paused", re.IGNORECASE))
        ).to_be_visible(timeout=20_000)
    finally:
        context_a.close()
        context_b.close()
