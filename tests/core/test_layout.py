"""The package layout's rules that a refactor could quietly break."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What counts as SQL or a statement being run: the same pattern the re-layout issue gives.
SQL = re.compile(r"execute\(|executemany\(|SELECT |INSERT |UPDATE |DELETE ")
#: Where SQL may live: the store, and the sandbox's own private database.
ALLOWED = ("paynet_core/store/", "paynet_core/sandbox/")


def sql_outside_the_store(root: Path = ROOT) -> list[str]:
    """``path:line: text`` of every line outside the store that looks like SQL."""
    found = []
    for folder in ("paynet_core", "dashboard"):
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(ALLOWED):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SQL.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_sql_outside_the_store():
    found = sql_outside_the_store()
    assert not found, "SQL belongs in paynet_core/store/ (add a named store method):\n" + "\n".join(
        found
    )


def test_the_check_finds_sql(tmp_path):
    """The check itself can fail: a stray statement outside the store is reported."""
    (tmp_path / "paynet_core" / "store").mkdir(parents=True)
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "paynet_core" / "store" / "ok.py").write_text('q = "SELECT 1"\n')
    (tmp_path / "dashboard" / "page.py").write_text('store.db.conn.execute("DELETE FROM x")\n')
    assert sql_outside_the_store(tmp_path) == [
        'dashboard/page.py:1: store.db.conn.execute("DELETE FROM x")'
    ]
