"""Generic statements both backends run the same way (no sqlite-utils table helpers: the
PostgreSQL backend's connections speak only ``execute``/``executemany``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def insert_rows(conn: Any, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows that all carry the same columns (one ``executemany``, on either backend)."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({marks})",
        [tuple(row[c] for c in columns) for row in rows],
    )


def insert_returning(conn: Any, table: str, row: Mapping[str, Any], column: str) -> Any:
    """Insert one row and return one of its columns (e.g. the id the database gave it)."""
    names = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" * len(row))
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING {column}", tuple(row.values())
    )
    return cursor.fetchone()[0]
