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


@pytest.fixture(autouse=True)
def _language(request, monkeypatch, _clean_env):
    """English unless a test is marked ``turkish``: most tests assert on what the code means,
    and English message ids keep them readable and independent of the translations, which
    tests/test_i18n.py and tests/test_dashboard_language.py check. PAYNET_OPS_LANG reaches the
    dashboard's script threads and any subprocess (the dashboard's default language)."""
    from paynet_core.i18n import using_language

    if request.node.get_closest_marker("turkish"):
        yield
        return
    monkeypatch.setenv("PAYNET_OPS_LANG", "en")
    with using_language("en"):
        yield


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


@pytest.fixture(scope="session")
def pg_template(pg_url):
    """A database migrated to the current schema once per session; tests get copies of it
    (``CREATE DATABASE ... TEMPLATE``: milliseconds, instead of running every migration)."""
    import pg_server

    from paynet_core.store import Store, postgres

    url = pg_server.create_database(pg_url)
    Store.open(url).close()
    postgres.dispose_all()  # a template may have no open connections
    yield url.rsplit("/", 1)[1]
    pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def cache_target(request, tmp_path, monkeypatch):
    """The cache on each backend: a SQLite file, then a fresh PostgreSQL database at the current
    schema. ``PAYNET_OPS_DB`` points at it, so the CLI, the dashboard and jobs use it too."""
    if request.param == "sqlite":
        yield str(tmp_path / "cache.db")
        return
    import pg_server

    from paynet_core.store import postgres

    url = pg_server.create_database(
        request.getfixturevalue("pg_url"), request.getfixturevalue("pg_template")
    )
    monkeypatch.setenv("PAYNET_OPS_DB", url)
    yield url
    postgres.dispose_all()
    pg_server.drop_database(url)
