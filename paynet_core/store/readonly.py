"""People's own SQL on a read-only cache (``paynet-ops sql``): read it, and nothing else.

On SQLite an authorizer refuses anything but reading when the statement is prepared, and a
progress handler stops it after its time limit or on Ctrl+C. On PostgreSQL the statement runs
in a ``READ ONLY`` transaction that is always rolled back, with ``statement_timeout`` as the
time limit, prepared (so one statement only: ``COMMIT; DELETE ...`` cannot leave the read-only
transaction); the README shows the read-only role that makes this hold for any client.
"""

from __future__ import annotations

import math
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object

#: Pragmas that only read. Anything else (``query_only = OFF``, ``wal_checkpoint``...) is refused.
READ_PRAGMAS = frozenset(
    {
        "application_id", "collation_list", "compile_options", "database_list", "encoding",
        "foreign_key_list", "freelist_count", "function_list", "index_info", "index_list",
        "index_xinfo", "journal_mode", "page_count", "page_size", "pragma_list",
        "schema_version", "table_info", "table_list", "table_xinfo", "user_version",
    }
)  # fmt: skip
_SETTABLE_READ_PRAGMAS = frozenset(
    {"foreign_key_list", "index_info", "index_list", "index_xinfo", "table_info", "table_xinfo"}
)
_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name.replace(' ', '_')}"): name
    for name in (
        "INSERT", "UPDATE", "DELETE", "ATTACH", "DETACH", "ALTER TABLE", "ANALYZE", "REINDEX",
        "TRANSACTION", "SAVEPOINT", "CREATE INDEX", "CREATE TABLE", "CREATE TEMP INDEX",
        "CREATE TEMP TABLE", "CREATE TEMP TRIGGER", "CREATE TEMP VIEW", "CREATE TRIGGER",
        "CREATE VIEW", "CREATE VTABLE", "DROP INDEX", "DROP TABLE", "DROP TEMP INDEX",
        "DROP TEMP TABLE", "DROP TEMP TRIGGER", "DROP TEMP VIEW", "DROP TRIGGER", "DROP VIEW",
        "DROP VTABLE",
    )
}  # fmt: skip
_FIRST_WORD = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)
_READING_WORDS = {"select", "with", "values", "explain", "pragma"}


class SqlRefused(Exception):
    """The statement would write (or reach outside the cache file)."""


class ReadOnlyGuard:
    """An SQLite authorizer that lets a statement read and nothing else.

    Belt and braces on top of the read-only connection: ``mode=ro`` and ``query_only`` stop
    writes to the cache, but ``ATTACH 'new.db'`` (and ``VACUUM INTO``) would still *create* a
    file, and ``PRAGMA query_only = OFF`` would lift the guard; the authorizer refuses them
    when the statement is prepared, before anything runs.
    """

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in READ_PRAGMAS and (arg2 is None or name in _SETTABLE_READ_PRAGMAS):
                return sqlite3.SQLITE_OK
            self.denied = self.denied or f"PRAGMA {arg1}{'' if arg2 is None else ' = ' + arg2}"
            return sqlite3.SQLITE_DENY
        self.denied = self.denied or _ACTION_NAMES.get(action, f"action {action}")
        return sqlite3.SQLITE_DENY


class SqlStopped(Exception):
    """The statement was stopped: past its time limit, or by Ctrl+C (``interrupted``)."""

    def __init__(self, message: str, *, interrupted: bool):
        self.interrupted = interrupted
        super().__init__(message)


#: SQLite calls the progress handler every this many virtual-machine steps (well under 1 ms).
_PROGRESS_STEPS = 1_000
_FETCH_CHUNK = 500


class _Stop:
    def __init__(self, timeout: float | None) -> None:
        self.deadline = time.monotonic() + timeout if timeout else math.inf
        self.interrupted = False
        self.reason: str | None = None

    def __call__(self) -> int:  # SQLite's progress handler: non-zero ends the statement
        if self.interrupted:
            self.reason = "interrupted"
        elif time.monotonic() > self.deadline:
            self.reason = "timeout"
        return 1 if self.reason else 0


@contextmanager
def _stoppable(conn: sqlite3.Connection, timeout: float | None) -> Iterator[_Stop]:
    stop = _Stop(timeout)

    def on_sigint(signum, frame) -> None:
        stop.interrupted = True

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (a library caller): only the time limit applies
        previous = None
    conn.set_progress_handler(stop, _PROGRESS_STEPS)
    try:
        yield stop
    finally:
        conn.set_progress_handler(None, 0)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if stop.interrupted and stop.reason is None:
        raise SqlStopped("stopped by Ctrl+C", interrupted=True)


