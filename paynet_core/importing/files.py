"""Read CSV/XLSX uploads into validated rows, with every problem reported by row and field.

Two kinds of file: ``invoices`` (one invoice to create per row) and ``statuses`` (one status
change per row). The same code serves the dashboard (uploaded bytes) and the CLI (a path).

Problems come in two sizes:

* a file we cannot read at all (too big, too many rows, not CSV or XLSX, no usable header)
  raises :class:`~paynet_core.errors.InputError` with ``field="file"`` or ``"header"``;
* a bad row never raises: it lands in :attr:`ImportResult.errors` (all of its problems, not
  just the first) and is left out of :attr:`ImportResult.rows`, so an invalid row is never sent.

Row numbers are the ones a person sees in Excel: the header is usually row 1 and the first
data row is row 2; blank lines count, as Excel shows them.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import time as _clock
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, VALUE_TAG, WorkSheetParser

from ..dates import ISTANBUL, parse_any_datetime
from ..errors import DateError, InputError, MoneyError
from ..money import format_amount, parse_amount
from ..paynet.models import InvoiceStatus
from ..reports.cells import records_to_csv_bytes, to_xlsx_bytes, unneutralise_cell

ImportKind = Literal["invoices", "statuses"]

_MB = 1024 * 1024


@dataclass(frozen=True)
class ReadBudget:
    """The most work one upload may cost, the same for CSV and XLSX, the dashboard and the CLI.

    Every limit is counted while the file is read (never after), so a hostile file stops as
    soon as it crosses one, and the refusal names the limit it crossed.
    """

    #: The upload itself, in bytes.
    max_bytes: int = 20 * _MB
    #: Data rows; blank rows and the header are not counted.
    max_rows: int = 100_000
    #: Columns read. Empty cells further right are skipped (counted, never kept); a value
    #: there refuses the file rather than being dropped unseen.
    max_columns: int = 64
    #: Cells read, empty ones included: wide rows cost work even when they hold nothing.
    max_cells: int = 2_000_000
    #: Characters in one cell; 32,767 is Excel's own limit, so a longer cell is not data.
    max_cell_chars: int = 32_767
    #: An XLSX is a zip: the bytes all its parts inflate to, counted while inflating.
    max_unpacked_bytes: int = 50 * _MB
    #: Distinct texts in an XLSX (its shared-strings table, which openpyxl loads whole).
    max_shared_strings: int = 400_000
    #: Members of the XLSX zip; a real workbook has a few dozen.
    max_parts: int = 1_000
    #: Wall-clock seconds for reading and checking one file.
    max_seconds: float = 30.0


DEFAULT_BUDGET = ReadBudget()
DEFAULT_MAX_BYTES = DEFAULT_BUDGET.max_bytes
DEFAULT_MAX_ROWS = DEFAULT_BUDGET.max_rows

#: Our own guard (Paynet documents no length): longer identifiers are typos or pasted junk.
MAX_IDENTIFIER_CHARS = 64
#: "999.999.999,99 TL" is 17 characters; anything much longer is not an amount. The cap also
#: keeps parse_amount away from Python's 4,300-digit int() limit.
_MAX_AMOUNT_CHARS = 40
_MAX_DATE_CHARS = 40
_MAX_STATUS_CHARS = 40
_MAX_CURRENCY_CHARS = 20
#: Cells shown in messages and in the validation table are cut to this many characters.
_SHOW_CHARS = 60
_TABLE_CHARS = 500
#: Excel keeps 15 significant digits: a bigger number in an identifier cell has lost digits.
_EXCEL_EXACT_LIMIT = 10**15
_YEARS = range(2000, 2100)  # a typo guard for charge dates

_FILE = "file"
_HEADER = "header"


# -- public shapes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in one cell (or in the whole row when ``field`` is None)."""

    row: int
    field: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}, {self.field}" if self.field else f"row {self.row}"
        return f"{where}: {self.message}"


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
    rows: list[InvoiceRow] | list[StatusRow]
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
            **{f: [_display(r.get(f), _TABLE_CHARS) for r in self.records] for f in fields},
            "errors": [_joined(by_row.get(r["row"], [])) for r in self.records],
        }
        return pd.DataFrame(table, columns=["row", *fields, "errors"])


def read_invoice_rows(
    data: bytes,
    filename: str,
    *,
    budget: ReadBudget = DEFAULT_BUDGET,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    allow_formulas: bool = False,
) -> ImportResult:
    """Read a file of invoices to create (see :class:`InvoiceRow`)."""
    return read_rows(
        data,
        filename,
        "invoices",
        budget=budget,
        max_bytes=max_bytes,
        max_rows=max_rows,
        allow_formulas=allow_formulas,
    )


def read_status_rows(
    data: bytes,
    filename: str,
    *,
    budget: ReadBudget = DEFAULT_BUDGET,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    allow_formulas: bool = False,
) -> ImportResult:
    """Read a file of status changes (see :class:`StatusRow`)."""
    return read_rows(
        data,
        filename,
        "statuses",
        budget=budget,
        max_bytes=max_bytes,
        max_rows=max_rows,
        allow_formulas=allow_formulas,
    )


def read_rows(
    data: bytes,
    filename: str,
    kind: ImportKind,
    *,
    budget: ReadBudget = DEFAULT_BUDGET,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    allow_formulas: bool = False,
) -> ImportResult:
    """Read and validate a CSV or XLSX file of ``kind``; raise InputError only for file-level problems.

    ``budget`` bounds the work (``max_bytes``/``max_rows`` override its two fields). XLSX
    formula cells in the columns read are row errors unless ``allow_formulas``, which reads
    the results Excel saved with the file and warns, naming the cells.
    """
    spec = _SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown import kind {kind!r}; use 'invoices' or 'statuses'")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    budget = _with_overrides(budget, max_bytes, max_rows)
    meter = _Meter(budget)
    table = _read_table(data, filename, meter)
    columns, column_warnings = _map_columns(table.header, spec)
    checked = []
    for n, cells in table.rows:
        meter.tick()
        checked.append(_check_row(n, cells, table, columns, spec, allow_formulas))
    spec.find_duplicates(checked)
    warnings_ = [
        *table.warnings,
        *column_warnings,
        *_formula_warnings(table, columns, allow_formulas),
        *spec.warn_lookalikes(checked),
    ]
    return ImportResult(
        kind=kind,
        filename=filename,
        rows=[c.value for c in checked if not c.errors and c.value is not None],
        errors=[e for c in checked for e in c.errors],
        warnings=warnings_,
        total_rows=len(checked),
        columns={f: table.header[i] for f, i in sorted(columns.items(), key=lambda kv: kv[1])},
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        records=[c.record for c in checked],
    )


