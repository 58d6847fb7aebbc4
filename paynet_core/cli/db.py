"""``paynet-ops db``: the cache database itself, on SQLite or PostgreSQL.

- ``db check``: is ``daily_rollup`` in step with its base tables? Exit 0 when the rollup equals a
  rebuild from ``invoices`` and ``bill_payments``; 1 when it does not (the differing keys are
  listed); 2 when the check cannot run (no cache, or a schema from before the rollup).
- ``db info``: backend, schema version, data version and rows per table.
- ``db migrate``: bring a cache to the current schema.
- ``db copy --from A --to B``: copy a whole cache into an empty one and verify every table
  (exit 1 when a count or a digest differs, 2 when the copy cannot start).
"""

from __future__ import annotations

import typer
from rich.console import Console

from ..errors import StoreError
from . import app
from .console import visible

EXIT_OK, EXIT_DIFFERENT, EXIT_CANNOT = 0, 1, 2
#: Differing keys listed one per line; the rest are only counted.
SHOWN = 20

db_app = typer.Typer(
    help="The cache database itself: info, migrate, copy to another backend, consistency check.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@db_app.command("check")
def check() -> None:
    """Rebuild the daily rollup from the base tables (in memory) and compare it with the
    stored one. Reads only; the cache is opened read-only."""
    from ..config import load_settings
    from ..store import ROLLUP_VERSION, Store

    settings = load_settings()
    path = settings.cache_target
    try:
        store = Store.read_only(path)
    except StoreError as exc:
        err_console.print(f"[red]Error:[/] {exc} (set PAYNET_OPS_DB)", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT) from None
    try:
        version = store.schema_version()
        if version < ROLLUP_VERSION:
            err_console.print(
                f"[red]Error:[/] {store.target} has schema version {version}, from before the rollup "
                f"(version {ROLLUP_VERSION}); open it once with paynet-ops to migrate it.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_CANNOT)
        differences = store.rollup_differences()
        rows = store.rollup_row_count()
        levels = store.rollup_levels()
    finally:
        store.close()
    if not differences:
        console.print(
            f"{', '.join(level.table for level in levels)} are consistent with the base "
            f"tables ({rows:,} rows) in {store.target}",
            soft_wrap=True,
        )
        return
    console.print(
        f"[red]the rollup differs from a rebuild at {len(differences):,} keys[/] in {store.target}",
        soft_wrap=True,
    )
    for diff in differences[:SHOWN]:
        console.print(_line(diff), soft_wrap=True)
    if len(differences) > SHOWN:
        console.print(f"… and {len(differences) - SHOWN:,} more")
    raise typer.Exit(EXIT_DIFFERENT)


def _line(diff: dict) -> str:
    where = " ".join(
        f"{name}={diff[name]!r}"
        for name in (
            "provider",
            "day",
            "outcome",
            "status",
            "institution",
            "invoice_type",
            "agent_id",
        )
    )
    return f"  {diff['table']} {where}: stored {_totals(diff['kept'])}, rebuilt {_totals(diff['rebuilt'])}"


def _totals(values: tuple | None) -> str:
    """(count, amount, fee) as ``n / kuruş / fee``."""
    return "missing" if values is None else " / ".join(str(v) for v in values)


def _open(target: str, *, migrate: bool, what: str = "cache"):
    from ..store import Store, postgres

    if not postgres.is_url(target) and "://" in target:
        err_console.print(
            f"[red]Error:[/] {visible(target)} is neither a file path nor a postgresql:// URL",
            soft_wrap=True,
            markup=True,
        )
        raise typer.Exit(EXIT_CANNOT)
    try:
        return Store.open(target, migrate=migrate)
    except StoreError as exc:
        err_console.print(f"[red]Error:[/] cannot open the {what}: {visible(exc)}", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT) from None


def _configured() -> str:
    from ..config import load_settings

    return str(load_settings().cache_target)


@db_app.command("info")
def info() -> None:
    """Show the cache's backend, schema version, data version and rows per table."""
    from ..store import LATEST_VERSION
    from ..store.copying import row_counts

    store = _open(_configured(), migrate=False)
    try:
        version = store.schema_version()
        counts = row_counts(store) if version >= LATEST_VERSION else {}
        console.print(f"backend: {store.dialect}", soft_wrap=True)
        console.print(f"database: {visible(store.target)}", soft_wrap=True)
        behind = (
            "" if version == LATEST_VERSION else f" (current: {LATEST_VERSION}; run db migrate)"
        )
        console.print(f"schema version: {version}{behind}", soft_wrap=True)
        console.print(f"data version: {store.data_version()}", soft_wrap=True)
        for table, n in counts.items():
            console.print(f"  {table:<24} {n:>12,}", soft_wrap=True)
    finally:
        store.close()


@db_app.command("migrate")
def migrate() -> None:
    """Bring the cache (SQLite or PostgreSQL) to the current schema; a no-op when it is."""
    store = _open(_configured(), migrate=False)
    try:
        before = store.schema_version()
        applied = store.migrate()
    except StoreError as exc:
        err_console.print(f"[red]Error:[/] {visible(exc)}", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT) from None
    finally:
        store.close()
    if applied:
        console.print(
            f"{visible(store.target)}: schema version {before} → {applied[-1]} "
            f"(applied {', '.join(map(str, applied))})",
            soft_wrap=True,
        )
    else:
        console.print(
            f"{visible(store.target)} is at the current schema ({before})", soft_wrap=True
        )


@db_app.command("copy")
def copy(
    source: str = typer.Option(
        ..., "--from", metavar="DB", help="The cache to copy (path or URL)."
    ),
    target: str = typer.Option(
        ..., "--to", metavar="DB", help="An empty database to copy into (URL or path)."
    ),
) -> None:
    """Copy a whole cache (history, jobs and audit log included) into an empty database, then
    verify each table's row count and content digest on both sides."""
    from pathlib import Path

    from ..store import postgres
    from ..store.copying import copy_cache

    if not postgres.is_url(source) and not Path(source).is_file():
        err_console.print(f"[red]Error:[/] no cache database at {visible(source)}", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT)
    src = _open(source, migrate=True, what="source")
    dst = _open(target, migrate=True, what="target")
    try:
        console.print(f"copying {visible(src.target)} → {visible(dst.target)}", soft_wrap=True)
        checks = copy_cache(
            src, dst, progress=lambda table, n: console.print(f"  {table:<24} {n:>12,} rows")
        )
    except StoreError as exc:
        err_console.print(f"[red]Error:[/] {visible(exc)}", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT) from None
    finally:
        src.close()
        dst.close()
    bad = [c for c in checks if not c.ok]
    for check in checks:
        mark = "ok" if check.ok else "[red]DIFFERS[/]"
        console.print(
            f"  {check.table:<24} {check.target_rows:>12,} rows  sha256 {check.target_digest[:16]}  "
            f"{mark}",
            soft_wrap=True,
        )
    if bad:
        console.print(f"[red]{len(bad)} tables differ after the copy[/]")
        raise typer.Exit(EXIT_DIFFERENT)
    console.print(f"all {len(checks)} tables copied and verified")
