"""The cache schema is a public interface: every table, view and column must be documented."""

import re
import sqlite3
from pathlib import Path

import pytest

from paynet_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"]
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """Documented table/view name (a backticked name in a heading) → the text under it."""
    found: dict[str, str] = {}
    headings = list(HEADING.finditer(text))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        body = text[heading.end() : following.start() if following else len(text)]
        for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", heading.group(1)):
            found[name] = found.get(name, "") + body
    return found


def documented() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in DOCS:
        if path.exists():
            for name, body in sections(path.read_text(encoding="utf-8")).items():
                merged[name] = merged.get(name, "") + body
    return merged


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="module", params=BACKENDS)
def schema(request, tmp_path_factory) -> dict[str, list[str]]:
    """Tables and views with their columns, on each backend: both must match the docs."""
    if request.param == "postgresql":
        store = Store.open(request.getfixturevalue("pg_cache"))
        rows = store.db.conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
        store.close()
        tables: dict[str, list[str]] = {}
        for table, column in rows:
            tables.setdefault(table, []).append(column)
        return tables
    store = Store.open(tmp_path_factory.mktemp("docs") / "cache.db")
    conn = store.db.conn
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    tables = {name: [c[1] for c in conn.execute(f"PRAGMA table_info('{name}')")] for name in names}
    store.close()
    return tables


def test_every_table_and_view_has_a_section(schema):
    docs = documented()
    missing = sorted(set(schema) - set(docs))
    assert not missing, f"document these in README.md (a heading with `name`): {missing}"


def test_every_column_is_documented_under_its_table(schema):
    docs = documented()
    missing = [
        f"{table}.{column}"
        for table, columns in schema.items()
        for column in columns
        if f"`{column}`" not in docs.get(table, "")
    ]
    assert not missing, f"document these columns in README.md: {missing}"


def test_the_schema_doc_names_no_table_that_does_not_exist(schema):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headed = {
        name
        for heading in HEADING.findall(text)
        for name in re.findall(r"^`([A-Za-z_][A-Za-z0-9_]*)`", heading)
    }
    assert headed - set(schema) == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_queries_run_on_a_read_only_cache(tmp_path, backend, request):
    target = str(tmp_path / "cache.db")
    if backend == "postgresql":
        target = request.getfixturevalue("pg_cache")
    Store.open(target).close()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, re.DOTALL)
    assert blocks
    statements, current = [], ""
    for line in "".join(blocks).splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    assert len(statements) >= 4
    ro = Store.read_only(target)
    for sql in statements:
        ro.query(sql)
    ro.close()
