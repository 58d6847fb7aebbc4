"""The most work one upload may cost, and the meter that counts it while the file is read.

A hostile upload (a zip bomb, a 20 MB line of ``;``, a million empty columns) must stop the
moment it crosses a limit, with a refusal that names the limit, never after the work is done.
"""

from __future__ import annotations

import time as _clock
from dataclasses import dataclass, replace
from typing import Any

from openpyxl.utils import get_column_letter

from ..errors import InputError
from ..i18n import Message
from ..i18n.formats import Figure

#: The ``field`` of an InputError about the whole file.
FILE = "file"

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


def with_overrides(budget: ReadBudget, max_bytes: int | None, max_rows: int | None) -> ReadBudget:
    changes = {k: v for k, v in (("max_bytes", max_bytes), ("max_rows", max_rows)) if v is not None}
    return replace(budget, **changes) if changes else budget


class Meter:
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
                Message(
                    "the file has more than {limit} cells (the cell budget, empty cells "
                    "included); delete unused rows and columns or split it into smaller files",
                    limit=Figure(self.budget.max_cells),
                ),
                field=FILE,
            )

    def add_unpacked(self, n: int) -> None:
        self.unpacked += n
        if self.unpacked > self.budget.max_unpacked_bytes:
            raise InputError(
                Message(
                    "the workbook unpacks to more than {size} MB (the unpacked-size budget), "
                    "more than a real upload needs; save only the data as .xlsx or CSV",
                    size=mb(self.budget.max_unpacked_bytes),
                ),
                field=FILE,
            )

    def tick(self) -> None:
        if _clock.monotonic() > self._deadline:
            raise InputError(
                Message(
                    "reading the file took more than {seconds} seconds (the time budget); "
                    "split it into smaller files",
                    seconds=Figure(self.budget.max_seconds, "g", 3),
                ),
                field=FILE,
            )

    def check_text(self, value: Any, row: int, column: int) -> None:
        if isinstance(value, str) and len(value) > self.budget.max_cell_chars:
            raise InputError(
                Message(
                    "row {row}, column {column} holds {n} characters; a cell may hold at most "
                    "{limit} (the cell-size budget)",
                    row=row,
                    column=get_column_letter(column),
                    n=Figure(len(value)),
                    limit=Figure(self.budget.max_cell_chars),
                ),
                field=FILE,
            )

    def far_value(self, row: int, column: int) -> InputError:
        last = get_column_letter(self.budget.max_columns)
        return InputError(
            Message(
                "row {row} has a value in column {column} ({number}); only the first {limit} "
                "columns (A to {last}) are read (the column budget): delete the columns after "
                "{last} or move the data left",
                row=row,
                column=get_column_letter(column),
                number=Figure(column),
                limit=self.budget.max_columns,
                last=last,
            ),
            field=FILE,
        )


def mb(n: int) -> Figure:
    """A size in MB, for a message that writes the unit itself (``20``, ``0,5``)."""
    return Figure(n / _MB, "g", 3)


def too_big(size: int, limit: int) -> Message:
    return Message(
        "the file is {size} MB; the limit is {limit} MB ({limit_bytes} bytes). "
        "Split it into smaller files",
        size=Figure(size / 1_048_576, ".1f", 1),
        limit=Figure(limit / 1_048_576, ".1f", 1),
        limit_bytes=Figure(limit),
    )


def too_many_rows(limit: int) -> InputError:
    return InputError(
        Message(
            "the file has more than {limit} data rows; split it into files of at most {limit} rows",
            limit=Figure(limit),
        ),
        field=FILE,
    )
