"""Helpers for the AppTest page tests: the app's path and pages, driving and reading a page,
polling with a deadline. The fixtures live in this folder's conftest.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")

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
MEDIA: dict[str, Any] = {}


class RecordingMediaStorage(MemoryMediaFileStorage):
    """AppTest builds a fresh media storage per run and drops it afterwards; keep the files."""

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        MEDIA[file_id] = self._files_by_id[file_id]
        return file_id


def fresh_caches() -> None:
    # services.runtime() and sync_task() are st.cache_resource: they must not leak between tests
    # (each test has its own tmp databases).
    st.cache_resource.clear()
    st.cache_data.clear()


def download_bytes(at: AppTest, key: str) -> bytes:
    """The bytes a download button would hand the browser (needs the ``media`` fixture)."""
    url = at.download_button(key=key).proto.url
    file_id = os.path.splitext(url.rsplit("/", 1)[-1])[0]
    return MEDIA[file_id].content


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
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


def sync_one_new_invoice(store) -> None:
    """What a sync that finds one new invoice writes: the cache's data version moves."""
    from paynet_core.paynet import Invoice

    cached = store.find_invoices(limit=1).iloc[0]
    invoice = Invoice(
        invoice_no="T-NEW-1",
        invoice_id="id-T-NEW-1",
        subscription_id=cached["subscription_id"],
        reference_no="R1",
        amount=1000,
        status=0,
        val_date="23.11.2026 10:32:24",
    )
    version = store.data_version()
    assert store.upsert_invoices([invoice]).written
    assert store.data_version() != version
