"""Paynet subscription ("Abonelik") API."""

from .client import AsyncPaynetClient, PaynetClient
from .models import Invoice, InvoiceStatus, PaynetReply, Subscription

__all__ = [
    "AsyncPaynetClient",
    "Invoice",
    "InvoiceStatus",
    "PaynetClient",
    "PaynetReply",
    "Subscription",
]
