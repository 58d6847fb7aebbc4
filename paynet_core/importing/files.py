"""Bytes → a table of rows: CSV or XLSX decided by content, read within the budget.

The table keeps Excel's row numbers (blank rows count, as Excel shows them) and the cells as
read (stripped, blanks as None); what the cells mean is for :mod:`.cells` and :mod:`.rows`.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openpyxl
from openpyxl.utils.cell import column_index_from_string
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, VALUE_TAG, WorkSheetParser

from ..errors import InputError
from ..i18n import N_, Message
from ..i18n.formats import Figure
from .budget import DEFAULT_BUDGET, FILE, Meter, too_big, too_many_rows
from .cells import clean
from .display import display
from .encodings import decode, excel_sep_line, sniff_delimiter
from .zipguard import check_zip

EMPTY_FILE = Message("the file is empty; fill in the template and upload it again")


def read_file(path: str | Path, *, max_bytes: int = DEFAULT_BUDGET.max_bytes) -> tuple[bytes, str]:
    """Read an upload from disk for the CLI: ``(data, file name)``, refusing oversized files early."""
    path = Path(path)
    if not path.is_file():
        raise InputError(Message("{path!r} is not a file", path=str(path)), field=FILE)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(too_big(size, max_bytes), field=FILE)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    return data, path.name


@dataclass
class Table:
    header_row: int
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (Excel row number, cells) for non-empty rows
    file_format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: XLSX formula cells: (row, 1-based column) → the formula as written ("=SUM(A1:A3)").
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)


def read_table(data: bytes, filename: str, meter: Meter) -> Table:
    max_bytes = meter.budget.max_bytes
    if len(data) > max_bytes:
        raise InputError(too_big(len(data), max_bytes), field=FILE)
    if not data.strip():
        raise InputError(EMPTY_FILE, field=FILE)
    file_format = _sniff_format(data)
    extension = Path(filename).suffix.lower()
    if file_format == "xlsx":
        table = _read_xlsx(data, meter)
        if extension not in (".xlsx", ".xlsm"):
            table.warnings.append(
                str(Message("{name!r} holds an XLSX workbook; it was read as one", name=filename))
            )
    else:
        table = _read_csv(data, meter)
        if extension in (".xlsx", ".xlsm", ".xls"):
            table.warnings.append(
                str(
                    Message(
                        "{name!r} is named like a workbook but holds text; it was read as CSV",
                        name=filename,
                    )
                )
            )
    if not table.rows:
        raise InputError(
            Message("the file has a header (row {row}) but no data rows", row=table.header_row),
            field=FILE,
        )
    return table


def _sniff_format(data: bytes) -> Literal["csv", "xlsx"]:
    """Decide by content, not by name: an upload's extension proves nothing."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            Message(
                "this is an old Excel 97-2003 (.xls) or a password-protected workbook; "
                "save it as .xlsx without a password, or as CSV UTF-8"
            ),
            field=FILE,
        )
    for magic, what in (
        (b"%PDF", N_("this is a PDF, not a spreadsheet; upload CSV or XLSX")),
        (b"\x1f\x8b", N_("this is a gzip archive, not a spreadsheet; upload CSV or XLSX")),
        (b"\x89PNG", N_("this is an image, not a spreadsheet; upload CSV or XLSX")),
    ):
        if data.startswith(magic):
            raise InputError(Message(what), field=FILE)
    return "csv"


