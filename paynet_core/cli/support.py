"""Support commands: ``export``, ``lookup invoice|payment`` and read-only ``sql``.

Exit status: 0 on success; 1 when a record is not found or a provider refuses; 2 when the
input is refused (a bad day or filter, or SQL that would write).
"""

from __future__ import annotations

import math
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
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

    path = load_settings().db_path
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
        typer.Option("--format", help="csv (; and UTF-8 BOM, for Excel), xlsx or parquet."),
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
) -> None:
    """Write the records behind the charts page's filters to a file.

    Kuruş columns are integers with a formatted TL column beside them; CSV and XLSX cells
    that a spreadsheet would run as formulas are neutralised.
    """
    from ..charts import ChartFilters
    from ..reports.exports import default_file_name, export_frame, write_export

    try:
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
        write_export(frame, fmt.value, path)
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
    history = store.query(
        """SELECT observed_at, old_status, new_status FROM payment_status_history
           WHERE invoice_payment_id = ? ORDER BY id""",
        (payment_id,),
    )
    _print_history(
        history, columns={"observed_at": "When", "old_status": "From", "new_status": "To"}
    )


def _print_record(title: str, record: dict[str, Any], source: str) -> None:
    table = Table(
        title=visible(title), caption=f"from the {source}" if source == "cache" else f"from {source}"
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
# sql
# --------------------------------------------------------------------------------------------

#: Pragmas that only read. Anything else (``query_only = OFF``, ``wal_checkpoint``...) is refused.
READ_PRAGMAS = frozenset(
    {
        "application_id", "collation_list", "compile_options", "database_list", "encoding",
        "foreign_key_list", "freelist_count", "function_list", "index_info", "index_list",
        "index_xinfo", "journal_mode", "page_count", "page_size", "pragma_list",
        "schema_version", "table_info", "table_list", "table_xinfo", "user_version",
    }
)  # fmt: skip
_SETTABLE_READ_PRAGMAS = frozenset(
    {"foreign_key_list", "index_info", "index_list", "index_xinfo", "table_info", "table_xinfo"}
)
_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name.replace(' ', '_')}"): name
    for name in (
        "INSERT", "UPDATE", "DELETE", "ATTACH", "DETACH", "ALTER TABLE", "ANALYZE", "REINDEX",
        "TRANSACTION", "SAVEPOINT", "CREATE INDEX", "CREATE TABLE", "CREATE TEMP INDEX",
        "CREATE TEMP TABLE", "CREATE TEMP TRIGGER", "CREATE TEMP VIEW", "CREATE TRIGGER",
        "CREATE VIEW", "CREATE VTABLE", "DROP INDEX", "DROP TABLE", "DROP TEMP INDEX",
        "DROP TEMP TABLE", "DROP TEMP TRIGGER", "DROP TEMP VIEW", "DROP TRIGGER", "DROP VIEW",
        "DROP VTABLE",
    )
}  # fmt: skip
_FIRST_WORD = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)
_READING_WORDS = {"select", "with", "values", "explain", "pragma"}


class SqlRefused(Exception):
    """The statement would write (or reach outside the cache file)."""


class ReadOnlyGuard:
    """An SQLite authorizer that lets a statement read and nothing else.

    Belt and braces on top of the read-only connection: ``mode=ro`` and ``query_only`` stop
    writes to the cache, but ``ATTACH 'new.db'`` (and ``VACUUM INTO``) would still *create* a
    file, and ``PRAGMA query_only = OFF`` would lift the guard; the authorizer refuses them
    when the statement is prepared, before anything runs.
    """

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in READ_PRAGMAS and (arg2 is None or name in _SETTABLE_READ_PRAGMAS):
                return sqlite3.SQLITE_OK
            self.denied = self.denied or f"PRAGMA {arg1}{'' if arg2 is None else ' = ' + arg2}"
            return sqlite3.SQLITE_DENY
        self.denied = self.denied or _ACTION_NAMES.get(action, f"action {action}")
        return sqlite3.SQLITE_DENY


def run_read_only_sql(
    store, sql: str, *, timeout: float | None = None, max_rows: int | None = None
) -> pd.DataFrame:
    """Run one statement on a read-only store with :class:`ReadOnlyGuard` installed.

    Raises :class:`SqlRefused` with a message for people when the statement would write, and
    :class:`SqlStopped` when it runs past ``timeout`` seconds or Ctrl+C is pressed. At most
    ``max_rows`` rows are fetched (all when None).
    """
    columns, rows, _ = read_only_rows(store, sql, timeout=timeout, max_rows=max_rows)
    return pd.DataFrame.from_records(rows, columns=columns)


class SqlStopped(Exception):
    """The statement was stopped: past its time limit, or by Ctrl+C (``interrupted``)."""

    def __init__(self, message: str, *, interrupted: bool):
        self.interrupted = interrupted
        super().__init__(message)


#: SQLite calls the progress handler every this many virtual-machine steps (well under 1 ms).
_PROGRESS_STEPS = 1_000
_FETCH_CHUNK = 500