class ReadOnlyMixin(_StoreBase):
    """:meth:`read_only_query`, the one way user SQL reaches the cache."""

    def read_only_query(
        self, sql: str, *, timeout: float | None = None, max_rows: int | None = None
    ) -> tuple[list[str], list[tuple], bool]:
        """(columns, up to ``max_rows`` rows, whether more rows exist) of one read-only statement.

        Rows are fetched a chunk at a time, so ``LIMIT``-less queries over a big cache stop after
        ``max_rows``. A progress handler ends the statement after ``timeout`` seconds or on Ctrl+C
        (SQLite runs the statement in C, where Python would only see the KeyboardInterrupt after it
        ends: the signal handler sets a flag the progress handler reads).
        """
        match = _FIRST_WORD.match(sql)
        word = match.group(1).lower() if match else ""
        if word not in _READING_WORDS:
            raise SqlRefused(
                f"{(word or 'an empty statement').upper()} is refused: paynet-ops sql only reads "
                "(SELECT, WITH ... SELECT, VALUES, EXPLAIN, read-only PRAGMA)"
            )
        if self.dialect == "postgresql":
            return self._pg_read_only_query(sql, timeout=timeout, max_rows=max_rows)
        guard = ReadOnlyGuard()
        conn = self.db.conn
        conn.set_authorizer(guard)
        try:
            with _stoppable(conn, timeout) as stop:
                try:
                    cursor = conn.execute(sql)
                    columns = [d[0] for d in cursor.description] if cursor.description else []
                    rows: list[tuple] = []
                    while max_rows is None or len(rows) <= max_rows:
                        want = (
                            _FETCH_CHUNK
                            if max_rows is None
                            else min(_FETCH_CHUNK, max_rows + 1 - len(rows))
                        )
                        chunk = cursor.fetchmany(want)
                        if not chunk:
                            break
                        rows.extend(chunk)
                    cursor.close()
                except sqlite3.OperationalError:  # "interrupted": our own stop, said below
                    if stop.reason == "interrupted":
                        raise SqlStopped("stopped by Ctrl+C", interrupted=True) from None
                    if stop.reason == "timeout":
                        raise SqlStopped(
                            f"stopped after the time limit of {timeout:g} s (raise it with --timeout)",
                            interrupted=False,
                        ) from None
                    raise
        except sqlite3.DatabaseError as exc:
            if guard.denied:
                raise SqlRefused(
                    f"refused: the statement would {guard.denied} (paynet-ops sql only reads)"
                ) from None
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise SqlRefused(f"refused: {exc} (paynet-ops sql only reads)") from exc
            raise
        except sqlite3.ProgrammingError as exc:  # e.g. two statements at once
            raise SqlRefused(f"refused: {exc}") from exc
        finally:
            conn.set_authorizer(None)
        more = max_rows is not None and len(rows) > max_rows
        return columns, rows[:max_rows] if more else rows, more

    def _pg_read_only_query(
        self, sql: str, *, timeout: float | None, max_rows: int | None
    ) -> tuple[list[str], list[tuple], bool]:
        import psycopg

        from . import postgres

        assert self.url is not None
        raw = postgres.engine(self.url).raw_connection()
        conn = raw.driver_connection
        conn.autocommit = True
        try:
            conn.execute("BEGIN READ ONLY")
            if timeout:
                conn.execute(f"SET LOCAL statement_timeout = '{int(timeout * 1000)}ms'")
            try:
                with conn.cursor() as cursor:
                    # prepare=True: the extended protocol, which runs exactly one statement.
                    cursor.execute(sql.encode(), prepare=True)
                    columns = [d.name for d in cursor.description] if cursor.description else []
                    limit = None if max_rows is None else max_rows + 1
                    rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
            except psycopg.errors.QueryCanceled:
                raise SqlStopped(
                    f"stopped after the time limit of {timeout:g} s (raise it with --timeout)",
                    interrupted=False,
                ) from None
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                raise SqlRefused(
                    f"refused: {exc.diag.message_primary} (paynet-ops sql only reads)"
                ) from None
            except psycopg.errors.SyntaxError as exc:
                if "multiple commands" in str(exc):
                    raise SqlRefused("refused: one statement at a time") from None
                raise
            except KeyboardInterrupt:
                conn.cancel()
                raise SqlStopped("stopped by Ctrl+C", interrupted=True) from None
        finally:
            if not conn.closed:
                conn.execute("ROLLBACK")
            raw.close()
        more = max_rows is not None and len(rows) > max_rows
        return columns, rows[:max_rows] if more else rows, more
