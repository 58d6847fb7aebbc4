"""Navigation: every page renders on the sandbox demo; pages by role; the page guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_helpers import PAGES, assert_clean, fresh_caches, new_app, open_page, texts
from streamlit.testing.v1 import AppTest

from paynet_core.auth import Role, User

TITLES = {
    "views/overview.py": "Overview",
    "views/issue.py": "Issue invoices",
    "views/bulk_status.py": "Bulk status updates",
    "views/charts.py": "Charts",
    "views/lookup.py": "Lookup",
    "views/jobs.py": "Jobs",
    "views/audit.py": "Audit log",
    "views/settings.py": "Settings",
}
VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"


def test_default_page_is_overview_with_sidebar(app):
    assert [t.value for t in app.title] == ["Overview"]
    sidebar = "\n".join(str(getattr(e, "value", "")) for e in app.sidebar)
    assert "SANDBOX" in sidebar
    assert "Demo operator" in sidebar
    assert "Last sync:" in sidebar and "never" not in sidebar.split("Last sync:")[1].splitlines()[0]
    assert "Sync now" in [b.label for b in app.sidebar.button]


def test_every_page_renders_and_switching_works(as_admin, app):
    at = app
    for page in PAGES + list(reversed(PAGES)):
        open_page(at, page)
        assert_clean(at)
        assert [t.value for t in at.title] == [TITLES[page]], page
        # the sidebar is on every page
        assert any("SANDBOX" in str(getattr(e, "value", "")) for e in at.sidebar)


def test_all_view_files_are_in_the_navigation():
    assert sorted(p.name for p in VIEWS.glob("*.py")) == sorted(Path(p).name for p in PAGES)


def test_pages_for_each_role(monkeypatch):
    from types import SimpleNamespace

    from dashboard import services

    # st.Page needs a running script (and resolves paths next to app.py): record the arguments.
    monkeypatch.setattr(services.st, "Page", lambda path, **kw: SimpleNamespace(path=path, **kw))

    def titles(role):
        pages = services.pages_for(User(email="x@example.com", name="X", role=role))
        if pages:
            assert [p.default for p in pages].count(True) == 1 and pages[
                0
            ].path == "views/overview.py"
        return [p.title for p in pages]

    assert titles(Role.VIEWER) == ["Overview", "Charts", "Lookup", "Jobs"]
    assert titles(Role.OPERATOR) == [
        "Overview",
        "Issue invoices",
        "Bulk status updates",
        "Charts",
        "Lookup",
        "Jobs",
    ]
    assert titles(Role.ADMIN) == list(TITLES.values())
    assert titles(Role.NONE) == []


def test_sync_now_runs_in_the_background(app):
    from apptest_helpers import wait_for

    from dashboard import services

    at = app
    before = services.runtime().store.last_sync_time()
    next(b for b in at.sidebar.button if b.label == "Sync now").click().run()
    assert not at.exception
    wait_for(lambda: not services.sync_task().running, what="sync to finish")
    assert services.sync_task().error is None
    assert services.runtime().store.last_sync_time() >= before
    at.run()
    assert_clean(at)


@pytest.fixture
def viewer_env(monkeypatch):
    """Test mode with a key but no [auth]: the session is a read-only viewer."""
    monkeypatch.setenv("PAYNET_OPS_MODE", "test")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_test_x")
    fresh_caches()
    yield
    fresh_caches()


def test_viewer_navigation_and_page_guard(viewer_env, media):
    at = new_app()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert any("TEST" in str(getattr(e, "value", "")) for e in at.sidebar)
    assert "Sync now" not in [b.label for b in at.sidebar.button]
    for page in ("views/charts.py", "views/lookup.py"):
        open_page(at, page)
        assert not at.exception, page
        assert [t.value for t in at.title] == [TITLES[page]]
    # Pages a viewer may not use are not reachable by switching to them...
    for page in ("views/issue.py", "views/bulk_status.py", "views/audit.py", "views/settings.py"):
        try:
            at.switch_page(page)
            at.run()
        except Exception:  # noqa: BLE001 - AppTest refusing the switch is also "not reachable"
            continue
        assert TITLES[page] not in [t.value for t in at.title], page
        assert "issue_send" not in [b.key for b in at.button]


@pytest.mark.parametrize("page", ["issue.py", "bulk_status.py", "audit.py", "settings.py"])
def test_page_guard_refuses_a_viewer_reaching_the_file(viewer_env, page):
    # ...and a page reached directly (deep link) stops itself with the refusal banner.
    at = AppTest.from_file(str(VIEWS / page), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("not allowed" in e for e in texts(at.error)), texts(at.error)
    assert not at.title and not at.button and not at.file_uploader


def test_viewer_can_read_the_jobs_page(viewer_env, media):
    at = open_page(new_app(), "views/jobs.py")
    assert not at.exception
    assert not at.error, texts(at.error)
    assert [t.value for t in at.title] == ["Jobs"]
