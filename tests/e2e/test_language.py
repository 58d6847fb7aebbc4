"""The dashboard's language in a real browser: the browser's locale, a shared link, the switch.

The demo operator is one person for every browser here, so a saved choice would carry over to
the other browser tests; the fixture forgets it afterwards (they expect English from en-GB).
"""

from __future__ import annotations

import sqlite3

import pytest
from conftest import open_page, wait_idle
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.e2e

TURKISH, ENGLISH = "Genel bakış", "Overview"


@pytest.fixture
def forget_choice(app_server):
    yield
    conn = sqlite3.connect(app_server.cache_db, timeout=10)
    try:
        with conn:
            conn.execute("DELETE FROM user_settings")
    finally:
        conn.close()


def _page(browser: Browser, locale: str):
    expect.set_options(timeout=20_000)  # as the shared page fixture: a busy machine renders slowly
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


@pytest.mark.parametrize(("locale", "title"), [("tr-TR", TURKISH), ("en-US", ENGLISH)])
def test_the_browser_language_decides_when_nothing_was_chosen(browser, app_server, locale, title):
    context, page = _page(browser, locale)
    try:
        open_page(page, app_server, "", title)
        sidebar = page.get_by_test_id("stSidebar")
        nav = "Grafikler" if title == TURKISH else "Charts"
        expect(sidebar.get_by_role("link", name=nav)).to_be_visible()
        open_page(page, app_server, "charts", "Grafikler" if title == TURKISH else "Charts")
    finally:
        context.close()


def test_a_shared_link_wins_over_the_browser(browser, app_server):
    context, page = _page(browser, "tr-TR")
    try:
        open_page(page, app_server, "", ENGLISH, lang="en")
    finally:
        context.close()


def test_the_switch_changes_the_language_and_a_reload_keeps_it(browser, app_server, forget_choice):
    context, page = _page(browser, "tr-TR")
    try:
        open_page(page, app_server, "", TURKISH)
        page.get_by_test_id("stSidebar").get_by_text("English", exact=True).click()
        wait_idle(page)
        expect(page.locator("h1").first).to_have_text(ENGLISH)
        page.reload()
        wait_idle(page)
        expect(page.locator("h1").first).to_have_text(ENGLISH)
    finally:
        context.close()
    # The choice is the person's: another Turkish browser of the same person opens in English.
    context, page = _page(browser, "tr-TR")
    try:
        open_page(page, app_server, "", ENGLISH)
        page.get_by_test_id("stSidebar").get_by_text("Türkçe", exact=True).click()
        wait_idle(page)
        expect(page.locator("h1").first).to_have_text(TURKISH)
    finally:
        context.close()
