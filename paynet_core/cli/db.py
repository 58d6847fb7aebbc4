"""``paynet-ops db check``: is the cache's ``daily_rollup`` in step with its base tables?

Exit status: 0 when the rollup equals a rebuild from ``invoices`` and ``bill_payments``; 1 when
it does not (a summary of the differing keys is printed); 2 when the check cannot run (no cache
file, or a schema from before the rollup).
"""

from __future__ import annotations

import typer
from rich.console import Console

from ..errors import StoreError
from . import app

EXIT_OK, EXIT_DIFFERENT, EXIT_CANNOT = 0, 1, 2
#: Differing keys listed one per line; the rest are only counted.
SHOWN = 20

db_app = typer.Typer(help="The cache database itself: consistency checks.", no_args_is_help=True)
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
    finally:
        store.close()
    if not differences:
        console.print(
            f"daily_rollup and daily_rollup_totals are consistent with the base tables "
            f"({rows:,} rows) in {store.target}",
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
