"""The two kinds of upload, invoices to create and status changes, and reading a file of either.

A kind names its fields, which columns it needs, how one row is checked, what counts as a
duplicate, and the examples its templates show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from ..i18n import Message, _
from ..money import check_split, format_amount
from ..reports import forms
from ..reports.cells import records_to_csv_bytes, to_xlsx_bytes
from .budget import DEFAULT_BUDGET, Meter, ReadBudget, with_overrides
from .cells import (
    parse_charge_date,
    parse_currency,
    parse_identifier,
    parse_money,
    parse_status,
)
from .files import read_table
from .headers import map_columns
from .rows import (
    Checked,
    ImportKind,
    ImportResult,
    InvoiceRow,
    StatusRow,
    check_row,
    flag_repeats,
    formula_warnings,
    ok,
)


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
    budget = with_overrides(budget, max_bytes, max_rows)
    meter = Meter(budget)
    table = read_table(data, filename, meter)
    columns, column_warnings = map_columns(table.header, spec)
    checked = []
    for n, cells in table.rows:
        meter.tick()
        checked.append(check_row(n, cells, table, columns, spec, allow_formulas))
    spec.find_duplicates(checked)
    warnings_ = [
        *table.warnings,
        *column_warnings,
        *formula_warnings(table, columns, allow_formulas),
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


def template_csv(kind: ImportKind, form: str | None = None) -> bytes:
    """A CSV template with two example rows, UTF-8 with a BOM: in the Turkish form (the
    default in Turkish) Turkish headers and ``;``, in the English form the field names and
    ``,`` (:mod:`paynet_core.reports.forms`). Both read back unchanged."""
    spec = _spec(kind)
    names = dict(zip(spec.fields, forms.headers(spec.fields, form), strict=True))
    records = [{names[f]: v for f, v in row.items()} for row in spec.examples_text]
    return records_to_csv_bytes(
        records, columns=[names[f] for f in spec.fields], delimiter=forms.delimiter(form)
    )


def template_xlsx(kind: ImportKind, form: str | None = None) -> bytes:
    """An XLSX template with two example rows (real dates and numbers); Turkish headers in the
    Turkish form, the field names in the English one."""
    spec = _spec(kind)
    names = dict(zip(spec.fields, forms.headers(spec.fields, form), strict=True))
    frame = pd.DataFrame(
        [{names[f]: row.get(f) for f in spec.fields} for row in spec.examples_typed],
        columns=[names[f] for f in spec.fields],
        dtype=object,
    )
    return to_xlsx_bytes(frame, sheet_name="Şablon")


def _check_invoice(c: Checked) -> None:
    subscription_id = c.take("subscription_id", parse_identifier)
    reference_no = c.take("reference_no", parse_identifier)
    invoice_no = c.take("invoice_no", parse_identifier)
    amount = c.take(
        "amount", parse_money, empty=Message("is empty; write the amount in TL, e.g. 1.234,56")
    )
    val_date = c.take(
        "val_date",
        parse_charge_date,
        empty=Message("is empty; write the charge date, e.g. 23.11.2026"),
    )
    agent_amount = c.take("agent_amount", lambda v: parse_money(v, allow_zero=True))
    company_amount = c.take("company_amount", lambda v: parse_money(v, allow_zero=True))
    currency = c.take("currency", parse_currency)
    if subscription_id is None and reference_no is None:
        present = "subscription_id" if "subscription_id" in c.record else "reference_no"
        c.fail(
            present,
            Message(
                "is empty; give the subscription_id (abonelik_no) or the reference_no (referans_no)"
            ),
        )
    if ok(invoice_no) and invoice_no is not None:
        c.keys["invoice_no"] = invoice_no
    if ok(amount, agent_amount, company_amount) and amount is not None:
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


def _check_split(c: Checked, amount: int, agent: int | None, company: int | None) -> None:
    for problem in check_split(amount, agent, company):
        c.fail(problem.field, problem.text, format_amount(problem.kurus, symbol=False))


def _check_status(c: Checked) -> None:
    invoice_no = c.take("invoice_no", parse_identifier)
    invoice_id = c.take("invoice_id", parse_identifier)
    status = c.take(
        "status",
        parse_status,
        empty=Message("is empty; write a status code or label, e.g. 5 or İptal"),
    )
    if invoice_no is None and invoice_id is None:
        present = "invoice_no" if "invoice_no" in c.record else "invoice_id"
        c.fail(
            present,
            Message("is empty; give the invoice_no (fatura_no) or the invoice_id (fatura_id)"),
        )
    for name, value in (("invoice_no", invoice_no), ("invoice_id", invoice_id)):
        if ok(value) and value is not None:
            c.keys[name] = value
    if c.errors:
        return
    c.value = StatusRow(row=c.row, invoice_no=invoice_no, invoice_id=invoice_id, status=status)


def _invoice_duplicates(checked: list[Checked]) -> None:
    flag_repeats(
        checked,
        ("invoice_no",),
        Message("each invoice number may appear once; remove or renumber one row"),
    )


def _status_duplicates(checked: list[Checked]) -> None:
    flag_repeats(
        checked,
        ("invoice_no", "invoice_id"),
        Message("each invoice may be given one target status per file; keep one of the rows"),
    )


def _invoice_lookalikes(checked: list[Checked]) -> list[str]:
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
                _(
                    "rows {first} and {row} have the same subscription, amount and date and no "
                    "invoice number: two invoices will be created; check one is not a copy",
                    first=first,
                    row=row.row,
                )
            )
    return notes


@dataclass(frozen=True)
class Spec:
    kind: ImportKind
    fields: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]  # each group needs at least one of its columns
    check: Callable[[Checked], None]
    find_duplicates: Callable[[list[Checked]], None]
    warn_lookalikes: Callable[[list[Checked]], list[str]]
    examples_text: tuple[dict[str, str], ...]
    examples_typed: tuple[dict[str, Any], ...]


_SPECS: dict[str, Spec] = {
    "invoices": Spec(
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
    "statuses": Spec(
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


def _spec(kind: str) -> Spec:
    try:
        return _SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown import kind {kind!r}; use 'invoices' or 'statuses'") from None
