"""The sandbox demo seeded and synced once per test session, copied into each test that needs it.

Seeding a year of demo data and syncing it into a cache takes seconds on a busy machine; the
copy is what that per-test first sync would have written (same code, same day).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

#: The folder of the session's demo files, once built (a plain cache rather than a session
#: fixture: the test modules import their fixtures by name).
_BUILT: list[Path] = []


def _copy_db(source: Path, target: Path) -> None:
    # SQLite's backup API: a consistent copy even while the source is open in WAL mode.
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from paynet_core.runtime import prepare_demo

    if _BUILT:
        return _BUILT[0]
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("PAYNET_", "PAYOFIN_")):
                mp.delenv(key)
        mp.setenv("PAYNET_OPS_SANDBOX_DB", str(folder / "sandbox.db"))
        mp.setenv("PAYNET_OPS_DB", str(folder / "cache.db"))
        prepare_demo()
    _BUILT.append(folder)
    return folder


def copy_synced_demo(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Put the synced demo at ``$PAYNET_OPS_SANDBOX_DB`` and ``$PAYNET_OPS_DB`` (the test's tmp
    files, see conftest); a following ``prepare_demo()`` finds the cache synced."""
    files = _demo_files(tmp_path_factory)
    _copy_db(files / "sandbox.db", Path(os.environ["PAYNET_OPS_SANDBOX_DB"]))
    target = os.environ["PAYNET_OPS_DB"]
    if "://" in target:  # the cache on PostgreSQL (tests' cache_target): what db copy does
        from paynet_core.store import Store
        from paynet_core.store.copying import copy_cache

        with Store.open(files / "cache.db") as source, Store.open(target) as cache:
            copy_cache(source, cache)
        return
    _copy_db(files / "cache.db", Path(target))
