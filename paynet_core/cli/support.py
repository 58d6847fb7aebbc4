"""Support commands: ``export``, ``lookup invoice|payment`` and read-only ``sql``.

Exit status: 0 on success; 1 when a record is not found or a provider refuses; 2 when the
input is refused (a bad day or filter, or SQL that would write).
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import psycopg
import typer
from rich.table import Table

from ..errors import InputError, PaynetOpsError, StoreError
from ..money import format_amount
from . import app
from .console import OutPathError, check_out_path, console, err_console, styled, visible
from .sync import parse_day

EXIT_NOT_FOUND = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130

lookup_app = typer.Typer(
    help="Look up one invoice or payment: the cache first, the provider with --refresh.",
    no_args_is_help=True,
)
app.add_typer(lookup_app, name="lookup")


class ExportWhat(StrEnum):
    invoices = "invoices"
    payments = "payments"
    outcomes = "outcomes"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(styled(("Error:", "red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


def _out_or_fail(path: Path, force: bool) -> Path:
    """``path`` when a command may write it (see :func:`console.check_out_path`), else exit 2."""
    try:
        return check_out_path(path, force=force)
    except OutPathError as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None


def _cli_user():
    """Whoever runs the CLI holds the server's keys and the cache file: an operator."""
    from ..auth import Role, User
    from .jobs import _actor

    return User(email=_actor(), name=_actor(), role=Role.OPERATOR)


def _read_only_store():
    from ..config import load_settings
    from ..store import Store

    path = load_settings().cache_target
    try:
        return Store.read_only(path)
    except StoreError as exc:
        raise _fail(f"{exc} (run `paynet-ops sync` first, or set PAYNET_OPS_DB)", 1) from None


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


@app.command()
def export(
    what: Annotated[
        ExportWhat, typer.Argument(help="invoices (Paynet), payments (Payofin) or outcomes (both).")
    ],
    day_from: Annotated[
        str, typer.Option("--from", metavar="DAY", help="First day (23.11.2026 or 2026-11-23).")
    ],
    day_to: Annotated[str, typer.Option("--to", metavar="DAY", help="Last day, inclusive.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format", help="csv (UTF-8 BOM, for Excel; see --csv-form), xlsx or parquet."
        ),
    ] = ExportFormat.csv,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Where to write (default: e.g. payments_2026-11-01_2026-11-30.csv).",
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", metavar="PROVIDER", help="paynet or payofin (repeatable)."),
    ] = None,
    institution: Annotated[
        list[str] | None,
        typer.Option(
            "--institution", metavar="NAME", help="Payofin institution, e.g. İSKİ (repeatable)."
        ),
    ] = None,
    invoice_type: Annotated[
        list[str] | None,
        typer.Option("--invoice-type", metavar="TYPE", help="Payofin bill type (repeatable)."),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", metavar="AGENT_ID", help="Paynet agent id.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    csv_form: Annotated[
        str | None,
        typer.Option(
            "--csv-form",
            metavar="tr|en",
            help="CSV and XLSX: tr: Turkish headers and ';' (Turkish Excel); en: column names "
            "and ','. Default: the CLI's language.",
        ),
    ] = None,
) -> None:
    """Write the records behind the charts page's filters to a file.

    Kuruş columns are integers with a formatted TL column beside them; CSV and XLSX cells
    that a spreadsheet would run as formulas are neutralised.
    """
    from ..reports import ChartFilters, forms
    from ..reports.exports import default_file_name, export_frame, write_export

    try:
        forms.csv_form(csv_form)  # a wrong --csv-form is refused before anything is read
        filters = ChartFilters(
            day_from=parse_day(day_from),
            day_to=parse_day(day_to),
            providers=tuple(provider or ()),
            institutions=tuple(institution or ()),
            invoice_types=tuple(invoice_type or ()),
            agent_id=agent,
        )
    except typer.BadParameter as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None
    except InputError as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None
    path = _out_or_fail(out or Path(default_file_name(what.value, filters, fmt.value)), force)
    store = _read_only_store()
    try:
        frame = export_frame(store, what.value, filters)
    finally:
        store.close()
    try:
        write_export(frame, fmt.value, path, csv_form)
    except OSError as exc:
        raise _fail(f"cannot write {visible(path)}: {exc.strerror or exc}", EXIT_REFUSED) from None
    console.print(styled(f"Wrote {len(frame)} {what.value} to ", str(path), f" ({fmt.value})."))


# --------------------------------------------------------------------------------------------
# lookup
# --------------------------------------------------------------------------------------------


@lookup_app.command("invoice")
def lookup_invoice(
    number: Annotated[
        str, typer.Argument(metavar="NO", help="Our invoice number (or Paynet's invoice id).")
    ],
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Ask Paynet for its current state and update the cache."),
    ] = False,
) -> None:
    """One Paynet invoice with its status history."""
    from ..ops.lookup import refresh_invoice
    from ..runtime import open_runtime

    runtime = open_runtime()
    store = runtime.store
    cached = store.get_invoice(invoice_no=number) or store.get_invoice(invoice_id=number)
    if cached is None:
        raise _fail(
            f"invoice {number} is not in the cache; run `paynet-ops sync` (a refresh needs "
            "the cached invoice to know its subscription)",
            EXIT_NOT_FOUND,
        )
    source = "cache"
    if refresh:
        try:
            cached = refresh_invoice(runtime, invoice_no=cached["invoice_no"], user=_cli_user())
        except PaynetOpsError as exc:
            raise _fail(str(exc), EXIT_NOT_FOUND) from None
        source = f"Paynet ({runtime.mode.value}), just now"
    _print_record(f"Invoice {cached['invoice_no']}", cached, source)
    history = store.invoice_history(cached["invoice_no"])
    _print_history(
        history,
        columns={
            "observed_at": "When",
            "old_status_label": "From",
            "new_status_label": "To",
            "source": "Source",
            "actor": "Who",
            "job_id": "Job",
        },
    )


