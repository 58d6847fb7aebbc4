"""Read CSV/XLSX uploads into validated rows (being split into modules; see files.py)."""

from __future__ import annotations

from .files import (
    ALIASES,
    DEFAULT_BUDGET,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    MAX_IDENTIFIER_CHARS,
    ImportKind,
    ImportResult,
    InvoiceRow,
    ReadBudget,
    RowError,
    StatusRow,
    fold_header,
    read_file,
    read_invoice_rows,
    read_rows,
    read_status_rows,
    template_csv,
    template_xlsx,
)

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
