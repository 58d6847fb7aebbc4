"""Rows as the importer hands them out, and checking one data row, every problem kept per row.

A bad row never raises: each of its problems becomes a :class:`RowError` and the row is left
out of :attr:`ImportResult.rows`, so an invalid row is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from openpyxl.utils import get_column_letter

from ..dates import ISTANBUL
from ..errors import InputError, field_label, where
from ..i18n import Message
from ..i18n.formats import format_count
from ..money import format_amount
from ..paynet.models import InvoiceStatus
from .display import SHOW_CHARS, TABLE_CHARS, display, short

if TYPE_CHECKING:
    from .files import Table
    from .kinds import Spec

ImportKind = Literal["invoices", "statuses"]


@dataclass(frozen=True)
class RowError:
    """One problem in one cell (or in the whole row when ``field`` is None)."""

    row: int
    field: str | None
    #: what is wrong: a message id with parameters, rendered when read (``message``)
    text: str | Message
    value: str | None = None

    @property
    def message(self) -> str:
        """What is wrong, in the current language."""
        return str(self.text)

    def __str__(self) -> str:
        return where(self.row, self.field, self.text)


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice to create. Amounts are kuruş; ``invoice_no`` None means the engine picks one."""

    row: int
    subscription_id: str | None
    reference_no: str | None
    amount: int
    val_date: datetime
    invoice_no: str | None = None
    agent_amount: int | None = None
    company_amount: int | None = None
    currency: str = "TRY"

    def to_record(self) -> dict[str, str]:
        """The row as text cells under the canonical headers; it re-imports to an equal row."""
        return {
            "subscription_id": self.subscription_id or "",
            "reference_no": self.reference_no or "",
            "invoice_no": self.invoice_no or "",
            "amount": format_amount(self.amount, symbol=False),
            "val_date": self.val_date.astimezone(ISTANBUL).strftime("%d.%m.%Y %H:%M:%S"),
            "agent_amount": _opt_amount_text(self.agent_amount),
            "company_amount": _opt_amount_text(self.company_amount),
            "currency": self.currency,
        }


@dataclass(frozen=True)
class StatusRow:
    """One status change, addressed by our ``invoice_no`` or Paynet's ``invoice_id``."""

    row: int
    invoice_no: str | None
    invoice_id: str | None
    status: InvoiceStatus

    def to_record(self) -> dict[str, str]:
        return {
            "invoice_no": self.invoice_no or "",
            "invoice_id": self.invoice_id or "",
            "status": self.status.label,
        }


@dataclass
class ImportResult:
    """What a file held: the valid rows, every problem found, and the rows as read."""

    kind: ImportKind
    filename: str
    rows: list[InvoiceRow | StatusRow]
    errors: list[RowError]
    warnings: list[str]
    total_rows: int
    #: field name → the header as written in the file, in file order.
    columns: dict[str, str]
    file_format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    #: every data row as read: ``{"row": n, field: cell, ...}`` (cells already stripped).
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def valid_count(self) -> int:
        return len(self.rows)

    @property
    def invalid_rows(self) -> set[int]:
        return {e.row for e in self.errors}

    @property
    def ok(self) -> bool:
        """True when every row is valid (there may still be warnings)."""
        return not self.errors

    def errors_by_row(self) -> dict[int, list[RowError]]:
        grouped: dict[int, list[RowError]] = {}
        for error in self.errors:
            grouped.setdefault(error.row, []).append(error)
        return grouped

    def as_dataframe(self) -> pd.DataFrame:
        """Every input row for a validation table: ``row``, one column per field, ``errors``.

        Cells are shown as text (long ones cut), so the table has one type per column; the
        ``errors`` column is empty for valid rows. Use :meth:`errors_by_row` to highlight cells.
        """
        fields = list(self.columns)
        by_row = self.errors_by_row()
        table = {
            "row": [r["row"] for r in self.records],
            **{f: [display(r.get(f), TABLE_CHARS) for r in self.records] for f in fields},
            "errors": [_joined(by_row.get(r["row"], [])) for r in self.records],
        }
        return pd.DataFrame(table, columns=["row", *fields, "errors"])


