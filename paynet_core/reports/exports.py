"""Row-level exports: the cache for the support team (invoices, payments, or both as outcomes),
and a job's items (the failed rows to fix and upload again, or every item with its outcome).

The rows are chosen with the charts page's filters (:class:`~paynet_core.reports.ChartFilters`,
built into SQL by the same code the charts use), so an export holds exactly the records behind
a chart. Money stays integer kuruş (``*_kurus``, int64) with a formatted text column beside it
(``amount_tl`` = ``"1.234,56 ₺"``); days are ``datetime.date`` and timestamps are aware
datetimes in Istanbul time.

Formats and formula injection: CSV and XLSX go through :mod:`.cells`, which
neutralises text cells starting with ``=``, ``+``, ``-``, ``@`` (a leading ``'``). Parquet is
written as is, *not* neutralised: it is read by programs (pandas, DuckDB, Power Query), which
never evaluate cells, and a guard quote would corrupt the data they read (a customer name
``=AB*** C**`` must come back as exactly that). Parquet columns are typed: kuruş ``int64``,
days ``date32``, timestamps ``timestamp[us, tz=Europe/Istanbul]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..dates import ISTANBUL
from ..importing import InvoiceRow, StatusRow
from ..jobs.planner import CREATE, SET_STATUS_ALL
from ..money import format_amount
from ..paynet.models import InvoiceStatus
from ..store import Store
from ..vocab import ItemState
from . import forms
from .cells import failed_rows_csv, records_to_csv_bytes, to_csv_bytes, to_xlsx_bytes
from .filters import ChartFilters

ExportKind = Literal["invoices", "payments", "outcomes"]
ExportFormat = Literal["csv", "xlsx", "parquet"]
KINDS: tuple[str, ...] = ("invoices", "payments", "outcomes")
FORMATS: tuple[str, ...] = ("csv", "xlsx", "parquet")

# Column name → kind ("text", "int", "kurus", "tl", "day", "timestamp"), in export order.
_INVOICE_COLUMNS = {
    "invoice_no": "text",
    "invoice_id": "text",
    "subscription_id": "text",
    "reference_no": "text",
    "agent_id": "text",
    "val_day": "day",
    "val_date": "timestamp",
    "status": "int",
    "status_label": "text",
    "outcome": "text",
    "amount_kurus": "kurus",
    "amount_tl": "tl",
    "agent_amount_kurus": "kurus",
    "company_amount_kurus": "kurus",
    "currency": "text",
    "updated_at": "timestamp",
}
_PAYMENT_COLUMNS = {
    "invoice_payment_id": "int",
    "paid_day": "day",
    "paid_at": "timestamp",
    "institution": "text",
    "invoice_type": "text",
    "subscriber_no": "text",
    "customer_name_masked": "text",
    "invoice_no": "text",
    "due_date": "day",
    "status": "text",
    "outcome": "text",
    "amount_kurus": "kurus",
    "amount_tl": "tl",
    "fee_kurus": "kurus",
    "fee_tl": "tl",
    "synced_at": "timestamp",
}
_OUTCOME_COLUMNS = {
    "provider": "text",
    "record_id": "text",
    "day": "day",
    "occurred_at": "timestamp",
    "outcome": "text",
    "status_label": "text",
    "amount_kurus": "kurus",
    "amount_tl": "tl",
    "fee_kurus": "kurus",
    "fee_tl": "tl",
    "institution": "text",
    "invoice_type": "text",
    "subscription_id": "text",
    "reference_no": "text",
    "agent_id": "text",
}
COLUMNS: dict[str, dict[str, str]] = {
    "invoices": _INVOICE_COLUMNS,
    "payments": _PAYMENT_COLUMNS,
    "outcomes": _OUTCOME_COLUMNS,
}


def export_frame(
    store: Store, what: ExportKind, filters: ChartFilters | None = None
) -> pd.DataFrame:
    """The records of ``what`` matching the charts page's ``filters``, typed for export.

    ``invoices`` are Paynet's, ``payments`` Payofin's, ``outcomes`` both in one shape (the
    ``outcomes`` view). As on the charts, records without a day are left out, and a filter
    that only one provider has (institution and bill type: Payofin; agent: Paynet) leaves the
    other provider out. Sorted by day, then id.
    """
    if what not in COLUMNS:
        raise ValueError(f"what must be one of {', '.join(KINDS)}, got {what!r}")
    filters = filters or ChartFilters()
    columns = COLUMNS[what]
    selected = [c for c, kind in columns.items() if kind != "tl"]
    parts = store.export_rows(what, selected, filters)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else None
    if frame is None:
        frame = parts[0] if parts else pd.DataFrame(columns=selected)
    if what == "outcomes" and len(parts) > 1:
        frame = frame.sort_values("day", kind="stable", ignore_index=True)
    return _typed(frame, columns)


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for name, kind in columns.items():
        if kind == "tl":
            source = frame[name.removesuffix("_tl") + "_kurus"]
            out[name] = pd.Series(
                [None if pd.isna(k) else format_amount(int(k)) for k in source],
                index=frame.index,
                dtype="object",
            )
            continue
        values = frame[name]
        if kind == "kurus" or kind == "int":
            # Nullable Int64: a NULL share stays missing instead of turning the column float.
            out[name] = pd.array([None if pd.isna(v) else int(v) for v in values], dtype="Int64")
            if not out[name].isna().any():
                out[name] = out[name].astype("int64")
        elif kind == "day":
            out[name] = pd.Series(
                [
                    None if v is None or pd.isna(v) else date.fromisoformat(str(v)[:10])
                    for v in values
                ],
                index=frame.index,
                dtype="object",
            )
        elif kind == "timestamp":
            out[name] = pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_convert(ISTANBUL)
        else:
            out[name] = pd.Series(
                [
                    None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                    for v in values
                ],
                index=frame.index,
                dtype="object",
            )
    out = out.reset_index(drop=True)
    out.attrs["column_kinds"] = dict(columns)
    return out


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def export_bytes(
    df: pd.DataFrame,
    fmt: ExportFormat,
    *,
    sheet_name: str = "Data",
    form: str | None = None,
    rename: bool = True,
) -> bytes:
    """``df`` as a file's bytes: CSV and XLSX neutralised, with the headers (and for CSV the
    separator) of ``form`` (:mod:`.forms`: Turkish Excel's in Turkish, the default; English);
    Parquet exact and typed, with the column names. ``rename=False`` keeps the names in every
    form (a query's own columns)."""
    if fmt in ("csv", "xlsx"):
        people = df.set_axis(_export_headers(df, form), axis=1) if rename else df
        if fmt == "csv":
            return to_csv_bytes(people, delimiter=forms.delimiter(form))
        return to_xlsx_bytes(people, sheet_name=sheet_name)
    if fmt == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(to_arrow(df), sink)
        return sink.getvalue().to_pybytes()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _export_headers(df: pd.DataFrame, form: str | None) -> list[str]:
    names = forms.headers(df.columns, form)
    if forms.csv_form(form) == "tr" and "status" in df.columns:
        # an export's status is the record's (a code for invoices), not an upload's target
        code = pd.api.types.is_integer_dtype(df["status"])
        names[list(df.columns).index("status")] = "Durum Kodu" if code else "Durum"
    return names


def write_export(
    df: pd.DataFrame,
    fmt: ExportFormat,
    path: str | os.PathLike[str],
    form: str | None = None,
    *,
    rename: bool = True,
) -> Path:
    """Write ``df`` to ``path`` in ``fmt`` (written whole, then renamed: no half files)."""
    path = Path(path)
    data = export_bytes(df, fmt, sheet_name=path.stem or "Data", form=form, rename=rename)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table: integers int64, days date32, aware timestamps in Istanbul.

    Types come from the values; a column with no value at all takes its type from
    ``df.attrs["column_kinds"]`` (set by :func:`export_frame`), so an empty export still has
    the right schema.
    """
    kinds = df.attrs.get("column_kinds", {})
    arrays, names = [], []
    for name in df.columns:
        series = df[name]
        values = [None if _missing(v) else v for v in series.tolist()]
        present = [v for v in values if v is not None]
        if pd.api.types.is_integer_dtype(series.dtype):
            arrow_type = pa.int64()
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            arrow_type = pa.timestamp("us", tz=str(series.dtype.tz))
            values = [None if v is None else v.to_pydatetime() for v in values]
        elif present and all(isinstance(v, date) and not isinstance(v, datetime) for v in present):
            arrow_type = pa.date32()
        elif present and all(isinstance(v, str) for v in present):
            arrow_type = pa.string()
        elif not present:
            arrow_type = _ARROW_TYPES.get(kinds.get(str(name), "text"), pa.string())
        else:
            arrow_type = None  # let Arrow decide (floats, bools, mixed)
        arrays.append(pa.array(values, type=arrow_type))
        names.append(str(name))
    return pa.Table.from_arrays(arrays, names=names)


_ARROW_TYPES = {
    "text": pa.string(),
    "tl": pa.string(),
    "int": pa.int64(),
    "kurus": pa.int64(),
    "day": pa.date32(),
    "timestamp": pa.timestamp("us", tz="Europe/Istanbul"),
}


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def default_file_name(what: str, filters: ChartFilters, fmt: str) -> str:
    """``payments_2026-11-01_2026-11-30.csv``: says what is inside."""
    span = [d.isoformat() for d in (filters.day_from, filters.day_to) if d is not None]
    return "_".join([what, *span]) + f".{fmt}"


__all__: Sequence[str] = (
    "COLUMNS",
    "FORMATS",
    "KINDS",
    "default_file_name",
    "export_bytes",
    "export_frame",
    "to_arrow",
    "write_export",
)


# -- a job's items: shared by `paynet-ops jobs export` and the dashboard's job panel ---------


def export_failed_rows(store: Store, job: dict, form: str | None = None) -> bytes:
    """Failed items and invalid rows of a job, as the importer reads them (``error`` last).

    Failed creations keep their invoice_no, so uploading the fixed row again can never create a
    second copy of an invoice that was made after all.
    """
    records: list[dict[str, Any]] = []
    for item in store.items_in_state(job["job_id"], ItemState.FAILED):
        records.extend(_item_records(item))
    records.extend(job["options"].get("invalid_rows") or [])
    records.sort(key=lambda r: r.get("row") or 0)
    sep = forms.delimiter(form)
    if not records:
        return records_to_csv_bytes(
            [], columns=forms.headers(["row", "error"], form), delimiter=sep
        )
    names = forms.headers(_columns(records), form)
    renamed = [
        dict(zip(names, (r.get(c) for c in _columns(records)), strict=True)) for r in records
    ]
    return failed_rows_csv(renamed, error_column=names[-1], delimiter=sep)


def _columns(records: list[dict[str, Any]]) -> list[str]:
    """Every key in first-seen order, ``error`` last (as ``failed_rows_csv`` writes them)."""
    seen = dict.fromkeys(k for r in records for k in r if k != "error")
    return [*seen, "error"]


def _item_records(item: dict) -> list[dict[str, Any]]:
    p, message = item["payload"], item["message"] or "failed"
    if item["operation"] == CREATE:
        row = InvoiceRow(
            row=p.get("row") or item["source_row"] or 0,
            subscription_id=p.get("subscription_id"),
            reference_no=p.get("reference_no"),
            amount=p["amount"],
            val_date=datetime.fromisoformat(p["val_date"]),
            invoice_no=p["invoice_no"],
            agent_amount=p.get("agent_amount"),
            company_amount=p.get("company_amount"),
            currency=p.get("currency") or "TRY",
        )
        return [{"row": row.row, **row.to_record(), "error": message}]
    status = InvoiceStatus(p["status"])
    if item["operation"] == SET_STATUS_ALL:
        return [
            {
                "row": e.get("row") or "",
                **StatusRow(
                    e.get("row") or 0, e.get("invoice_no"), e.get("invoice_id"), status
                ).to_record(),
                "error": message,
            }
            for e in p["invoices"]
        ]
    status_row = StatusRow(
        p.get("row") or item["source_row"] or 0,
        p.get("invoice_no"),
        None if p.get("invoice_no") else p.get("invoice_id"),
        status,
    )
    return [{"row": status_row.row, **status_row.to_record(), "error": message}]


def all_items_csv(store: Store, job_id: str, form: str | None = None) -> bytes:
    """Every item of a job with its state, attempts, provider code and message."""
    frame = store.job_items(job_id)
    columns = [
        "seq",
        "source_row",
        "operation",
        "target_key",
        "state",
        "attempts",
        "provider_code",
        "message",
        "status_before",
        "status_after",
        "started_at",
        "finished_at",
    ]
    names = forms.headers(columns, form)
    records = [dict(zip(names, r, strict=True)) for r in frame[columns].itertuples(index=False)]
    return records_to_csv_bytes(records, columns=names, delimiter=forms.delimiter(form))
