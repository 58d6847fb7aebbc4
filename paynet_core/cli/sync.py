"""``paynet-ops sync [--since DAY] [--full]``: refresh the cache from both providers."""

from __future__ import annotations

from datetime import date
from typing import overload

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..dates import parse_paynet_date, parse_payofin_date
from ..errors import DateError
from . import app
from .console import console, styled, visible


@overload
def parse_day(text: str) -> date: ...
@overload
def parse_day(text: None) -> None: ...
def parse_day(text: str | None) -> date | None:
    """``23.11.2026`` or ``2026-11-23``; anything else is refused with the two forms shown."""
    if text is None:
        return None
    for parse in (parse_paynet_date, parse_payofin_date):
        try:
            return parse(text)
        except DateError:
            continue
    raise typer.BadParameter(f"{text!r} is not a day like 23.11.2026 or 2026-11-23")


@app.command()
def sync(
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="DAY",
        callback=lambda value: None if value is None else parse_day(value).isoformat(),
        help="List from this day on (23.11.2026 or 2026-11-23) instead of the last synced day.",
    ),
    full: bool = typer.Option(
        False, "--full", help="Re-list everything: every day back to the first, every subscription."
    ),
) -> None:
    """Refresh the cache from Paynet and Payofin (incremental unless --since or --full).

    Exits with status 1 when any window failed; the next sync retries it.
    """
    from ..ops.sync import sync_all
    from ..runtime import open_runtime
    from .jobs import _actor

    first_day = date.fromisoformat(since) if since else None
    runtime = open_runtime()
    console.print(
        styled(
            "Syncing the cache ",
            (visible(runtime.settings.cache_label), "bold"),
            f" ({runtime.mode.value})",
        )
    )
    columns = (
        TextColumn("{task.fields[provider]:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim", markup=False),
    )
    with Progress(*columns, console=console, transient=False) as bar:

        def progress_for(name: str):
            task = bar.add_task("starting", total=None, provider=name)

            def show(done: int, total: int, message: str) -> None:
                bar.update(task, completed=done, total=max(total, 1), description=visible(message))

            return show

        reports = sync_all(
            runtime, since=first_day, full=full, progress_for=progress_for, actor=_actor()
        )
        reports = {"Paynet": reports["paynet"], "Payofin": reports["payofin"]}

    table = Table(title="Sync summary")
    for column in ("Provider", "New", "Changed", "Unchanged", "Failed windows", "Requests"):
        table.add_column(column, justify="left" if column == "Provider" else "right")
    for name, report in reports.items():
        failed = len(report.failed_windows)
        table.add_row(
            name,
            str(report.new),
            str(report.changed),
            str(report.unchanged),
            Text(str(failed), style="red") if failed else "0",
            str(report.requests),
        )
    console.print(table)
    failures = [w for report in reports.values() for w in report.failed_windows]
    if failures:
        console.print("Failed windows (the next sync retries them):", style="red")
        for window in failures:
            console.print(f"  {visible(window)}")
        raise typer.Exit(1)