def _with_overrides(budget: ReadBudget, max_bytes: int | None, max_rows: int | None) -> ReadBudget:
    changes = {
        k: v for k, v in (("max_bytes", max_bytes), ("max_rows", max_rows)) if v is not None
    }
    return replace(budget, **changes) if changes else budget


class _Meter:
    """Counts one upload's work against its budget as it is done; raises the moment it is over."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.cells = 0
        self.unpacked = 0
        self._deadline = _clock.monotonic() + budget.max_seconds

    def add_cells(self, n: int = 1) -> None:
        self.cells += n
        if self.cells > self.budget.max_cells:
            raise InputError(
                f"the file has more than {self.budget.max_cells:,} cells (the cell budget, empty "
                "cells included); delete unused rows and columns or split it into smaller files",
                field=_FILE,
            )

    def add_unpacked(self, n: int) -> None:
        self.unpacked += n
        if self.unpacked > self.budget.max_unpacked_bytes:
            raise InputError(
                f"the workbook unpacks to more than {_mb(self.budget.max_unpacked_bytes)} "
                "(the unpacked-size budget), more than a real upload needs; "
                "save only the data as .xlsx or CSV",
                field=_FILE,
            )

    def tick(self) -> None:
        if _clock.monotonic() > self._deadline:
            raise InputError(
                f"reading the file took more than {self.budget.max_seconds:g} seconds "
                "(the time budget); split it into smaller files",
                field=_FILE,
            )

    def check_text(self, value: Any, row: int, column: int) -> None:
        if isinstance(value, str) and len(value) > self.budget.max_cell_chars:
            raise InputError(
                f"row {row}, column {get_column_letter(column)} holds {len(value):,} characters; "
                f"a cell may hold at most {self.budget.max_cell_chars:,} (the cell-size budget)",
                field=_FILE,
            )

    def far_value(self, row: int, column: int) -> InputError:
        last = get_column_letter(self.budget.max_columns)
        return InputError(
            f"row {row} has a value in column {get_column_letter(column)} ({column:,}); only the "
            f"first {self.budget.max_columns} columns (A to {last}) are read (the column "
            f"budget): delete the columns after {last} or move the data left",
            field=_FILE,
        )


def _mb(n: int) -> str:
    return f"{n / _MB:g} MB"


def read_file(
    path: str | Path, *, max_bytes: int = DEFAULT_BUDGET.max_bytes
) -> tuple[bytes, str]:
    """Read an upload from disk for the CLI: ``(data, file name)``, refusing oversized files early."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not a file", field=_FILE)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(_too_big(size, max_bytes), field=_FILE)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    return data, path.name


def template_csv(kind: ImportKind) -> bytes:
    """A CSV template with Turkish headers and two example rows (UTF-8 BOM, ``;``)."""
    spec = _spec(kind)
    records = [{_TEMPLATE_HEADERS[f]: v for f, v in row.items()} for row in spec.examples_text]
    return records_to_csv_bytes(records, columns=[_TEMPLATE_HEADERS[f] for f in spec.fields])


def template_xlsx(kind: ImportKind) -> bytes:
    """An XLSX template with Turkish headers and two example rows (real dates and numbers)."""
    spec = _spec(kind)
    frame = pd.DataFrame(
        [{_TEMPLATE_HEADERS[f]: row.get(f) for f in spec.fields} for row in spec.examples_typed],
        columns=[_TEMPLATE_HEADERS[f] for f in spec.fields],
        dtype=object,
    )
    return to_xlsx_bytes(frame, sheet_name="Şablon")


# -- header aliases ----------------------------------------------------------------------------

#: Accepted headers per field, as people write them; matching ignores case, accents, spaces,
#: underscores and punctuation, so "Fatura No", "fatura_no" and "FATURA NO." are the same.
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_no": (
        "fatura_no",
        "Fatura No",
        "Fatura Numarası",
        "invoice_no",
        "Invoice No",
        "Invoice Number",
    ),
    "invoice_id": ("fatura_id", "Fatura ID", "invoice_id", "Invoice ID"),
    "subscription_id": (
        "abonelik_no",
        "abonelik_id",
        "Düzenli Ödeme No",
        "subscription_id",
        "Subscription No",
    ),
    "reference_no": (
        "referans_no",
        "Referans",
        "Müşteri Referans No",
        "reference_no",
        "Reference",
        "ref no",
    ),
    "amount": ("tutar", "Tutar (TL)", "Fatura Tutarı", "amount", "Amount (TL)"),
    "val_date": ("tarih", "çekim tarihi", "val_date", "date", "Charge Date"),
    "status": ("durum", "hedef durum", "yeni durum", "status", "target_status", "New Status"),
    "agent_amount": ("bayi_tutari", "agent_amount"),
    "company_amount": ("firma_tutari", "company_amount"),
    "currency": ("para_birimi", "döviz", "currency"),
}

#: Columns our own exports add (the validation table, failed-rows files): skipped silently.
_OWN_COLUMNS = (
    "error",
    "errors",
    "hata",
    "hatalar",
    "hata mesajı",
    "error message",
    "row",
    "satır",
)

_TEMPLATE_HEADERS = {
    "subscription_id": "Abonelik No",
    "reference_no": "Referans No",
    "invoice_no": "Fatura No",
    "amount": "Tutar (TL)",
    "val_date": "Çekim Tarihi",
    "agent_amount": "Bayi Tutarı",
    "company_amount": "Firma Tutarı",
    "currency": "Para Birimi",
    "invoice_id": "Fatura ID",
    "status": "Hedef Durum",
}


