"""Last in the e2e run (files run in name order): after every flow above ran with known fake
keys, they must appear in no page's HTML, no server log line, no database file and no export."""

from pathlib import Path

import pytest
from conftest import FAKE_SECRETS, wait_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PAGES = ["", "issue", "bulk_status", "charts", "lookup", "jobs"]  # the demo operator's pages


def _leaks(blob: bytes) -> list[str]:
    return [name for name, value in FAKE_SECRETS.items() if value.encode() in blob]


def test_fake_keys_appear_nowhere(app_server, page):
    found: dict[str, list[str]] = {}
    for name in PAGES:
        page.goto(app_server.url(name))
        wait_idle(page)
        expect(page.locator("h1").first).to_be_visible()
        html = page.content().encode()
        if leaks := _leaks(html):
            found[f"page /{name}"] = leaks
        for button in page.get_by_role("button").all():  # downloads (CSV exports) on the page
            if "Download" in (button.inner_text() or ""):
                with page.expect_download() as info:
                    button.click()
                if leaks := _leaks(Path(info.value.path()).read_bytes()):
                    found[f"download on /{name}"] = leaks
    for path in Path(app_server.cache_db).parent.rglob("*"):
        if path.is_file() and (leaks := _leaks(path.read_bytes())):
            found[str(path.name)] = leaks
    assert found == {}
    assert app_server.log.stat().st_size > 0
