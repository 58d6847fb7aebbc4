"""The provider-neutral outcome of an invoice or a payment, used by charts and the cache views."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PAID = "paid"
    CANCELLED = "cancelled"
    OPEN = "open"
    FAILED = "failed"


def payofin_outcome(status: str) -> Outcome:
    """Payofin reports only ``Paid`` and ``Cancelled`` for completed payments."""
    return Outcome.CANCELLED if status.strip().lower().startswith("cancel") else Outcome.PAID
