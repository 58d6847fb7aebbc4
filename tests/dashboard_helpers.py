"""Shared fixtures and helpers for the AppTest page tests (tests/test_dashboard_*.py).

Import the fixtures into a test module with ``from dashboard_helpers import *`` -- the tests
directory is on ``sys.path`` under pytest's default rootdir-based import mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from demo_files import copy_synced_demo
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")

PAGES = [
    "views/overview.py",
    "views/issue.py",
    "views/bulk_status.py",
    "views/charts.py",
    "views/lookup.py",
    "views/jobs.py",
    "views/audit.py",
    "views/settings.py",
]

#: Every file any download_button put into AppTest's (per-run, in-memory) media storage.
_MEDIA: dict[str, Any] = {}


class _RecordingMediaStorage(MemoryMediaFileStorage):
    """AppTest builds a fresh media storage per run and drops it afterwards; keep the files."""

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        _MEDIA[file_id] = self._files_by_id[file_id]
        return file_id


def _fresh_caches() -> None:
    # services.runtime() and sync_task() are st.cache_resource: they must not leak between tests
    # (each test has its own tmp databases).
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def media(monkeypatch) -> dict[str, Any]:
    _MEDIA.clear()
    monkeypatch.setattr(
        "streamlit.testing.v1.app_test.MemoryMediaFileStorage", _RecordingMediaStorage
    )
    yield _MEDIA
    _MEDIA.clear()


def download_bytes(at: AppTest, key: str) -> bytes:
    """The bytes a download button would hand the browser (needs the ``media`` fixture)."""
    url = at.download_button(key=key).proto.url
    file_id = os.path.splitext(url.rsplit("/", 1)[-1])[0]
    return _MEDIA[file_id].content


@pytest.fixture
def demo(media, tmp_path_factory, cache_target):
    """The sandbox demo synced into this test's cache (a tmp file, then a PostgreSQL database:
    every dashboard test runs on both backends); fresh Streamlit caches."""
    from paynet_core.runtime import prepare_demo

    _fresh_caches()
    copy_synced_demo(tmp_path_factory)
    prepare_demo()  # finds the cache synced: opens it, sends nothing
    yield
    _fresh_caches()


@pytest.fixture
def as_admin(monkeypatch):
    """The sandbox session signed in as an admin. The demo user is an operator (audit log and
    settings need the admin role); this stands in for a login with ``[roles]`` saying admin."""
    from dashboard import services
    from paynet_core.auth import Role, User

    admin = User(email="demo.admin@sandbox.local", name="Demo admin", role=Role.ADMIN, demo=True)
    monkeypatch.setattr(services, "demo_user", lambda: admin)
    return admin


@pytest.fixture
def sb(demo):
    """The in-process sandbox the app's clients talk to (same tmp path, same object)."""
    from paynet_core.sandbox import open_sandbox

    sandbox = open_sandbox(os.environ["PAYNET_OPS_SANDBOX_DB"])
    yield sandbox
    sandbox.faults.clear()


@pytest.fixture
def store(demo):
    from dashboard import services

    return services.runtime().store


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


@pytest.fixture
def app(demo) -> AppTest:
    at = new_app()
    assert_clean(at)
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    return at


def assert_clean(at: AppTest) -> None:
    """No exception element and no error banner on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def all_text(at: AppTest) -> str:
    """Every markdown/caption/alert/title text on the page, joined (for 'never shows X' checks)."""
    parts: list[str] = []
    for group in (at.title, at.markdown, at.caption, at.error, at.warning, at.info, at.success):
        parts.extend(texts(group))
    return "\n".join(parts)


def keys(widgets) -> list[str | None]:
    return [w.key for w in widgets]


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
):
    """Poll with a deadline (no bare sleeps): background jobs finish on their own thread."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_job_finished(store, job_id: str, timeout: float = 60.0) -> dict[str, int]:
    def finished():
        p = store.job_progress(job_id)
        return (
            p
            if p["pending"] == 0
            and p["sending"] == 0
            and store.job(job_id)["state"] in ("done", "failed", "cancelled")
            else None
        )

    return wait_for(finished, timeout=timeout, what=f"job {job_id} to finish")
