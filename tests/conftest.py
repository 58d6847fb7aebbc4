import os

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """A developer's shell never leaks into a test; the default sandbox lives in tmp."""
    for key in list(os.environ):
        if key.startswith(("PAYNET_", "PAYOFIN_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PAYNET_OPS_SANDBOX_DB", str(tmp_path / "sandbox.db"))
    monkeypatch.setenv("PAYNET_OPS_DB", str(tmp_path / "cache.db"))


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread
    while its session fixtures live, which breaks ``asyncio.run`` in any test after it."""
    items.sort(key=lambda item: "/e2e/" in str(item.fspath).replace("\\", "/"))