@dataclass
class Checked:
    """One data row on its way through validation."""

    row: int
    record: dict[str, Any]
    value: InvoiceRow | StatusRow | None = None
    errors: list[RowError] = field(default_factory=list)
    #: identifiers that read cleanly, for duplicate detection even on otherwise bad rows.
    keys: dict[str, str] = field(default_factory=dict)
    #: fields already failed before parsing (formula cells), so they are not parsed again.
    skip: set[str] = field(default_factory=set)

    def fail(self, field_: str | None, message: str | Message, raw: Any = None) -> None:
        shown = None if raw is None else display(raw, SHOW_CHARS)
        self.errors.append(RowError(self.row, field_, message, shown))

    def take(
        self, field_: str, parse: Callable[[Any], Any], *, empty: str | Message | None = None
    ) -> Any:
        """Parse one cell; record a failure instead of raising. ``empty`` makes the cell required."""
        if field_ in self.skip:
            return FAILED
        raw = self.record.get(field_)
        if raw is None:
            if empty:
                self.fail(field_, empty)
            return None
        try:
            return parse(raw)
        except (InputError, ValueError, OverflowError) as exc:
            said = exc.text if isinstance(exc, InputError) and exc.text else str(exc)
            self.fail(field_, said, raw)
            return FAILED


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


FAILED: Any = _Failed()


def check_row(
    row_no: int,
    cells: list[Any],
    table: Table,
    columns: dict[str, int],
    spec: Spec,
    allow_formulas: bool = False,
) -> Checked:
    record = {
        "row": row_no,
        **{f: cells[i] if i < len(cells) else None for f, i in columns.items()},
    }
    checked = Checked(row_no, record)
    extra = [c for c in cells[len(table.header) :] if c is not None]
    if extra and table.file_format == "csv":
        # A value holding the delimiter without quotes ("10,50" in a ','-file) shifts every cell
        # after it; dropping the spill would silently charge 10 TL instead of 10,50.
        fix = (
            Message("put that value in double quotes or save the file with ';' between values")
            if table.delimiter == ","
            else Message("put that value in double quotes")
        )
        checked.fail(
            None,
            Message(
                "the row has {values} values but the header has {columns} columns: a value "
                "probably contains {delimiter!r}; {fix}",
                values=len(table.header) + len(extra),
                columns=len(table.header),
                delimiter=table.delimiter,
                fix=fix,
            ),
            (table.delimiter or ";").join(str(c) for c in extra),
        )
    if table.formulas:
        _check_formulas(checked, table, columns, allow_formulas)
    spec.check(checked)
    return checked


def _check_formulas(
    c: Checked, table: Table, columns: dict[str, int], allow_formulas: bool
) -> None:
    """A formula cell holds the result Excel last saved, which may be stale or missing."""
    for name, index in columns.items():
        formula = table.formulas.get((c.row, index + 1))
        if formula is None:
            continue
        if not allow_formulas:
            c.fail(
                name,
                Message(
                    "is a formula ({formula}), not a value; copy the column and paste it back as "
                    "values (Paste Special → Values), then upload again",
                    formula=short(formula),
                ),
                formula,
            )
        elif c.record.get(name) is None:
            c.fail(
                name,
                Message(
                    "is a formula ({formula}) with no saved result; open the file in Excel, save "
                    "it and upload again",
                    formula=short(formula),
                ),
                formula,
            )
        else:
            continue
        c.skip.add(name)


def formula_warnings(table: Table, columns: dict[str, int], allow_formulas: bool) -> list[str]:
    if not allow_formulas:
        return []
    read = {i + 1 for i in columns.values()}
    cells = [f"{get_column_letter(col)}{row}" for row, col in sorted(table.formulas) if col in read]
    if not cells:
        return []
    shown = ", ".join(cells[:10])
    if len(cells) > 10:
        shown = str(Message("{shown} and {n} more", shown=shown, n=format_count(len(cells) - 10)))
    return [
        str(
            Message(
                "read the results Excel last saved for {n} formula cells ({shown}); they were not "
                "recalculated, so check they are up to date",
                n=format_count(len(cells)),
                shown=shown,
            )
        )
    ]


def ok(*values: Any) -> bool:
    return all(v is not FAILED for v in values)


def flag_repeats(checked: list[Checked], fields: tuple[str, ...], what: str | Message) -> None:
    """Flag the second and later rows that name the same identifier; the first row stays valid."""
    first_seen: dict[tuple[str, str], int] = {}
    for c in checked:
        for name in fields:
            value = c.keys.get(name)
            if value is None:
                continue
            first = first_seen.setdefault((name, value), c.row)
            if first != c.row:
                c.fail(
                    name,
                    Message(
                        "{value!r} is already in row {first}; {what}",
                        value=short(value),
                        first=first,
                        what=what,
                    ),
                    value,
                )
                c.value = None


def _joined(errors: list[RowError]) -> str:
    return "; ".join(
        f"{field_label(e.field)}: {e.message}" if e.field else e.message for e in errors
    )


def _opt_amount_text(kurus: int | None) -> str:
    return "" if kurus is None else format_amount(kurus, symbol=False)