def fold_header(text: str) -> str:
    """The matching key of a header: ``"Tutar (TL)"`` → ``"tutartl"``, ``"Çekim Tarihi"`` → ``"cekimtarihi"``."""
    # Turkish dotted/dotless i first: str.lower() turns "I" into "i" and "İ" into "i̇".
    text = text.replace("İ", "i").replace("I", "i").replace("ı", "i").lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


_FIELD_BY_KEY: dict[str, str] = {}
for _field, _names in ALIASES.items():
    for _name in (_field, *_names):
        _FIELD_BY_KEY[fold_header(_name)] = _field
_OWN_KEYS = frozenset(fold_header(n) for n in _OWN_COLUMNS)


# -- reading the table -------------------------------------------------------------------------


@dataclass
class _Table:
    header_row: int
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (Excel row number, cells) for non-empty rows
    file_format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: XLSX formula cells: (row, 1-based column) → the formula as written ("=SUM(A1:A3)").
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)


def _read_table(data: bytes, filename: str, meter: _Meter) -> _Table:
    max_bytes = meter.budget.max_bytes
    if len(data) > max_bytes:
        raise InputError(_too_big(len(data), max_bytes), field=_FILE)
    if not data.strip():
        raise InputError("the file is empty; fill in the template and upload it again", field=_FILE)
    file_format = _sniff_format(data)
    extension = Path(filename).suffix.lower()
    if file_format == "xlsx":
        table = _read_xlsx(data, meter)
        if extension not in (".xlsx", ".xlsm"):
            table.warnings.append(f"{filename!r} holds an XLSX workbook; it was read as one")
    else:
        table = _read_csv(data, meter)
        if extension in (".xlsx", ".xlsm", ".xls"):
            table.warnings.append(
                f"{filename!r} is named like a workbook but holds text; it was read as CSV"
            )
    if not table.rows:
        raise InputError(
            f"the file has a header (row {table.header_row}) but no data rows", field=_FILE
        )
    return table