def read_only_rows(
    store, sql: str, *, timeout: float | None = None, max_rows: int | None = None
) -> tuple[list[str], list[tuple], bool]:
    """(columns, up to ``max_rows`` rows, whether more rows exist) of one read-only statement.

    Rows are fetched a chunk at a time, so ``LIMIT``-less queries over a big cache stop after
    ``max_rows``. A progress handler ends the statement after ``timeout`` seconds or on Ctrl+C
    (SQLite runs the statement in C, where Python would only see the KeyboardInterrupt after it
    ends: the signal handler sets a flag the progress handler reads).
    """
    match = _FIRST_WORD.match(sql)
    word = match.group(1).lower() if match else ""
    if word not in _READING_WORDS:
        raise SqlRefused(
            f"{(word or 'an empty statement').upper()} is refused: paynet-ops sql only reads "
            "(SELECT, WITH ... SELECT, VALUES, EXPLAIN, read-only PRAGMA)"
        )
    guard = ReadOnlyGuard()
    conn = store.db.conn
    conn.set_authorizer(guard)
    try:
        with _stoppable(conn, timeout) as stop:
            try:
                cursor = conn.execute(sql)
                columns = [d[0] for d in cursor.description] if cursor.description else []
                rows: list[tuple] = []
                while max_rows is None or len(rows) <= max_rows:
                    want = _FETCH_CHUNK if max_rows is None else min(_FETCH_CHUNK, max_rows + 1 - len(rows))
                    chunk = cursor.fetchmany(want)
                    if not chunk:
                        break
                    rows.extend(chunk)
                cursor.close()
            except sqlite3.OperationalError:
                if stop.reason == "interrupted":
                    raise SqlStopped("stopped by Ctrl+C", interrupted=True) from None
                if stop.reason == "timeout":
                    raise SqlStopped(
                        f"stopped after the time limit of {timeout:g} s (raise it with --timeout)",
                        interrupted=False,
                    ) from None
                raise
    except sqlite3.DatabaseError as exc:
        if guard.denied:
            raise SqlRefused(
                f"refused: the statement would {guard.denied} (paynet-ops sql only reads)"
            ) from None
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise SqlRefused(f"refused: {exc} (paynet-ops sql only reads)") from None
        raise
    except sqlite3.ProgrammingError as exc:  # e.g. two statements at once
        raise SqlRefused(f"refused: {exc}") from None
    finally:
        conn.set_authorizer(None)
    more = max_rows is not None and len(rows) > max_rows
    return columns, rows[:max_rows] if more else rows, more


class _Stop:
    def __init__(self, timeout: float | None) -> None:
        self.deadline = time.monotonic() + timeout if timeout else math.inf
        self.interrupted = False
        self.reason: str | None = None

    def __call__(self) -> int:  # SQLite's progress handler: non-zero ends the statement
        if self.interrupted:
            self.reason = "interrupted"
        elif time.monotonic() > self.deadline:
            self.reason = "timeout"
        return 1 if self.reason else 0


@contextmanager
def _stoppable(conn: sqlite3.Connection, timeout: float | None) -> Iterator[_Stop]:
    stop = _Stop(timeout)

    def on_sigint(signum, frame) -> None:
        stop.interrupted = True

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (a library caller): only the time limit applies
        previous = None
    conn.set_progress_handler(stop, _PROGRESS_STEPS)
    try:
        yield stop
    finally:
        conn.set_progress_handler(None, 0)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if stop.interrupted and stop.reason is None:
        raise SqlStopped("stopped by Ctrl+C", interrupted=True)


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(metavar='"SELECT ..."', help="One read-only SQL statement.")
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
        int, typer.Option("--limit", min=0, help="Rows to print; no more are read (the CSV gets all rows).")
    ] = 200,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.0, metavar="SECONDS", help="Stop the query after this long (0: no limit)."),
    ] = 30.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --csv file if it exists.")] = False,
) -> None:
    """Query the cache read-only. Statements that write are refused (exit status 2).

    A query that runs past --timeout, or is stopped with Ctrl+C, ends with a message (exit
    status 2, or 130 for Ctrl+C). Tables and columns: see "The cache database" in the README.
    """
    if csv is not None:
        csv = _out_or_fail(csv, force)
    store = _read_only_store()
    try:
        columns, rows, more = read_only_rows(
            store, query, timeout=timeout or None, max_rows=None if csv is not None else limit
        )
    except SqlRefused as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None
    except SqlStopped as exc:
        raise _fail(str(exc), EXIT_INTERRUPTED if exc.interrupted else EXIT_REFUSED) from None
    except sqlite3.Error as exc:
        raise _fail(f"SQLite: {exc}", EXIT_REFUSED) from None
    finally:
        store.close()
    if csv is not None:
        from ..reports.exports import write_export

        try:
            write_export(pd.DataFrame.from_records(rows, columns=columns), "csv", csv)
        except OSError as exc:
            raise _fail(f"cannot write {visible(csv)}: {exc.strerror or exc}", EXIT_REFUSED) from None
        console.print(styled(f"Wrote {len(rows)} rows to ", str(csv), "."))
        return
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(visible(column), overflow="fold")
    for row in rows:
        table.add_row(*("NULL" if _blank(v) else visible(v) for v in row))
    console.print(table)
    if more:
        console.print(f"first {len(rows)} rows shown; there are more (--limit N shows more, --csv FILE writes all)")
    else:
        console.print(f"{len(rows)} rows")
