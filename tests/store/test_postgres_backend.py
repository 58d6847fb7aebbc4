"""The cache on PostgreSQL gives what it gives on SQLite: the same numbers, a verified copy,
the same guarantees under concurrent writers. (Most store, sync, jobs, reports and dashboard
tests run on both backends through the ``cache_target`` fixture; these are the cross-checks.)"""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.config import ConfigError, load_settings
from paynet_core.reports import (
    BREAKDOWNS,
    GRAINS,
    ChartFilters,
    breakdown,
    cancellation_rate,
    fee_totals,
    kpis,
    outcome_series,
)
from paynet_core.runtime import open_runtime
from paynet_core.store import LATEST_VERSION, Store, postgres

pytestmark = pytest.mark.postgresql
runner = CliRunner()
VIEWS = {
    "outcomes": "provider, record_id",
    "daily_totals": "day, provider, outcome",
    "daily_breakdown": "day, provider, outcome, institution, invoice_type, agent_id",
}


def _synced(monkeypatch, target: str, sandbox_path) -> Store:
    from paynet_core.ops.sync import sync_all

    monkeypatch.setenv("PAYNET_OPS_DB", str(target))
    monkeypatch.setenv("PAYNET_OPS_SANDBOX_DB", str(sandbox_path))
    runtime = open_runtime(load_settings())
    reports = sync_all(runtime)
    assert not any(r.failed_windows for r in reports.values()), reports
    return runtime.store


