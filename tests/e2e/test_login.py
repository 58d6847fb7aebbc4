"""Login end to end (uses the suite's chromium from conftest.py): the app started as the README starts it, Streamlit's native OIDC login
against a local OpenID provider (oidc-provider-mock) on loopback, a viewer and an operator."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

# The provider runs in this process: its own deprecation warnings must not turn into HTTP 500s.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {
    "viewer-1": {"email": "viewer@example.com", "name": "Vera Viewer"},
    "operator-1": {"email": "operator@example.com", "name": "Okan Operator"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def login_app(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=sub, claims=claims) for sub, claims in USERS.items()]
    with run_server_in_thread(user_claims=users) as idp:
        idp_url = f"http://localhost:{idp.server_port}"
        port = _free_port()
        home = tmp_path_factory.mktemp("login_app")
        (home / ".streamlit").mkdir()
        shutil.copy(ROOT / ".streamlit" / "config.toml", home / ".streamlit" / "config.toml")
        (home / ".streamlit" / "secrets.toml").write_text(
            f"""PAYNET_OPS_MODE = "sandbox"

[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "test-cookie-secret-0123456789abcdef"
client_id = "paynet-ops"
client_secret = "paynet-ops-secret"
server_metadata_url = "{idp_url}/.well-known/openid-configuration"

[roles]
"viewer@example.com" = "viewer"
"operator@example.com" = "operator"
""",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYNET_", "PAYOFIN_"))}
        env.update(
            PAYNET_OPS_DB=str(home / "cache.db"), PAYNET_OPS_SANDBOX_DB=str(home / "sandbox.db")
        )
        log = (home / "app.log").open("w")
        proc = subprocess.Popen(
            [
                "uv",
                "run",
                "--frozen",
                "--project",
                str(ROOT),
                "paynet-ops",
                "run",
                "--port",
                str(port),
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(f"http://localhost:{port}/_stcore/health")
            yield f"http://localhost:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            log.close()


def _settled(page) -> None:
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=30000
    )


def _log_in(browser, base: str, sub: str):
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.goto(base)
    _settled(page)
    page.get_by_role("button", name="Log in").click()
    page.locator('input[name="sub"]').fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{base}/**", timeout=30000)
    _settled(page)
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30000)
    return page


def _nav(page) -> list[str]:
    # each link reads "<icon name>\n<title>"
    return [
        t.strip().splitlines()[-1]
        for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    ]


def test_login_is_required_when_auth_is_configured(login_app, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(login_app)
    _settled(page)
    # the first page of a cold server can settle before the button is drawn: wait for it
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=30000)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    page.close()


def test_viewer_sees_and_can_only_look(login_app, browser):
    from playwright.sync_api import expect

    page = _log_in(browser, login_app, "viewer-1")
    expect(page.get_by_text("Vera Viewer (viewer)")).to_be_visible()
    nav = _nav(page)
    assert {"Overview", "Charts", "Lookup", "Jobs"} <= set(nav)
    assert not {"Issue invoices", "Bulk status updates", "Audit log", "Settings"} & set(nav)
    # reached by URL, the page is not there for a viewer and nothing can be issued
    page.goto(f"{login_app}/issue")
    _settled(page)
    assert page.get_by_role("button", name="Send to Paynet").count() == 0
    assert page.get_by_role("button", name="Review").count() == 0
    assert page.get_by_role("button", name="Sync now").count() == 0
    page.context.close()


def test_operator_may_issue_but_not_audit(login_app, browser):
    from playwright.sync_api import expect

    page = _log_in(browser, login_app, "operator-1")
    expect(page.get_by_text("Okan Operator (operator)")).to_be_visible()
    nav = _nav(page)
    assert {"Overview", "Issue invoices", "Bulk status updates", "Charts", "Lookup", "Jobs"} <= set(
        nav
    )
    assert not {"Audit log", "Settings"} & set(nav)
    page.goto(f"{login_app}/issue")
    _settled(page)
    expect(page.get_by_role("button", name="Review")).to_be_visible(timeout=30000)
    page.goto(f"{login_app}/audit")
    _settled(page)
    assert page.get_by_text("Append-only").count() == 0
    page.context.close()
