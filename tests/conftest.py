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
    tests/core/test_i18n.py and tests/dashboard/test_dashboard_language.py check. PAYNET_OPS_LANG reaches the
    dashboard's script threads and any subprocess (the dashboard's default language)."""
    from paynet_core.i18n import using_language

    if request.node.get_closest_marker("turkish"):
        yield
        return
    monkeypatch.setenv("PAYNET_OPS_LANG", "en")
    with using_language("en"):
        yield


@pytest.fixture
def clock():
    """The time the ``sandbox`` and ``store`` fixtures run on: the real clock. A module or folder
    that needs a frozen or moving time overrides this fixture, not those two."""
    from paynet_core import dates

    return dates.now


@pytest.fixture
def sandbox(clock):
    """A fresh in-memory sandbox with no data, closed after the test."""
    from paynet_core.sandbox import Sandbox

    sb = Sandbox(clock=clock)
    yield sb
    sb.close()


@pytest.fixture
def store(cache_target, clock):
    """A fresh, migrated cache on each backend (see ``cache_target``): a file in this test's tmp
    folder, then an empty PostgreSQL database; ``PAYNET_OPS_DB`` names it."""
    from paynet_core.store import Store

    with Store.open(cache_target, clock=clock) as s:
        yield s


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
def pg_cache(pg_url):
    """One database at the current schema for the session; each test empties it (TRUNCATE is
    milliseconds, where a new database or a migration takes most of a second)."""
    import pg_server

    from paynet_core.store import Store, postgres

    url = pg_server.create_database(pg_url)
    Store.open(url).close()
    postgres.dispose_all()
    yield url
    postgres.dispose(url)
    pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def cache_target(request, tmp_path, monkeypatch):
    """The cache on each backend: a SQLite file, then an empty PostgreSQL database at the
    current schema. ``PAYNET_OPS_DB`` points at it, so the CLI, the dashboard and jobs use it."""
    if request.param == "sqlite":
        yield str(tmp_path / "cache.db")
        return
    import pg_server

    url = request.getfixturevalue("pg_cache")
    pg_server.empty_database(url)
    monkeypatch.setenv("PAYNET_OPS_DB", url)
    # Jobs run where they start, as on SQLite; tests/jobs/test_workers.py covers the queue.
    monkeypatch.setenv("PAYNET_OPS_QUEUE", "off")
    # The pool stays for the session (one URL): a job thread a test leaves finishing would
    # otherwise refill a disposed pool whose idle connections are then dropped unclosed.
    yield url