@pytest.fixture(scope="module")
def both(pg_url, tmp_path_factory):
    """The sandbox seeded as `paynet-ops sandbox seed --invoices 20000 --seed 7` does, synced
    into a SQLite file and into a PostgreSQL database."""
    import pg_server

    root = tmp_path_factory.mktemp("both")
    url = pg_server.create_database(pg_url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAYNET_OPS_SANDBOX_DB", str(root / "sandbox.db"))
        seeded = runner.invoke(app, ["sandbox", "seed", "--invoices", "20000", "--seed", "7"])
        assert seeded.exit_code == 0, seeded.output
        sqlite = _synced(mp, str(root / "cache.db"), root / "sandbox.db")
        pg = _synced(mp, url, root / "sandbox.db")
    yield sqlite, pg
    sqlite.close()
    postgres.dispose(url)
    pg_server.drop_database(url)


def _filters(store: Store) -> list[ChartFilters]:
    from paynet_core.reports import filter_options

    options = filter_options(store)
    institution = options["institutions"][0]
    return [
        ChartFilters(),
        ChartFilters(day_from=date(2026, 6, 1), day_to=date(2026, 9, 30)),
        ChartFilters(providers=("payofin",), institutions=(institution,)),
        ChartFilters(providers=("paynet",), agent_id=_an_agent(store)),
    ]


def _an_agent(store: Store) -> str:
    return store.query("SELECT MIN(agent_id) AS a FROM invoices")["a"][0]


def test_every_chart_function_and_view_gives_the_same_numbers_on_both(both):
    sqlite, pg = both
    assert sqlite.query("SELECT COUNT(*) AS n FROM invoices")["n"][0] >= 20_000
    for name, order in VIEWS.items():
        nulls_first = ", ".join(f"{c} NULLS FIRST" for c in order.split(", "))
        sql = f"SELECT * FROM {name} ORDER BY {nulls_first}"
        pd.testing.assert_frame_equal(sqlite.query(sql), pg.query(sql), obj=name)
    calls = []
    for filters in _filters(sqlite):
        calls.append(("kpis", lambda s, f=filters: kpis(s, f)))
        for grain in GRAINS:
            calls += [
                (
                    "outcome_series",
                    lambda s, f=filters, g=grain: outcome_series(s, grain=g, filters=f),
                ),
                ("cancellation_rate", lambda s, f=filters, g=grain: cancellation_rate(s, g, f)),
                ("fee_totals", lambda s, f=filters, g=grain: fee_totals(s, g, f)),
            ]
        for by in BREAKDOWNS:
            calls.append(("breakdown", lambda s, f=filters, b=by: breakdown(s, by=b, filters=f)))
    for name, call in calls:
        left, right = call(sqlite), call(pg)
        if isinstance(left, dict):
            assert left == right, name
        else:
            pd.testing.assert_frame_equal(left, right, obj=name)
    assert sqlite.rollup_differences() == pg.rollup_differences() == []


def test_db_copy_verifies_every_table_and_the_dashboard_shows_the_same_overview(
    tmp_path, monkeypatch, pg_cache
):
    import pg_server

    from paynet_core.jobs import run_job, start_job
    from paynet_core.jobs.planner import plan_status_changes
    from paynet_core.runtime import prepare_demo

    pg_server.empty_database(pg_cache)
    cache = tmp_path / "cache.db"
    runtime = prepare_demo(open_runtime(load_settings()))
    store = runtime.store
    waiting = store.find_invoices(status=0, limit=5)["invoice_no"].tolist()
    job_id = start_job(
        plan_status_changes([(no, 5) for no in waiting], store=store),
        runtime=runtime,
        created_by="ayse@example.com",
        rate=0,
    )
    asyncio.run(run_job(job_id, runtime))
    assert store.job(job_id)["state"] == "done"
    assert len(store.audit_rows()) >= 2
    store.close()

    from paynet_core.store.copying import TABLE_KEYS, digest

    result = runner.invoke(app, ["db", "copy", "--from", str(cache), "--to", pg_cache])
    assert result.exit_code == 0, result.output
    assert f"all {len(TABLE_KEYS)} tables copied and verified" in result.output
    assert "DIFFERS" not in result.output and "job_items" in result.output

    with Store.open(cache) as a, Store.open(pg_cache) as b:
        for table in TABLE_KEYS:
            assert digest(a, table) == digest(b, table), table
        assert kpis(a) == kpis(b)
        assert b.job(job_id)["state"] == "done"

    # Copying again refuses: the target is not empty any more.
    again = runner.invoke(app, ["db", "copy", "--from", str(cache), "--to", pg_cache])
    assert again.exit_code == 2 and "is not empty" in again.output

    monkeypatch.setenv("PAYNET_OPS_DB", pg_cache)
    info = runner.invoke(app, ["db", "info"])
    assert info.exit_code == 0, info.output
    assert (
        "backend: postgresql" in info.output and f"schema version: {LATEST_VERSION}" in info.output
    )

    overview = {}
    for target in (str(cache), pg_cache):
        monkeypatch.setenv("PAYNET_OPS_DB", target)
        overview[target] = _overview_metrics()
    assert overview[str(cache)] == overview[pg_cache]
    assert overview[pg_cache]  # the page showed its cards


def _overview_metrics() -> list[tuple[str, str]]:
    from streamlit.testing.v1 import AppTest

    from dashboard import services

    services.runtime.clear()
    app_file = next(
        p / "dashboard" / "app.py"
        for p in Path(__file__).resolve().parents
        if (p / "dashboard" / "app.py").is_file()
    )
    at = AppTest.from_file(str(app_file), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return [(m.label, m.value) for m in at.metric]


def test_postgresql_urls_are_checked_at_start_and_never_shown_with_their_password():
    settings = load_settings(
        {"PAYNET_OPS_DB": "postgresql://ops:hunter2@db.local:5432/cache"}, None
    )
    assert settings.db_url is not None and "hunter2" not in repr(settings)
    assert settings.cache_label == "postgresql://ops:***@db.local:5432/cache"
    assert "hunter2" not in str(settings.describe())
    for bad, says in (
        ("postgresql://db.local:notaport/cache", "not a valid PostgreSQL URL"),
        ("postgresql://db.local:5432", "names no database"),
    ):
        with pytest.raises(ConfigError, match=says):
            load_settings({"PAYNET_OPS_DB": bad}, None)
    with pytest.raises(ConfigError, match="only the cache"):
        load_settings({"PAYNET_OPS_SANDBOX_DB": "postgresql://db/x"}, None)


def test_paynet_ops_sql_on_postgresql_reads_only_within_its_time_limit(cache_target):
    if not postgres.is_url(cache_target):
        pytest.skip("the SQLite side is covered by tests/cli/test_support_cli.py")
    Store.open(cache_target).close()
    ok = runner.invoke(app, ["sql", "SELECT version, name FROM schema_migrations ORDER BY 1"])
    assert ok.exit_code == 0, ok.output
    assert "initial schema" in ok.output
    for statement, says in (
        ("DELETE FROM audit_log", "refused"),
        ("SELECT 1; DELETE FROM audit_log", "one statement at a time"),
        ("WITH d AS (DELETE FROM jobs RETURNING 1) SELECT * FROM d", "read-only"),
    ):
        result = runner.invoke(app, ["sql", statement])
        assert result.exit_code == 2, (statement, result.output)
        assert says in result.output, (statement, result.output)
    slow = runner.invoke(app, ["sql", "SELECT pg_sleep(5)", "--timeout", "0.3"])
    assert slow.exit_code == 2 and "time limit" in slow.output, slow.output


def test_eight_threads_a_sync_and_a_job_write_at_once_without_error_or_loss(cache_target, tmp_path):
    """Dashboard-style sessions (audit rows, language choices, status changes, chart reads), a
    sync and a bulk job, all at once on one PostgreSQL database."""
    if not postgres.is_url(cache_target):
        pytest.skip("SQLite's concurrency is covered by tests/store/test_store_concurrency.py")
    from paynet_core.jobs import run_job, start_job
    from paynet_core.jobs.planner import plan_status_changes
    from paynet_core.ops.sync import sync_all
    from paynet_core.runtime import prepare_demo

    runtime = prepare_demo(open_runtime(load_settings()))
    store = runtime.store
    waiting = store.find_invoices(status=0, limit=200)["invoice_no"].tolist()
    job_nos, session_nos = waiting[:100], waiting[100:]
    job_id = start_job(
        plan_status_changes([(no, 5) for no in job_nos], store=store),
        runtime=runtime,
        created_by="job@example.com",
        rate=0,
    )
    audits_before = len(store.audit_rows(limit=100_000))
    errors: list[BaseException] = []
    per_thread = 12

    def session(n: int) -> None:
        try:
            own = Store.open(cache_target)  # each dashboard replica has its own store
            for i in range(per_thread):
                own.audit(f"user{n}@example.com", "page.view", mode="sandbox", target_ids=[str(i)])
                own.set_user_language(f"user{n}@example.com", "tr" if i % 2 else "en")
                no = session_nos[(n * per_thread + i) % len(session_nos)]
                own.record_status_change(no, 3, source="action", actor=f"user{n}")
                kpis(own)
                outcome_series(own, grain="week")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def background(work) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(8)]
    threads.append(
        threading.Thread(target=background, args=(lambda: asyncio.run(run_job(job_id, runtime)),))
    )
    threads.append(
        threading.Thread(target=background, args=(lambda: sync_all(runtime, full=True),))
    )
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert store.job(job_id)["state"] == "done"
    assert store.job_progress(job_id)["done"] == len(job_nos)
    audits = store.audit_rows(action="page.view", limit=100_000)
    assert len(audits) == 8 * per_thread
    assert len(store.audit_rows(limit=100_000)) >= audits_before + 8 * per_thread
    assert {store.user_language(f"user{n}@example.com") for n in range(8)} == {"tr"}
    assert store.rollup_differences() == []


def test_db_migrate_brings_either_backend_to_the_current_schema(cache_target, tmp_path):
    from paynet_core.store import LATEST_VERSION

    if postgres.is_url(cache_target):
        import pg_server

        server = cache_target.rsplit("/", 1)[0] + "/postgres"
        target = pg_server.create_database(server)  # an empty database: schema version 0
    else:
        target = str(tmp_path / "old.db")
        Store(target).migrate(to=3)
    try:
        with Store.open(target, migrate=False) as store:
            before = store.schema_version()
        assert before < LATEST_VERSION
        env = {"PAYNET_OPS_DB": target}
        result = runner.invoke(app, ["db", "migrate"], env=env)
        assert result.exit_code == 0, result.output
        assert f"schema version {before} → {LATEST_VERSION}" in result.output
        again = runner.invoke(app, ["db", "migrate"], env=env)
        assert again.exit_code == 0 and "is at the current schema" in again.output
        info = runner.invoke(app, ["db", "info"], env=env)
        assert f"schema version: {LATEST_VERSION}" in info.output
        assert ("postgresql" if postgres.is_url(target) else "sqlite") in info.output
    finally:
        if postgres.is_url(target):
            postgres.dispose(target)
            pg_server.drop_database(target)


def test_eight_stores_opening_an_empty_database_at_once_migrate_it_once(cache_target, tmp_path):
    # Workers started together on a new database all migrate it: the losers must see the
    # winner's schema after taking the lock, not fail on "relation already exists" (PostgreSQL)
    # or "database is locked" while the winner turns the new file to WAL (SQLite).
    rounds = 1 if postgres.is_url(cache_target) else 10  # SQLite's race was 1 round in 20
    for n in range(rounds):
        if postgres.is_url(cache_target):
            import pg_server

            target = pg_server.create_database(cache_target.rsplit("/", 1)[0] + "/postgres")
        else:
            target = str(tmp_path / f"new{n}.db")
        start, errors = threading.Barrier(8), []

        def open_it(target=target, start=start, errors=errors) -> None:
            start.wait()
            try:
                Store.open(target).close()
            except Exception as err:  # noqa: BLE001 - every failure is the finding
                errors.append(err)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert errors == []
            with Store.open(target) as store:
                assert store.schema_version() == LATEST_VERSION
                applied = store.query("SELECT version FROM schema_migrations ORDER BY version")
            assert applied["version"].tolist() == list(range(1, LATEST_VERSION + 1))
        finally:
            if postgres.is_url(target):
                postgres.dispose(target)
                pg_server.drop_database(target)


def test_a_first_sync_probe_finds_cached_keys_whatever_the_databases_collation(pg_url):
    """The store skips a batch's lookups when no cached key lies between its smallest and
    largest, bounds taken in Python (code point order). In a linguistic collation "a3" sorts
    before "B1"; the cache's text columns compare bytes all the same, so "a3" is found."""
    import pg_server

    from paynet_core.paynet.models import Invoice

    url = pg_server.create_database(pg_url, options="LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
    try:
        with Store.open(url) as store:
            assert store.query("SELECT 'a3' < 'B1' AS before")["before"].tolist() == [True]

            def invoice(no: str, status: int = 0) -> Invoice:
                return Invoice(invoice_no=no, subscription_id="S1", amount=100, status=status)

            store.upsert_invoices([invoice("a3")])
            result = store.upsert_invoices([invoice("B1"), invoice("a3", status=3)])
            assert (result.new, result.changed) == (1, 1)
            assert store.query("SELECT COUNT(*) AS n FROM invoices")["n"].tolist() == [2]
    finally:
        postgres.dispose_all()
        pg_server.drop_database(url)
