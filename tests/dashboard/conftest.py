"""Fixtures for the AppTest page tests: the synced sandbox demo, the app, its sandbox and store."""

from __future__ import annotations

import os
from typing import Any

import pytest
from apptest_helpers import MEDIA, RecordingMediaStorage, assert_clean, fresh_caches, new_app
from demo_files import copy_synced_demo
from streamlit.testing.v1 import AppTest


@pytest.fixture
def media(monkeypatch) -> dict[str, Any]:
    MEDIA.clear()
    monkeypatch.setattr(
        "streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingMediaStorage
    )
    yield MEDIA
    MEDIA.clear()


@pytest.fixture
def demo(media, tmp_path_factory, cache_target):
    """The sandbox demo synced into this test's cache (a tmp file, then a PostgreSQL database:
    every dashboard test runs on both backends); fresh Streamlit caches."""
    from paynet_core.runtime import prepare_demo

    fresh_caches()
    copy_synced_demo(tmp_path_factory)
    prepare_demo()  # finds the cache synced: opens it, sends nothing
    yield
    fresh_caches()


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
    """The app's own store (overrides tests/conftest.py's): what the pages read and write."""
    from dashboard import services

    return services.runtime().store


@pytest.fixture
def app(demo) -> AppTest:
    at = new_app()
    assert_clean(at)
    return at


STORE_QUERIES = ("filter_options", "outcome_counts", "breakdown_counts", "cancellation_counts")
STORE_QUERIES += ("fee_sums", "kpi_sums")


@pytest.fixture
def queries(store, monkeypatch) -> list[str]:
    """The names of the store's chart and KPI queries, in the order the pages send them."""
    sent: list[str] = []

    def counting(name: str):
        query = getattr(store, name)

        def counted(*args, **kwargs):
            sent.append(name)
            return query(*args, **kwargs)

        return counted

    for name in STORE_QUERIES:
        monkeypatch.setattr(store, name, counting(name))
    return sent
