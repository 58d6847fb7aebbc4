"""Payofin bill-payment API (invoice status inquiry and payment lists)."""

from .client import PayofinClient
from .models import RESULT_CODES, BillPayment, Institution

__all__ = ["RESULT_CODES", "BillPayment", "Institution", "PayofinClient"]
