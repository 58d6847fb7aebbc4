"""Browser end-to-end fixtures: the app started as the README starts it, and Debian's chromium.

The server is started once per session with ``uv run paynet-ops run`` (what ``scripts/dashboard``
execs), on a free port and on temporary cache and sandbox databases, so the tests never touch
``data/``. Pages are driven with Playwright against ``/usr/bin/chromium`` (never a downloaded
browser).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

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
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENS = REPO_ROOT / "tests" / "artifacts" / "screens"
#: Bulk jobs are paced at this many requests per second, so a 47-invoice job lasts several
#: seconds: long enough to reload the page while it runs.
RATE_LIMIT = "5"
START_DEADLINE_S = 90
#: Known fake keys the app runs with; tests/e2e/test_zz_secrets.py looks for them everywhere.
FAKE_SECRETS = {
    "PAYNET_SECRET_KEY": "sck_FAKE_e2e_paynet_7c21d9a4b3",
    "PAYOFIN_API_KEY": "FAKE-e2e-payofin-api-5e8f0a12",
    "PAYOFIN_SECRET_KEY": "FAKE-e2e-payofin-secret-9b3c6d47",
}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


@dataclass(frozen=True)
class App:
    base_url: str
    cache_db: Path
    sandbox_db: Path
    log: Path

    def url(self, page: str = "", **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.base_url}/{page}" + (f"?{urlencode(query)}" if query else "")

    def cache(self) -> sqlite3.Connection:
        """A read-only connection to the app's cache (the app is the only writer)."""
        return _read_only(self.cache_db)

    def sandbox(self) -> sqlite3.Connection:
        """A read-only connection to the sandbox's state (what 'Paynet' holds)."""
        return _read_only(self.sandbox_db)


def _read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[App]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
    env |= {
        "PAYNET_OPS_MODE": "sandbox",
        "PAYNET_OPS_DB": str(tmp / "cache.db"),
        "PAYNET_OPS_SANDBOX_DB": str(tmp / "sandbox.db"),
        "PAYNET_OPS_RATE_LIMIT": RATE_LIMIT,
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "UV_COMPILE_BYTECODE": "1",
        **FAKE_SECRETS,
    }
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["uv", "run", "--frozen", "paynet-ops", "run", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    app = App(f"http://localhost:{port}", tmp / "cache.db", tmp / "sandbox.db", log)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while not _healthy(f"{app.base_url}/_stcore/health"):
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the app did not get healthy in {START_DEADLINE_S} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield app
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def browser(app_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def screens() -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    return SCREENS


# -- helpers shared by the browser tests -----------------------------------------------------


def wait_idle(page: Page, timeout: float = 30_000) -> None:
    """The script run has finished and no placeholder is left."""
    page.wait_for_selector(IDLE, timeout=timeout)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def open_page(page: Page, app, path: str, title: str, **query: str) -> None:
    page.goto(app.url(path, **query))
    wait_idle(page)
    expect(page.locator("h1").first).to_have_text(title)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def screenshot(page: Page, screens, name: str) -> None:
    """Full page: Streamlit scrolls inside stMain, so grow the viewport to the content first."""
    size = page.viewport_size
    height = page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]']
              .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight),
              document.documentElement.scrollHeight)"""
    )
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(int(height), 10_000)})
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
    page.screenshot(path=str(screens / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def submit_text(page: Page, label: str, text: str, *, exact: bool = True) -> None:
    box = page.get_by_label(label, exact=exact)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def poll(check, *, timeout: float, what: str, every: float = 0.25):
    """Call ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def choose_subscription(page: Page, sub) -> None:
    """On Issue invoices: find ``sub`` (reference_no, subscription_id) and pick it."""
    ref = sub["reference_no"]
    submit_text(page, "Find the subscription", ref)
    combo = page.get_by_role("combobox", name="Subscription")
    combo.click()
    page.get_by_role("option", name=re.compile(re.escape(ref))).first.click()
    wait_idle(page)
    expect(combo).to_have_value(re.compile(rf"^{ref} · .* · {sub['subscription_id']}$"))