@lookup_app.command("payment")
def lookup_payment_command(
    payment_id: Annotated[int, typer.Argument(metavar="ID", help="Payofin's invoicePaymentId.")],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask Payofin (InvoiceCheck) and update the cache.")
    ] = False,
) -> None:
    """One Payofin payment with its status history (asks Payofin when the cache lacks it)."""
    from ..ops.lookup import lookup_payment
    from ..runtime import open_runtime

    runtime = open_runtime()
    store = runtime.store
    was_cached = store.get_payment(payment_id) is not None
    try:
        payment = lookup_payment(runtime, payment_id, refresh=refresh, user=_cli_user())
    except PaynetOpsError as exc:
        raise _fail(str(exc), EXIT_NOT_FOUND) from None
    if not payment:
        raise _fail(f"payment {payment_id} not found", EXIT_NOT_FOUND)
    source = "cache" if was_cached and not refresh else f"Payofin ({runtime.mode.value}), just now"
    _print_record(f"Payment {payment_id}", payment, source)
    history = store.payment_history(payment_id)
    _print_history(
        history, columns={"observed_at": "When", "old_status": "From", "new_status": "To"}
    )


def _print_record(title: str, record: dict[str, Any], source: str) -> None:
    table = Table(
        title=visible(title),
        caption=f"from the {source}" if source == "cache" else f"from {source}",
    )
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    for key, value in record.items():
        if value is None:
            continue
        text = (
            format_amount(int(value)) + f"  ({value} kuruş)"
            if key.endswith("_kurus")
            else visible(value)
        )
        table.add_row(visible(key), text)
    console.print(table)


def _print_history(history: pd.DataFrame, *, columns: dict[str, str]) -> None:
    if history.empty:
        console.print("Status history: no changes recorded (first seen as it is now).")
        return
    table = Table(title="Status history")
    for label in columns.values():
        table.add_column(label, overflow="fold")
    for row in history.to_dict("records"):
        table.add_row(*("" if _blank(row[c]) else visible(row[c]) for c in columns))
    console.print(table)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


# --------------------------------------------------------------------------------------------
# sql (the guard and the time limit: paynet_core.store.readonly)
# --------------------------------------------------------------------------------------------


def run_read_only_sql(
    store, sql: str, *, timeout: float | None = None, max_rows: int | None = None
) -> pd.DataFrame:
    """:meth:`Store.read_only_query` as a DataFrame (raises ``SqlRefused``/``SqlStopped``)."""
    columns, rows, _ = store.read_only_query(sql, timeout=timeout, max_rows=max_rows)
    return pd.DataFrame.from_records(rows, columns=columns)


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(metavar='"SELECT..."', help="One read-only SQL statement.")
    ],
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="Write the result to FILE (; separated, UTF-8 BOM) instead of printing it.",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=0, help="Rows to print; no more are read (the CSV gets all rows)."
        ),
    ] = 200,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.0,
            metavar="SECONDS",
            help="Stop the query after this long (0: no limit).",
        ),
    ] = 30.0,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the --csv file if it exists.")
    ] = False,
) -> None:
    """Query the cache read-only. Statements that write are refused (exit status 2).

    A query that runs past --timeout, or is stopped with Ctrl+C, ends with a message (exit
    status 2, or 130 for Ctrl+C). Tables and columns: see "The cache database" in the README.
    """
    if csv is not None:
        csv = _out_or_fail(csv, force)
    from ..store import SqlRefused, SqlStopped

    store = _read_only_store()
    try:
        columns, rows, more = store.read_only_query(
            query, timeout=timeout or None, max_rows=None if csv is not None else limit
        )
    except SqlRefused as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None
    except SqlStopped as exc:
        raise _fail(str(exc), EXIT_INTERRUPTED if exc.interrupted else EXIT_REFUSED) from None
    except sqlite3.Error as exc:
        raise _fail(f"SQLite: {exc}", EXIT_REFUSED) from None
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc)
        raise _fail(f"PostgreSQL: {message}", EXIT_REFUSED) from None
    finally:
        store.close()
    if csv is not None:
        from ..reports.exports import write_export

        try:
            frame = pd.DataFrame.from_records(rows, columns=columns)
            write_export(frame, "csv", csv, rename=False)  # the query's own column names
        except OSError as exc:
            raise _fail(
                f"cannot write {visible(csv)}: {exc.strerror or exc}", EXIT_REFUSED
            ) from None
        console.print(styled(f"Wrote {len(rows)} rows to ", str(csv), "."))
        return
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(visible(column), overflow="fold")
    for row in rows:
        table.add_row(*("NULL" if _blank(v) else visible(v) for v in row))
    console.print(table)
    if more:
        console.print(
            f"first {len(rows)} rows shown; there are more (--limit N shows more, --csv FILE writes all)"
        )
    else:
        console.print(f"{len(rows)} rows")