def _read_csv(data: bytes, meter: Meter) -> Table:
    text, encoding = decode(data)
    text = text.lstrip("\ufeff")  # a second BOM left by tools that prepend one blindly
    if "\x00" in text:
        raise InputError(
            Message(
                "the file holds binary data (NUL characters), not CSV text; "
                "save it from Excel as 'CSV UTF-8' or as .xlsx"
            ),
            field=FILE,
        )
    text, delimiter = excel_sep_line(text)
    if delimiter is None:
        delimiter = sniff_delimiter(text)
    reader = csv.reader(_counted_lines(text, delimiter, meter), delimiter=delimiter)
    header_row = 0
    header: list[str] | None = None
    rows: list[tuple[int, list[Any]]] = []
    row_no = 0
    try:
        for row_no, record in enumerate(reader, start=1):
            meter.tick()
            cells = [clean(c) for c in _first_columns(record, row_no, meter)]
            for column, cell in enumerate(cells, start=1):
                meter.check_text(cell, row_no, column)
            if all(c is None for c in cells):
                continue
            if header is None:
                header_row, header = row_no, [c or "" for c in cells]
                continue
            if len(rows) >= meter.budget.max_rows:
                raise too_many_rows(meter.budget.max_rows)
            rows.append((row_no, cells))
    except csv.Error as exc:
        # Only malformed text gets here: an over-long cell (csv.field_size_limit) or similar.
        reason: Message | str = (
            Message(
                "a cell holds more than {limit} characters (the cell-size budget)",
                limit=Figure(meter.budget.max_cell_chars),
            )
            if "field limit" in str(exc)
            else str(exc)
        )
        # the csv module's text is in the reason, or replaced by the budget it means
        raise InputError(
            Message(
                "row {row} cannot be read as CSV ({reason}); check the quotes in that row",
                row=row_no + 1,
                reason=reason,
            ),
            field=FILE,
        ) from None
    if header is None:
        raise InputError(EMPTY_FILE, field=FILE)
    return Table(header_row, header, rows, "csv", encoding=encoding, delimiter=delimiter)


def _counted_lines(text: str, delimiter: str, meter: Meter) -> Iterator[str]:
    """Feed the CSV reader line by line, counting cells before it builds them.

    A line's delimiters bound its cells from above (quoted ones only over-count), so a
    20 MB line of ``;;;;`` is refused here instead of becoming 20 million empty strings.
    """
    for line in io.StringIO(text, newline=""):
        meter.add_cells(line.count(delimiter) + 1)
        yield line


def _first_columns(record: list[str], row_no: int, meter: Meter) -> list[str]:
    """The first ``max_columns`` cells; empty ones further right are dropped, a value refuses."""
    limit = meter.budget.max_columns
    for column in range(limit, len(record)):
        if record[column].strip():
            raise meter.far_value(row_no, column + 1)
    return record[:limit]


def _read_xlsx(data: bytes, meter: Meter) -> Table:
    check_zip(data, meter)
    # openpyxl warns about styles and extensions it ignores; none of that matters for values.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # a damaged upload can fail anywhere inside openpyxl; its message means nothing to the
        # person who saved the file, so only its type is named
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                Message(
                    "the workbook cannot be opened ({kind}); "
                    "open it in Excel, save it again as .xlsx and retry",
                    kind=type(exc).__name__,
                ),
                field=FILE,
            ) from None
        try:
            return _xlsx_table(workbook, meter)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                Message(
                    "the first sheet cannot be read ({kind}); "
                    "open it in Excel, save it again as .xlsx and retry",
                    kind=type(exc).__name__,
                ),
                field=FILE,
            ) from None
        finally:
            workbook.close()


class _SheetParser(WorkSheetParser):
    """openpyxl's streaming sheet parser, reading only the first ``max_columns`` cells of a row.

    Each cell is counted as it is read; cells further right are skipped unless they hold a
    value, which refuses the file. Formula cells are noted (``data_only`` gives their saved
    result, which would otherwise be read without a word).
    """

    # set by openpyxl's parser; declared so mypy knows their type
    row_counter: int
    col_counter: int

    def __init__(self, src: Any, workbook: Any, meter: Meter) -> None:
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


def _xlsx_table(workbook: Any, meter: Meter) -> Table:
    sheet = workbook.worksheets[0]  # the first sheet, whichever was active when saved
    if not hasattr(sheet, "_get_source"):
        raise InputError(Message("the first sheet is a chart, not a table of rows"), field=FILE)
    header_row = 0
    header: list[str] | None = None
    rows: list[tuple[int, list[Any]]] = []
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
                raise too_many_rows(meter.budget.max_rows)
            rows.append((row_no, cells))
    if header is None:
        raise InputError(Message("the first sheet of the workbook is empty"), field=FILE)
    return Table(header_row, header, rows, "xlsx", formulas=parser.formulas)


def _row_values(parsed: list[dict[str, Any]], row_no: int, meter: Meter) -> list[Any]:
    width = max((c["column"] for c in parsed), default=0)
    values: list[Any] = [None] * width
    for cell in parsed:
        meter.check_text(cell["value"], row_no, cell["column"])
        values[cell["column"] - 1] = cell["value"]
    return [clean(v) for v in values]


def _header_text(value: Any) -> str:
    return "" if value is None else display(value, 200)
