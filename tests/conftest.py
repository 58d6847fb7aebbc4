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


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL server for the session (its ``postgres`` database's URL)."""
    import pg_server

    if pg_server.find_bin_dir() is None:
        pytest.skip(pg_server.INSTALL_HINT)
    server = pg_server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_db(pg_url):
    """A fresh, empty database on the session's server, dropped after the test."""
    import pg_server

    url = pg_server.create_database(pg_url)
    yield url
    pg_server.drop_database(url)
