"""Opening the cache: connections, WAL, write transactions, the data version, migrating.

Many writers share the file: Streamlit runs each session on its own thread and the CLI runs in
other processes. So every thread gets its own connection (WAL, a 30 s busy timeout, foreign
keys on), and every write runs in a ``BEGIN IMMEDIATE`` transaction: writers take the write
lock up front and queue behind each other instead of failing half-way with "database is
locked" when a read transaction tries to turn into a write.

The cache may instead be a PostgreSQL database (``PAYNET_OPS_DB=postgresql://...``): then
:mod:`.postgres` supplies connections with the same ``execute``/``executemany`` shape, and
writers queue on an advisory lock the way SQLite's writers queue on ``BEGIN IMMEDIATE``.

This is where the backend-specific machinery lives (PRAGMAs, WAL, ``user_version``, savepoints,
the pool); the subject modules beside it speak plain SQL through :meth:`StoreBase.query` and
friends, and ask :attr:`StoreBase.dialect` for the few expressions that differ.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self, TypedDict

import pandas as pd
from sqlite_utils import Database

from .. import dates
from ..errors import StoreError
from . import migrations, postgres
from .rollup import RollupLevel, levels_for
from .rows import _timestamp

Dialect = Literal["sqlite", "postgresql"]

BUSY_TIMEOUT_S = 30.0


class _ConnectArgs(TypedDict):
    isolation_level: Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None
    check_same_thread: bool
    timeout: float


class _Handle:
    """A thread's connection; weakly tracked so ``close()`` can reach it and a dead thread's
    connection is freed with the thread (sqlite3 connections cannot be weakly referenced)."""

    __slots__ = ("db", "pid", "__weakref__")

    def __init__(self, db: Database):
        self.db = db
        self.pid = os.getpid()


class StoreBase:
    """Connections and transactions; :class:`~paynet_core.store.Store` adds the subjects."""

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        read_only: bool = False,
        clock: Callable[[], datetime] = dates.now,
    ):
        #: "sqlite" (a file path) or "postgresql" (a ``postgresql://`` URL).
        self.dialect: Dialect = "postgresql" if postgres.is_url(target) else "sqlite"
        self.url: str | None = str(target) if self.dialect == "postgresql" else None
        self.path = Path(target) if self.url is None else Path()
        self.is_read_only = read_only
        self._clock = clock
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._has_version = False
        self._pg_schema: int | None = None

    # ---- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = dates.now,
    ) -> Self:
        """Open (creating if needed) the cache and bring its schema up to date."""
        store = cls(path, clock=clock)
        if migrate:
            store.migrate()
        else:
            store.db  # noqa: B018 - connect now so a too-new schema fails here, not later
        return store

    @classmethod
    def read_only(cls, path: str | os.PathLike[str]) -> Self:
        """Open an existing cache so that nothing, not even raw SQL, can write to it."""
        if not postgres.is_url(path) and not Path(path).is_file():
            raise StoreError(f"no cache database at {path}")
        store = cls(path, read_only=True)
        store.db  # noqa: B018 - fail now on a missing file or a too-new schema
        return store

    def close(self) -> None:
        """Close every thread's connection. Call when no other thread is using the store."""
        with self._lock:
            self._closed = True
            handles = list(self._handles)
        for handle in handles:
            handle.db.conn.close()
        # PostgreSQL: the pool is shared by every Store on the URL in this process; it stays.

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def target(self) -> str:
        """The file path or the URL with its password masked: what messages and pages show."""
        return postgres.masked(self.url) if self.url is not None else str(self.path)

    def __repr__(self) -> str:
        return f"Store({self.target!r}{', read_only=True' if self.is_read_only else ''})"

    @property
    def db(self) -> Database:
        """This thread's connection, opened on first use (and again after a fork)."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is None or handle.pid != os.getpid():
            if self.url is not None:
                handle = _Handle(self._connect_postgres())  # type: ignore[arg-type]
            else:
                handle = _Handle(Database(self._connect(), execute_plugins=False))
            self._local.handle = handle
            with self._lock:
                self._handles.add(handle)
        return handle.db

    def _connect_postgres(self) -> postgres.PgHandle:
        assert self.url is not None
        handle = postgres.PgHandle(
            postgres.PgConn(postgres.engine(self.url), self.is_read_only), os.getpid()
        )
        try:
            version = self._pg_version(handle.conn)
        except Exception as exc:
            raise StoreError(f"cannot open the cache database {self.target}: {exc}") from exc
        if version > migrations.LATEST_VERSION:
            raise StoreError(
                f"the cache database {self.target} has schema version {version}, newer than "
                f"this paynet-ops understands (up to {migrations.LATEST_VERSION}). Upgrade "
                "paynet-ops, or point PAYNET_OPS_DB at another database."
            )
        return handle

    @staticmethod
    def _pg_version(conn: postgres.PgConn) -> int:
        # PostgreSQL has no user_version: the migrations table is the schema version. Asked of
        # pg_class with the statement's snapshot, not to_regclass(): a name lookup without a
        # lock answers from this backend's catalog cache, which still says "no such table"
        # after another process's migration committed while we waited for the writers' lock.
        exists = conn.execute(
            """SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class
                              WHERE relname = 'schema_migrations'
                                AND relnamespace = current_schema()::regnamespace)"""
        ).fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the driver opens no implicit transactions; we say BEGIN ourselves.
        common: _ConnectArgs = {
            "isolation_level": None,
            "check_same_thread": False,
            "timeout": BUSY_TIMEOUT_S,
        }
        conn: sqlite3.Connection | None = None
        try:
            if self.is_read_only:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, **common)
                conn.execute("PRAGMA query_only = ON")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), **common)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not self.is_read_only:
                _use_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the cache database {self.path}: {exc}") from exc
        if version > migrations.LATEST_VERSION:
            conn.close()
            raise StoreError(
                f"the cache database {self.path} has schema version {version}, newer than this "
                f"paynet-ops understands (up to {migrations.LATEST_VERSION}). Upgrade paynet-ops, or point "
                "PAYNET_OPS_DB at another file."
            )
        return conn

    # ---- transactions and migrations --------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.

        Nested use joins the outer transaction through a savepoint, so helpers compose.
        """
        if self.is_read_only:
            raise StoreError(f"{self!r} is read-only; it refuses writes")
        db = self.db
        if self.url is not None:
            with self._pg_transaction(db) as handle:
                yield handle
            return
        conn = db.conn
        if conn.in_transaction:
            with db.atomic():
                yield db
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot start a write transaction on {self.path}: {exc}") from exc
        changes = conn.total_changes
        try:
            yield db
            if conn.total_changes != changes and self._versioned(conn):
                conn.execute("UPDATE data_version SET version = version + 1")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _pg_transaction(self, db: Any) -> Iterator[Any]:
        conn: postgres.PgConn = db.conn
        if conn.in_transaction:
            with conn.begin():
                yield db
            return
        import psycopg

        try:
            with conn.begin():
                yield db
                if conn.changes and self._versioned(conn):
                    conn.execute("UPDATE data_version SET version = version + 1")
        except psycopg.errors.LockNotAvailable as exc:
            raise StoreError(
                f"the cache database {self.target} was busy for over "
                f"{postgres.LOCK_TIMEOUT_S:g} s (another writer held it); try again"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreError(f"lost the cache database {self.target}: {exc}") from exc

    def schema_version(self) -> int:
        if self.url is not None:
            # Two round trips on PostgreSQL: kept once current (only a newer paynet-ops
            # changes it, and that one migrates before anything reads).
            if self._pg_schema is not None:
                return self._pg_schema
            version = self._pg_version(self.db.conn)  # type: ignore[arg-type]
            if version >= migrations.LATEST_VERSION:
                self._pg_schema = version
            return version
        return self.db.conn.execute("PRAGMA user_version").fetchone()[0]

    def _versioned(self, conn: Any) -> bool:
        if not self._has_version:  # a schema from before the data version (mid-migration)
            self._has_version = self.schema_version() >= migrations.ROLLUP_VERSION
        return self._has_version

    def data_version(self) -> int:
        """A number that changes whenever a write transaction changed a row, in any process.

        Caches key on it, so nothing recomputes until the data changes (0: a schema too old to
        keep one).
        """
        if self.schema_version() < migrations.ROLLUP_VERSION:
            return 0
        return self.db.conn.execute("SELECT version FROM data_version").fetchone()[0]

    def migrate(self, to: int | None = None) -> list[int]:
        """Apply pending migrations up to ``to`` (default: latest), each in its own transaction.

        Returns the versions applied; running it again is a no-op. Safe when two processes
        migrate at once: each re-reads the version after taking the write lock.
        """
        target = migrations.LATEST_VERSION if to is None else to
        if not 0 <= target <= migrations.LATEST_VERSION:
            raise ValueError(f"schema version must be between 0 and {migrations.LATEST_VERSION}")
        applied: list[int] = []
        if self.schema_version() >= target:
            return applied  # the common case: no write lock taken just to open the file
        for migration in migrations.MIGRATIONS[:target]:
            with self.transaction() as db:
                if self.schema_version() >= migration.version:
                    continue
                for statement in migration.for_dialect(self.dialect):
                    db.conn.execute(statement)
                if self.dialect == "sqlite":
                    db.conn.execute(f"PRAGMA user_version = {migration.version}")
                db.conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, self._now()),
                )
            applied.append(migration.version)
        return applied

    # ---- small helpers ----------------------------------------------------------------------

    def rollup_levels(self) -> tuple[RollupLevel, ...]:
        """The rollup tables this cache's schema has, that writes keep in step."""
        return levels_for(self.schema_version())

    def _find_function(self) -> str:
        """The position-of-substring function: ``instr`` on SQLite, ``strpos`` on PostgreSQL."""
        return "strpos" if self.dialect == "postgresql" else "instr"

    def _now(self) -> str:
        return _timestamp(self._clock())

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
        cursor = self.db.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> dict | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> pd.DataFrame:
        """Run a read query and return a DataFrame (columns kept even when no row matches)."""
        cursor = self.db.conn.execute(sql, params)
        names = [d[0] for d in cursor.description] if cursor.description else []
        return pd.DataFrame.from_records(cursor.fetchall(), columns=names)


def _use_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out another connection switching the same file.

    Turning a new file to WAL takes an exclusive lock, and SQLite answers "database is locked"
    at once, without its busy wait, to a second connection doing the same (workers or a
    dashboard and the CLI started together on a new cache): that one retries until the busy
    timeout, by which time the file is in WAL already.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
