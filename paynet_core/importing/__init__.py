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

Inside: :mod:`.budget` (the work one upload may cost), :mod:`.files` (bytes → a table, with
:mod:`.encodings` for CSV text and :mod:`.zipguard` for XLSX), :mod:`.headers` (aliases),
:mod:`.cells` (cell → value), :mod:`.rows` (checking a row), :mod:`.kinds` (invoices, statuses).
"""

from __future__ import annotations

from .budget import DEFAULT_BUDGET, DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ReadBudget
from .cells import MAX_IDENTIFIER_CHARS
from .files import read_file
from .headers import ALIASES, fold_header
from .kinds import read_invoice_rows, read_rows, read_status_rows, template_csv, template_xlsx
from .rows import ImportKind, ImportResult, InvoiceRow, RowError, StatusRow

__all__ = [
    "ALIASES",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_IDENTIFIER_CHARS",
    "ImportKind",
    "ImportResult",
    "InvoiceRow",
    "ReadBudget",
    "RowError",
    "StatusRow",
    "fold_header",
    "read_file",
    "read_invoice_rows",
    "read_rows",
    "read_status_rows",
    "template_csv",
    "template_xlsx",
]