def _sniff_format(data: bytes) -> Literal["csv", "xlsx"]:
    """Decide by content, not by name: an upload's extension proves nothing."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            "this is an old Excel 97-2003 (.xls) or a password-protected workbook; "
            "save it as .xlsx without a password, or as CSV UTF-8",
            field=_FILE,
        )
    for magic, what in (
        (b"%PDF", "a PDF"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"\x89PNG", "an image"),
    ):
        if data.startswith(magic):
            raise InputError(f"this is {what}, not a spreadsheet; upload CSV or XLSX", field=_FILE)
    return "csv"


def _too_big(size: int, limit: int) -> str:
    return (
        f"the file is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.1f} MB "
        f"({limit:,} bytes). Split it into smaller files"
    )


def _too_many_rows(limit: int) -> InputError:
    return InputError(
        f"the file has more than {limit:,} data rows; split it into files of at most {limit:,} rows",
        field=_FILE,
    )


def _read_csv(data: bytes, meter: _Meter) -> _Table:
    text, encoding = _decode(data)
    text = text.lstrip("\ufeff")  # a second BOM left by tools that prepend one blindly
    if "\x00" in text:
        raise InputError(
            "the file holds binary data (NUL characters), not CSV text; "
            "save it from Excel as 'CSV UTF-8' or as .xlsx",
            field=_FILE,
        )
    text, delimiter = _excel_sep_line(text)
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(_counted_lines(text, delimiter, meter), delimiter=delimiter)
    header_row, header, rows = 0, None, []
    row_no = 0
    try:
        for row_no, record in enumerate(reader, start=1):
            meter.tick()
            cells = [_clean(c) for c in _first_columns(record, row_no, meter)]
            for column, cell in enumerate(cells, start=1):
                meter.check_text(cell, row_no, column)
            if all(c is None for c in cells):
                continue
            if header is None:
                header_row, header = row_no, [c or "" for c in cells]
                continue
            if len(rows) >= meter.budget.max_rows:
                raise _too_many_rows(meter.budget.max_rows)
            rows.append((row_no, cells))
    except csv.Error as exc:
        # Only malformed text gets here: an over-long cell (csv.field_size_limit) or similar.
        reason = (
            f"a cell holds more than {meter.budget.max_cell_chars:,} characters (the cell-size budget)"
            if "field limit" in str(exc)
            else str(exc)
        )
        raise InputError(
            f"row {row_no + 1} cannot be read as CSV ({reason}); check the quotes in that row",
            field=_FILE,
        ) from None
    if header is None:
        raise InputError("the file is empty; fill in the template and upload it again", field=_FILE)
    return _Table(header_row, header, rows, "csv", encoding=encoding, delimiter=delimiter)


def _counted_lines(text: str, delimiter: str, meter: _Meter) -> Iterator[str]:
    """Feed the CSV reader line by line, counting cells before it builds them.

    A line's delimiters bound its cells from above (quoted ones only over-count), so a
    20 MB line of ``;;;;`` is refused here instead of becoming 20 million empty strings.
    """
    for line in io.StringIO(text, newline=""):
        meter.add_cells(line.count(delimiter) + 1)
        yield line


def _first_columns(record: list[str], row_no: int, meter: _Meter) -> list[str]:
    """The first ``max_columns`` cells; empty ones further right are dropped, a value refuses."""
    limit = meter.budget.max_columns
    for column in range(limit, len(record)):
        if record[column].strip():
            raise meter.far_value(row_no, column + 1)
    return record[:limit]


def _decode(data: bytes) -> tuple[str, str]:
    """One clean decode of the whole file, or a refusal that names the line that breaks it.

    UTF-16 (Excel's "Unicode text", with or without BOM), UTF-8 (with or without BOM), then
    Windows-1254, which Turkish Excel writes. No detector guesses: cp1254 decodes nearly any
    byte string, and a file that is UTF-8 in some lines and not in others was pasted together
    from two sources; any single reading mangles some of its letters (Ş read as Ňě), so it is
    refused instead.
    """
    utf16 = _utf16_codec(data)
    if utf16:
        return _strict_decode(data, utf16, "UTF-16"), "utf-16"
    if data.startswith(codecs.BOM_UTF8):
        return _strict_decode(data, "utf-8-sig", "UTF-8"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    _refuse_mixed_lines(data)
    try:
        return data.decode("cp1254"), "cp1254"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"line {_line_at(data, exc.start)} holds the byte 0x{data[exc.start]:02X}, which is "
            "neither UTF-8 nor Windows-1254 (Turkish) text; save the file from Excel as 'CSV UTF-8'",
            field=_FILE,
        ) from None


def _utf16_codec(data: bytes) -> str | None:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # Without a BOM: ASCII text in UTF-16 has a NUL in every other byte, and no other text does.
    head = data[:400]
    if len(head) >= 4 and len(head) % 2 == 0:
        even, odd = head[0::2], head[1::2]
        # Turkish letters (Ş is 5E 01) leave a few non-NULs among the high bytes.
        if odd.count(0) >= 0.8 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) >= 0.8 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def _strict_decode(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise InputError(
            f"the file starts like {name} text but is damaged at line {line} (or that line was "
            f"saved in another encoding); save the whole file again as 'CSV UTF-8'",
            field=_FILE,
        ) from None


def _refuse_mixed_lines(data: bytes) -> None:
    """Refuse a file whose non-ASCII lines are UTF-8 in some places and not in others."""
    first: tuple[int, bool] | None = None  # (line, is UTF-8) of the first non-ASCII line
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        if first is None:
            first = (number, utf8)
        elif utf8 != first[1]:
            kinds = ("UTF-8", "not UTF-8") if first[1] else ("not UTF-8", "UTF-8")
            raise InputError(
                f"line {number} is {kinds[1]} but line {first[0]} is {kinds[0]}: the file mixes "
                "text encodings, so some letters would be read wrong; save the whole file again "
                "as 'CSV UTF-8'",
                field=_FILE,
            )


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


_SEP_LINE = re.compile(r"\A\ufeff?sep=(.)\r?\n", re.IGNORECASE)


def _excel_sep_line(text: str) -> tuple[str, str | None]:
    """Excel's ``sep=;`` first line names the delimiter and is not shown as a row."""
    match = _SEP_LINE.match(text)
    if match and match.group(1) in ";,\t|":
        return text[match.end() :], match.group(1)
    return text, None


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most columns (ties: ``;``, ``,``, tab)."""
    best, best_count = ";", 1
    for candidate in (";", ",", "\t"):
        count = len(_first_record(text, candidate))
        if count > best_count:
            best, best_count = candidate, count
    return best


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in record):
                return record
    except csv.Error:
        pass  # the real read reports it, with the row number
    return []


def _read_xlsx(data: bytes, meter: _Meter) -> _Table:
    _check_zip(data, meter)
    # openpyxl warns about styles and extensions it ignores; none of that matters for values.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged upload can fail anywhere inside openpyxl
            raise InputError(
                f"the workbook cannot be opened ({type(exc).__name__}); "
                "open it in Excel, save it again as .xlsx and retry",
                field=_FILE,
            ) from None
        try:
            return _xlsx_table(workbook, meter)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"the first sheet cannot be read ({type(exc).__name__}); "
                "open it in Excel, save it again as .xlsx and retry",
                field=_FILE,
            ) from None
        finally:
            workbook.close()


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,  # an encrypted member
    NotImplementedError,  # an unknown compression method
)
_CHUNK = 1 << 20
#: Excel's widest row; a row of more cells is not a worksheet row.
_EXCEL_COLUMNS = 16_384


def _check_zip(data: bytes, meter: _Meter) -> None:
    """Inflate every part once, counting bytes and tags, before openpyxl touches any of it.

    The sizes a zip declares can lie, so bytes are counted as they come out of the
    decompressor. Cells and rows are counted by tag in every part (a sheet need not live where
    its name says), and so are shared strings, which openpyxl loads whole and slowly.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_xlsx_parts({info.filename for info in infos})
            if len(infos) > meter.budget.max_parts:
                raise InputError(
                    f"the workbook has {len(infos):,} parts; a real one has a few dozen and at "
                    f"most {meter.budget.max_parts:,} are read (the parts budget)",
                    field=_FILE,
                )
            for info in infos:
                _inflate_counted(archive, info, meter)
    except InputError:
        raise
    except _ZIP_ERRORS:
        raise InputError(
            "the file starts like an XLSX workbook but is damaged; save it again as .xlsx",
            field=_FILE,
        ) from None


def _check_xlsx_parts(names: set[str]) -> None:
    if "mimetype" in names and "xl/workbook.xml" not in names:
        raise InputError(
            "OpenDocument (.ods) files are not supported; save it as .xlsx or CSV UTF-8",
            field=_FILE,
        )
    if "xl/workbook.xml" not in names:
        raise InputError("this is a ZIP archive, not an XLSX workbook", field=_FILE)


def _inflate_counted(archive: zipfile.ZipFile, info: zipfile.ZipInfo, meter: _Meter) -> None:
    budget = meter.budget
    if meter.unpacked + info.file_size > budget.max_unpacked_bytes:
        meter.add_unpacked(info.file_size)  # refuses on the declared size, before inflating
    tags = _TagCounter()
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            meter.add_unpacked(len(chunk))
            meter.tick()
            tags.feed(chunk)
            if tags.cells > budget.max_cells:
                meter.add_cells(tags.cells)  # refuses, naming the cell budget
            if tags.widest > _EXCEL_COLUMNS:
                raise InputError(
                    f"a row of the workbook has more than {_EXCEL_COLUMNS:,} cells, more than "
                    "Excel allows; open it in Excel, save it again as .xlsx and retry",
                    field=_FILE,
                )
            if tags.strings > budget.max_shared_strings:
                raise InputError(
                    f"the workbook holds more than {budget.max_shared_strings:,} different texts "
                    "(the shared-strings budget); split it into smaller files",
                    field=_FILE,
                )


_TAG_ENDS = (b" ", b">", b"/>", b"\n", b"\r", b"\t")
#: Prefixed tags (``<x:c ...>``) are rare; only parts that hold one pay for a regex.
_PREFIXED = {
    name: re.compile(rb"<[A-Za-z_][\w.-]{0,30}:" + name + rb"[\s/>]") for name in (b"c", b"si")
}


def _count_tags(text: bytes, name: bytes) -> int:
    count = sum(text.count(b"<" + name + end) for end in _TAG_ENDS)
    if b":" + name in text:
        count += len(_PREFIXED[name].findall(text))
    return count


class _TagCounter:
    """Counts cell and shared-string tags in XML fed in chunks, and the widest row.

    bytes.count keeps the work per tag in C, so a 50 MB part of tiny strings is counted in a
    fraction of a second. Rows are split on ``<row``; prefixed rows are left to the exact count
    the sheet parser keeps.
    """

    def __init__(self) -> None:
        self.cells = self.strings = self.widest = 0
        self._row = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        text = self._carry + chunk
        # A tag never holds '>' before its end, so none spans the last '>': carry the rest.
        cut = text.rfind(b">") + 1 or max(0, len(text) - 64)
        text, self._carry = text[:cut], text[cut:][-64:]
        self.strings += _count_tags(text, b"si")
        for index, part in enumerate(text.split(b"<row")):
            if index:
                self.cells += 1  # an empty row still costs a step to read
                self._row = 0
            count = _count_tags(part, b"c")
            self.cells += count
            self._row += count
            self.widest = max(self.widest, self._row)


class _SheetParser(WorkSheetParser):
    """openpyxl's streaming sheet parser, reading only the first ``max_columns`` cells of a row.

    Each cell is counted as it is read; cells further right are skipped unless they hold a
    value, which refuses the file. Formula cells are noted (``data_only`` gives their saved
    result, which would otherwise be read without a word).
    """

    def __init__(self, src: Any, workbook: Any, meter: _Meter) -> None:
        super().__init__(
            src,
            workbook.worksheets[0]._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        self.meter = meter
        self.formulas: dict[tuple[int, int], str] = {}

    def parse_row(self, row: Any) -> tuple[int, list[dict[str, Any]]]:
        number = row.get("r")
        self.row_counter = int(float(number)) if number else self.row_counter + 1
        self.col_counter = 0
        self.meter.add_cells()
        limit = self.meter.budget.max_columns
        cells = []
        for element in row:
            self.meter.add_cells()
            ref = element.get("r")
            column = _column_of(ref) if ref else self.col_counter + 1
            if column > limit:
                self.col_counter = column
                if _holds_value(element):
                    raise self.meter.far_value(self.row_counter, column)
                continue
            formula = element.find(FORMULA_TAG)
            cell = self.parse_cell(element)
            if formula is not None:
                self.formulas[(self.row_counter, cell["column"])] = "=" + (formula.text or "")
            cells.append(cell)
        return self.row_counter, cells


def _column_of(ref: str) -> int:
    return column_index_from_string(ref.rstrip("0123456789").lstrip("$").rstrip("$"))


def _holds_value(element: Any) -> bool:
    return bool(
        element.findtext(VALUE_TAG)
        or element.find(INLINE_STRING) is not None
        or element.find(FORMULA_TAG) is not None
    )


def _xlsx_table(workbook: Any, meter: _Meter) -> _Table:
    sheet = workbook.worksheets[0]  # the first sheet, whichever was active when saved
    if not hasattr(sheet, "_get_source"):
        raise InputError("the first sheet is a chart, not a table of rows", field=_FILE)
    header_row, header, rows = 0, None, []
    # The sheet's stored used range is ignored: some writers store a wrong one ("A1:A1").
    with sheet._get_source() as src:
        parser = _SheetParser(src, workbook, meter)
        for row_no, parsed in parser.parse():
            meter.tick()
            cells = _row_values(parsed, row_no, meter)
            if all(c is None for c in cells):
                continue
            if header is None:
                header_row, header = row_no, [_header_text(c) for c in cells]
                continue
            if len(rows) >= meter.budget.max_rows:
                raise _too_many_rows(meter.budget.max_rows)
            rows.append((row_no, cells))
    if header is None:
        raise InputError("the first sheet of the workbook is empty", field=_FILE)
    return _Table(header_row, header, rows, "xlsx", formulas=parser.formulas)


def _row_values(parsed: list[dict[str, Any]], row_no: int, meter: _Meter) -> list[Any]:
    width = max((c["column"] for c in parsed), default=0)
    values: list[Any] = [None] * width
    for cell in parsed:
        meter.check_text(cell["value"], row_no, cell["column"])
        values[cell["column"] - 1] = cell["value"]
    return [_clean(v) for v in values]


def _header_text(value: Any) -> str:
    return "" if value is None else _display(value, 200)


def _clean(value: Any) -> Any:
    """Strip text, turn blanks into None, and undo our own export's formula guard (``'=``)."""
    if isinstance(value, str):
        value = unneutralise_cell(value.strip()).strip()
        return value or None
    return value


# -- columns -----------------------------------------------------------------------------------


def _map_columns(header: list[str], spec: _Spec) -> tuple[dict[str, int], list[str]]:
    """field → column index; unknown columns become warnings, missing ones one clear error."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        key = fold_header(name)
        if not key or key in _OWN_KEYS:
            continue
        found = _FIELD_BY_KEY.get(key)
        if found is None or found not in spec.fields:
            unknown.append(name)
            continue
        if found in columns:
            raise InputError(
                f"columns {header[columns[found]]!r} and {name!r} both mean {found}; keep one",
                field=_HEADER,
            )
        columns[found] = index
    missing = [group for group in spec.required if not any(f in columns for f in group)]
    if missing:
        raise InputError(_missing_message(missing, header), field=_HEADER)
    notes = []
    if unknown:
        shown = ", ".join(repr(_short(u)) for u in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        notes.append(f"ignored columns the {spec.kind} import does not use: {shown}{more}")
    return columns, notes


def _missing_message(missing: list[tuple[str, ...]], header: list[str]) -> str:
    parts = []
    for group in missing:
        names = " or ".join(group)
        accepted = ", ".join(
            repr(a) for a in dict.fromkeys(a for f in group for a in (f, *ALIASES[f]))
        )
        parts.append(f"{names} (accepted headers: {accepted})")
    found = ", ".join(repr(_short(h)) for h in header if h) or "none"
    return f"missing column {'; missing column '.join(parts)}. Headers found: {found}"


# -- checking one row --------------------------------------------------------------------------


@dataclass
class _Checked:
    """One data row on its way through validation."""

    row: int
    record: dict[str, Any]
    value: InvoiceRow | StatusRow | None = None
    errors: list[RowError] = field(default_factory=list)
    #: identifiers that read cleanly, for duplicate detection even on otherwise bad rows.
    keys: dict[str, str] = field(default_factory=dict)
    #: fields already failed before parsing (formula cells), so they are not parsed again.
    skip: set[str] = field(default_factory=set)

    def fail(self, field_: str | None, message: str, raw: Any = None) -> None:
        shown = None if raw is None else _display(raw, _SHOW_CHARS)
        self.errors.append(RowError(self.row, field_, message, shown))

    def take(self, field_: str, parse: Callable[[Any], Any], *, empty: str | None = None) -> Any:
        """Parse one cell; record a failure instead of raising. ``empty`` makes the cell required."""
        if field_ in self.skip:
            return _FAILED
        raw = self.record.get(field_)
        if raw is None:
            if empty:
                self.fail(field_, empty)
            return None
        try:
            return parse(raw)
        except (InputError, ValueError, OverflowError) as exc:
            self.fail(field_, getattr(exc, "message", None) or str(exc), raw)
            return _FAILED


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


_FAILED: Any = _Failed()


def _check_row(
    row_no: int,
    cells: list[Any],
    table: _Table,
    columns: dict[str, int],
    spec: _Spec,
    allow_formulas: bool = False,
) -> _Checked:
    record = {
        "row": row_no,
        **{f: cells[i] if i < len(cells) else None for f, i in columns.items()},
    }
    checked = _Checked(row_no, record)
    extra = [c for c in cells[len(table.header) :] if c is not None]
    if extra and table.file_format == "csv":
        # A value holding the delimiter without quotes ("10,50" in a ','-file) shifts every cell
        # after it; dropping the spill would silently charge 10 TL instead of 10,50.
        fix = "put that value in double quotes"
        if table.delimiter == ",":
            fix += " or save the file with ';' between values"
        checked.fail(
            None,
            f"the row has {len(table.header) + len(extra)} values but the header has "
            f"{len(table.header)} columns: a value probably contains {table.delimiter!r}; {fix}",
            (table.delimiter or ";").join(str(c) for c in extra),
        )
    if table.formulas:
        _check_formulas(checked, table, columns, allow_formulas)
    spec.check(checked)
    return checked


def _check_formulas(
    c: _Checked, table: _Table, columns: dict[str, int], allow_formulas: bool
) -> None:
    """A formula cell holds the result Excel last saved, which may be stale or missing."""
    for name, index in columns.items():
        formula = table.formulas.get((c.row, index + 1))
        if formula is None:
            continue
        if not allow_formulas:
            c.fail(
                name,
                f"is a formula ({_short(formula)}), not a value; copy the column and paste it "
                "back as values (Paste Special → Values), then upload again",
                formula,
            )
        elif c.record.get(name) is None:
            c.fail(
                name,
                f"is a formula ({_short(formula)}) with no saved result; open the file in Excel, "
                "save it and upload again",
                formula,
            )
        else:
            continue
        c.skip.add(name)


def _formula_warnings(table: _Table, columns: dict[str, int], allow_formulas: bool) -> list[str]:
    if not allow_formulas:
        return []
    read = {i + 1 for i in columns.values()}
    cells = [
        f"{get_column_letter(col)}{row}" for row, col in sorted(table.formulas) if col in read
    ]
    if not cells:
        return []
    shown = ", ".join(cells[:10]) + (f" and {len(cells) - 10:,} more" if len(cells) > 10 else "")
    return [
        f"read the results Excel last saved for {len(cells):,} formula cells ({shown}); "
        "they were not recalculated, so check they are up to date"
    ]


def _check_invoice(c: _Checked) -> None:
    subscription_id = c.take("subscription_id", _identifier)
    reference_no = c.take("reference_no", _identifier)
    invoice_no = c.take("invoice_no", _identifier)
    amount = c.take("amount", _money, empty="is empty; write the amount in TL, e.g. 1.234,56")
    val_date = c.take(
        "val_date", _charge_date, empty="is empty; write the charge date, e.g. 23.11.2026"
    )
    agent_amount = c.take("agent_amount", lambda v: _money(v, allow_zero=True))
    company_amount = c.take("company_amount", lambda v: _money(v, allow_zero=True))
    currency = c.take("currency", _currency)
    if subscription_id is None and reference_no is None:
        present = "subscription_id" if "subscription_id" in c.record else "reference_no"
        c.fail(
            present,
            "is empty; give the subscription_id (abonelik_no) or the reference_no (referans_no)",
        )
    if _ok(invoice_no) and invoice_no is not None:
        c.keys["invoice_no"] = invoice_no
    if _ok(amount, agent_amount, company_amount) and amount is not None:
        _check_split(c, amount, agent_amount, company_amount)
    if c.errors:
        return
    c.value = InvoiceRow(
        row=c.row,
        subscription_id=subscription_id,
        reference_no=reference_no,
        amount=amount,
        val_date=val_date,
        invoice_no=invoice_no,
        agent_amount=agent_amount,
        company_amount=company_amount,
        currency=currency or "TRY",
    )


def _check_split(c: _Checked, amount: int, agent: int | None, company: int | None) -> None:
    """Paynet splits a charge between the agent and the company; the parts cannot exceed it."""
    if agent is not None and company is not None:
        if agent + company != amount:
            c.fail(
                "agent_amount",
                f"agent_amount {format_amount(agent)} + company_amount {format_amount(company)} = "
                f"{format_amount(agent + company)}, but amount is {format_amount(amount)}; "
                "the two parts must add up to the amount",
                format_amount(agent, symbol=False),
            )
        return
    for name, part in (("agent_amount", agent), ("company_amount", company)):
        if part is not None and part > amount:
            c.fail(
                name,
                f"{format_amount(part)} is more than the amount {format_amount(amount)}",
                format_amount(part, symbol=False),
            )


def _check_status(c: _Checked) -> None:
    invoice_no = c.take("invoice_no", _identifier)
    invoice_id = c.take("invoice_id", _identifier)
    status = c.take(
        "status", _status, empty="is empty; write a status code or label, e.g. 5 or İptal"
    )
    if invoice_no is None and invoice_id is None:
        present = "invoice_no" if "invoice_no" in c.record else "invoice_id"
        c.fail(present, "is empty; give the invoice_no (fatura_no) or the invoice_id (fatura_id)")
    for name, value in (("invoice_no", invoice_no), ("invoice_id", invoice_id)):
        if _ok(value) and value is not None:
            c.keys[name] = value
    if c.errors:
        return
    c.value = StatusRow(row=c.row, invoice_no=invoice_no, invoice_id=invoice_id, status=status)


def _ok(*values: Any) -> bool:
    return all(v is not _FAILED for v in values)


# -- cell parsers: each raises InputError/ValueError with a message that says how to fix it ------


def _identifier(value: Any) -> str:
    if isinstance(value, bool):
        raise InputError(f"{value!r} is a yes/no value, not an identifier")
    if isinstance(value, (datetime, date, time, timedelta)):
        raise InputError(f"{_display(value, _SHOW_CHARS)!r} is a date or time, not an identifier")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InputError(f"{value!r} has decimals; identifiers are whole, e.g. 11400556")
        value = int(value)
        if abs(value) >= _EXCEL_EXACT_LIMIT:
            raise InputError(
                f"{value} is too long for Excel to keep as a number (it keeps 15 digits); "
                "format the column as Text and type the identifier again"
            )
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(f"unexpected {type(value).__name__} value")
    if len(value) > MAX_IDENTIFIER_CHARS:
        raise InputError(
            f"{_short(value)!r} is {len(value):,} characters long; at most {MAX_IDENTIFIER_CHARS} are allowed"
        )
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        raise InputError(
            f"{_short(value)!r} contains an invisible or control character (U+{ord(bad):04X}); retype it"
        )
    if value.startswith(("=", "+", "-", "@")):
        raise InputError(
            f"{_short(value)!r} starts with {value[0]!r}, which spreadsheets read as a formula; remove it"
        )
    return value


def _money(value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is a yes/no value, not an amount")
    if isinstance(value, (datetime, date, time, timedelta)):
        raise MoneyError(
            f"{_display(value, _SHOW_CHARS)!r} is a date, not an amount; write it like 1.234,56"
        )
    if isinstance(value, (int, float)):
        return _number_to_kurus(value, allow_zero)
    if not isinstance(value, str):
        raise MoneyError(f"unexpected {type(value).__name__} value")
    if len(value) > _MAX_AMOUNT_CHARS:
        raise MoneyError(
            f"{_short(value)!r} is {len(value):,} characters long, too long for an amount"
        )
    return _parse_amount_text(value, allow_zero)


# Bulk files repeat the same few amounts and dates thousands of times; only successful parses
# are cached (lru_cache does not keep exceptions), and the results are immutable.
@lru_cache(maxsize=4096)
def _parse_amount_text(text: str, allow_zero: bool) -> int:
    return parse_amount(text, allow_zero=allow_zero)


@lru_cache(maxsize=4096)
def _parse_date_text(text: str) -> datetime:
    return parse_any_datetime(text, field="val_date")


def _number_to_kurus(value: int | float, allow_zero: bool) -> int:
    """A number cell from Excel is TL: ``1234`` is 1.234,00 TL and ``10.5`` is 10,50 TL.

    ``repr`` gives the shortest decimal that round-trips the float, i.e. what Excel showed
    (``Decimal(10.1)`` would be 10.0999999999999996447...).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise MoneyError(f"{value!r} is not a number")
    try:
        kurus = (Decimal(repr(value)) if isinstance(value, float) else Decimal(value)) * 100
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not a number") from None
    if kurus != kurus.to_integral_value():
        raise MoneyError(
            f"{value!r} has more than two decimals; round it to kuruş, e.g. with ROUND(...; 2) in Excel"
        )
    return parse_amount(int(kurus), allow_zero=allow_zero)


def _charge_date(value: Any) -> datetime:
    """A charge date; a date without a time means midnight of that day in Istanbul."""
    if isinstance(value, (bool, int, float)):
        raise DateError(
            f"{value!r} is a number, not a date; format the cell as a date or write it like 23.11.2026"
        )
    if isinstance(value, (time, timedelta)):
        raise DateError(
            f"{_display(value, _SHOW_CHARS)!r} is a time without a date; write it like 23.11.2026 14:30"
        )
    if isinstance(value, str) and len(value) > _MAX_DATE_CHARS:
        raise DateError(f"{_short(value)!r} is {len(value):,} characters long, too long for a date")
    try:
        when = _parse_date_text(value) if isinstance(value, str) else parse_any_datetime(value)
    except OverflowError:  # parse_any_datetime lets this through for year 9999 with a UTC offset
        raise DateError(
            f"{_short(str(value))!r} is out of range; write it like 23.11.2026"
        ) from None
    if when.year not in _YEARS:
        raise DateError(
            f"{_display(value, _SHOW_CHARS)!r} has the year {when.year}; check it (e.g. 23.11.2026)"
        )
    return when


def _status(value: Any) -> InvoiceStatus:
    if isinstance(value, str):
        if len(value) > _MAX_STATUS_CHARS:
            raise InputError(f"{_short(value)!r} is too long for a status")
        # InvoiceStatus.parse uses str.isdigit, which also accepts "٥" and "²"; amounts refuse
        # such digits, so statuses do too.
        if any(ch.isdigit() and not ch.isascii() for ch in value):
            raise InputError(f"{value!r} uses digits other than 0-9")
        if re.search(r"\d", value) and re.search(r"[+\-−]", value):
            raise InputError(
                f"{value!r} has a sign; a status code is a plain number from 0 to 5, e.g. 5"
            )
    if isinstance(value, float) and math.copysign(1.0, value) < 0:
        raise InputError(f"{value!r} is negative; a status code is a number from 0 to 5, e.g. 5")
    try:
        return InvoiceStatus.parse(value)
    except ValueError:
        choices = ", ".join(f"{s.value} {s.label} ({s.label_tr})" for s in InvoiceStatus)
        raise InputError(
            f"{_display(value, _SHOW_CHARS)!r} is not an invoice status; use one of: {choices}"
        ) from None


_CURRENCIES = {fold_header(k): "TRY" for k in ("TRY", "TL", "Türk Lirası", "Turkish Lira")}


def _currency(value: Any) -> str:
    text = value if isinstance(value, str) else _display(value, _SHOW_CHARS)
    if len(text) <= _MAX_CURRENCY_CHARS and (
        text.strip() == "₺" or fold_header(text) in _CURRENCIES
    ):
        return "TRY"
    raise InputError(
        f"{_short(text)!r} is not accepted: only Turkish lira (TRY, TL or ₺) can be charged"
    )


# -- duplicates --------------------------------------------------------------------------------


def _flag_repeats(checked: list[_Checked], fields: tuple[str, ...], what: str) -> None:
    """Flag the second and later rows that name the same identifier; the first row stays valid."""
    first_seen: dict[tuple[str, str], int] = {}
    for c in checked:
        for name in fields:
            value = c.keys.get(name)
            if value is None:
                continue
            first = first_seen.setdefault((name, value), c.row)
            if first != c.row:
                c.fail(name, f"{_short(value)!r} is already in row {first}; {what}", value)
                c.value = None


def _invoice_duplicates(checked: list[_Checked]) -> None:
    _flag_repeats(
        checked, ("invoice_no",), "each invoice number may appear once; remove or renumber one row"
    )


def _status_duplicates(checked: list[_Checked]) -> None:
    _flag_repeats(
        checked,
        ("invoice_no", "invoice_id"),
        "each invoice may be given one target status per file; keep one of the rows",
    )


def _invoice_lookalikes(checked: list[_Checked]) -> list[str]:
    """Valid rows without an invoice number that match an earlier one: likely pasted twice."""
    seen: dict[tuple, int] = {}
    notes = []
    for c in checked:
        row = c.value
        if not isinstance(row, InvoiceRow) or row.invoice_no is not None:
            continue
        key = (row.subscription_id, row.reference_no, row.amount, row.val_date)
        first = seen.setdefault(key, row.row)
        if first != row.row:
            notes.append(
                f"rows {first} and {row.row} have the same subscription, amount and date and no "
                "invoice number: two invoices will be created; check one is not a copy"
            )
    return notes


# -- kinds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    kind: ImportKind
    fields: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]  # each group needs at least one of its columns
    check: Callable[[_Checked], None]
    find_duplicates: Callable[[list[_Checked]], None]
    warn_lookalikes: Callable[[list[_Checked]], list[str]]
    examples_text: tuple[dict[str, str], ...]
    examples_typed: tuple[dict[str, Any], ...]


_SPECS: dict[str, _Spec] = {
    "invoices": _Spec(
        kind="invoices",
        fields=(
            "subscription_id",
            "reference_no",
            "invoice_no",
            "amount",
            "val_date",
            "agent_amount",
            "company_amount",
            "currency",
        ),
        required=(("subscription_id", "reference_no"), ("amount",), ("val_date",)),
        check=_check_invoice,
        find_duplicates=_invoice_duplicates,
        warn_lookalikes=_invoice_lookalikes,
        examples_text=(
            {
                "subscription_id": "100045",
                "invoice_no": "FTR-2027-0001",
                "amount": "1.234,56",
                "val_date": "15.01.2027 10:00:00",
                "currency": "TRY",
            },
            {
                "reference_no": "90000600",
                "invoice_no": "FTR-2027-0002",
                "amount": "288,98",
                "val_date": "15.01.2027",
                "agent_amount": "29,26",
                "company_amount": "259,72",
                "currency": "TL",
            },
        ),
        examples_typed=(
            {
                "subscription_id": "100045",
                "invoice_no": "FTR-2027-0001",
                "amount": 1234.56,
                "val_date": datetime(2027, 1, 15, 10, 0),
                "currency": "TRY",
            },
            {
                "reference_no": "90000600",
                "invoice_no": "FTR-2027-0002",
                "amount": 288.98,
                "val_date": date(2027, 1, 15),
                "agent_amount": 29.26,
                "company_amount": 259.72,
                "currency": "TL",
            },
        ),
    ),
    "statuses": _Spec(
        kind="statuses",
        fields=("invoice_no", "invoice_id", "status"),
        required=(("invoice_no", "invoice_id"), ("status",)),
        check=_check_status,
        find_duplicates=_status_duplicates,
        warn_lookalikes=lambda checked: [],
        examples_text=(
            {"invoice_no": "FTR-2027-0001", "status": "İptal"},
            {"invoice_id": "8812345", "status": "3"},
        ),
        examples_typed=(
            {"invoice_no": "FTR-2027-0001", "status": "İptal"},
            {"invoice_id": "8812345", "status": 3},
        ),
    ),
}


def _spec(kind: str) -> _Spec:
    try:
        return _SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown import kind {kind!r}; use 'invoices' or 'statuses'") from None


# -- display helpers ---------------------------------------------------------------------------


def _display(value: Any, limit: int) -> str:
    """A cell as text for messages and the validation table, cut to ``limit`` characters."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        text = (
            str(int(value))
            if value.is_integer() and abs(value) < _EXCEL_EXACT_LIMIT
            else repr(value)
        )
    elif isinstance(value, datetime):
        fmt = "%d.%m.%Y" if value.time() == time(0) else "%d.%m.%Y %H:%M:%S"
        text = value.strftime(fmt)
    elif isinstance(value, date):
        text = value.strftime("%d.%m.%Y")
    else:
        text = str(value)
    return _short(text, limit)


def _short(text: str, limit: int = _SHOW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _joined(errors: list[RowError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)


def _opt_amount_text(kurus: int | None) -> str:
    return "" if kurus is None else format_amount(kurus, symbol=False)
