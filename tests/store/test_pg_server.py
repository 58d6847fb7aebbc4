"""The throwaway PostgreSQL server the PostgreSQL store and job queue tests will run on."""

import psycopg
import pytest
import sqlalchemy as sa


def test_fresh_database_takes_writes_and_reads_them_back(pg_db):
    with psycopg.connect(pg_db) as conn:
        conn.execute(
            "CREATE TABLE invoice (invoice_no text PRIMARY KEY, amount_kurus bigint NOT NULL)"
        )
        conn.execute("INSERT INTO invoice VALUES (%s, %s), (%s, %s)", ("A1", 12_550, "A2", 99))
        rows = conn.execute("SELECT invoice_no, amount_kurus FROM invoice ORDER BY 1").fetchall()
    assert rows == [("A1", 12_550), ("A2", 99)]


def test_each_test_gets_an_empty_database_of_its_own(pg_url, pg_db):
    with psycopg.connect(pg_db) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        name = conn.execute("SELECT current_database()").fetchone()[0]
    assert tables == (0,)
    assert name.startswith("test_") and not pg_db.endswith("/postgres")


def test_server_is_tuned_for_tests_and_trusts_local_connections(pg_url):
    with psycopg.connect(pg_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["fsync", "synchronous_commit", "full_page_writes", "listen_addresses"],),
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "listen_addresses": "127.0.0.1",
    }


def test_sqlalchemy_speaks_to_it_through_psycopg3(pg_db):
    engine = sa.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT 41 + 1")).scalar_one() == 42
    finally:
        engine.dispose()


def test_dropped_database_is_gone(pg_url):
    import pg_server

    url = pg_server.create_database(pg_url)
    with psycopg.connect(url) as conn:  # left open on purpose: the drop must force it closed
        pg_server.drop_database(url)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url).close()
