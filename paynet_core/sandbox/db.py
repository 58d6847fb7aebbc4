"""The sandbox database underneath :class:`~.state.State`: one SQLite connection, one lock.

Every read and write goes through :meth:`Db.transaction`, which holds a re-entrant lock for the
whole request, so a check-then-write (e.g. "is this invoice_no free?" then insert) is atomic
across threads and both doors. Datetimes are stored as naive Istanbul-local ISO text and come
back aware (the helpers below); money is int kuruş.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from os import PathLike
from typing import Any, Self, TypeVar

from ..dates import ISTANBUL, to_istanbul

T = TypeVar("T")


def _ts(dt: datetime) -> str:
    return to_istanbul(dt).replace(tzinfo=None).isoformat(timespec="seconds")


def _ts_ms(dt: datetime) -> str:
    # The request log wants sub-second order for a human reading it; ISO text still sorts.
    return to_istanbul(dt).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else _at(text)


def _at(text: str) -> datetime:
    """A NOT NULL time column, back as an aware Istanbul datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ISTANBUL)


def _there(value: T | None) -> T:
    """A row read back inside the transaction that wrote it (or checked it): it is there."""
    assert value is not None
    return value


class Db:
    """The connection and the transaction every subject's tables share. ``path`` may be
    ``":memory:"``."""

    def __init__(self, path: str | PathLike[str] = ":memory:"):
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """Hold the lock and one SQLite transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, tuple(params)).fetchone()

    def _count(self, sql: str, params: Iterable[Any] = ()) -> int:
        """The single number a ``SELECT COUNT(*) ...`` gives."""
        row = _there(self._one(sql, params))
        return int(row[0])
