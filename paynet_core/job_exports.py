"""A job's items as CSV: the failed rows to fix and upload again, or every item with its outcome.

Shared by ``paynet-ops jobs export`` and the dashboard's job panel. Cells are neutralised
against spreadsheet formulas by :mod:`paynet_core.reports.cells`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .importing import InvoiceRow, StatusRow
from .paynet.models import InvoiceStatus
from .planner import CREATE, SET_STATUS_ALL
from .reports.cells import failed_rows_csv, records_to_csv_bytes
from .store import Store

__all__ = ["all_items_csv", "export_failed_rows"]


def export_failed_rows(store: Store, job: dict) -> bytes:
    """Failed items and invalid rows of a job, as the importer reads them (``error`` last).

    Failed creations keep their invoice_no, so uploading the fixed row again can never create a
    second copy of an invoice that was made after all.
    """
    records: list[dict[str, Any]] = []
    for item in store.items_in_state(job["job_id"], "failed"):
        records.extend(_item_records(item))
    records.extend(job["options"].get("invalid_rows") or [])
    records.sort(key=lambda r: r.get("row") or 0)
    if not records:
        return records_to_csv_bytes([], columns=["row", "error"])
    return failed_rows_csv(records)


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
    row = StatusRow(
        p.get("row") or item["source_row"] or 0,
        p.get("invoice_no"),
        None if p.get("invoice_no") else p.get("invoice_id"),
        status,
    )
    return [{"row": row.row, **row.to_record(), "error": message}]


def all_items_csv(store: Store, job_id: str) -> bytes:
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
    return records_to_csv_bytes(frame[columns].to_dict("records"), columns=columns)
