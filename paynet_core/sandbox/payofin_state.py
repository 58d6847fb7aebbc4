"""The sandbox's Payofin tables: institutions, the bills ``invoicequery`` finds, and payments.

Part of :class:`~.state.State` (a mixin over its :class:`~.db.Db`): the Payofin door's logic
(:mod:`.payofin_api`) reads and writes through these methods, never through SQL of its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .db import Db, _at, _dt, _there, _ts
from .institutions import Institution

SCHEMA = """
CREATE TABLE IF NOT EXISTS payofin_institutions (
    soot_code INTEGER PRIMARY KEY,
    soot_name TEXT NOT NULL,
    invoice_type TEXT NOT NULL,
    soot_type_code INTEGER NOT NULL,
    description TEXT NOT NULL,
    fields TEXT NOT NULL,
    fee INTEGER NOT NULL,
    bill_min INTEGER NOT NULL,
    bill_max INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payofin_bills (
    invoice_query_id INTEGER PRIMARY KEY AUTOINCREMENT,
    soot_code INTEGER NOT NULL,
    subscriber_no TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    invoice_no TEXT NOT NULL,
    exp_date TEXT NOT NULL,
    invoice_amount INTEGER NOT NULL,
    invoice_payment_id INTEGER
);
CREATE INDEX IF NOT EXISTS bills_by_subscriber ON payofin_bills(soot_code, subscriber_no);
CREATE TABLE IF NOT EXISTS payofin_payments (
    invoice_payment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    soot_code INTEGER NOT NULL,
    soot_name TEXT NOT NULL,
    invoice_type TEXT NOT NULL,
    subscriber_no TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    invoice_no TEXT NOT NULL,
    exp_date TEXT NOT NULL,
    invoice_amount INTEGER NOT NULL,
    profit INTEGER NOT NULL,
    paid_at TEXT NOT NULL,
    status TEXT NOT NULL,
    cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS payments_by_date ON payofin_payments(paid_at);
"""


@dataclass(frozen=True)
class BillRecord:
    """An unpaid (or paid) bill that ``invoicequery`` finds; its id is the ``invoiceQueryId``."""

    invoice_query_id: int
    soot_code: int
    subscriber_no: str
    customer_name: str
    invoice_no: str
    exp_date: date
    invoice_amount: int
    invoice_payment_id: int | None


@dataclass(frozen=True)
class PaymentRecord:
    invoice_payment_id: int
    soot_code: int
    soot_name: str
    invoice_type: str
    subscriber_no: str
    customer_name: str
    invoice_no: str
    exp_date: date
    invoice_amount: int
    profit: int
    paid_at: datetime
    status: str
    cancelled_at: datetime | None


class PayofinTables(Db):
    def _install_institutions(self, items: Iterable[Institution]) -> None:
        for i in items:
            self._conn.execute(
                "INSERT OR IGNORE INTO payofin_institutions VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    i.soot_code,
                    i.soot_name,
                    i.invoice_type,
                    i.soot_type_code,
                    i.description,
                    json.dumps(i.fields, ensure_ascii=False),
                    i.fee,
                    i.bill_range[0],
                    i.bill_range[1],
                ),
            )

    def institutions(self) -> list[Institution]:
        with self.transaction():
            rows = self._all("SELECT * FROM payofin_institutions ORDER BY soot_code")
        return [_institution(r) for r in rows]

    def institution(self, soot_code: int) -> Institution | None:
        with self.transaction():
            row = self._one("SELECT * FROM payofin_institutions WHERE soot_code = ?", (soot_code,))
        return None if row is None else _institution(row)

    def bills_of(self, soot_code: int, subscriber_no: str) -> list[BillRecord]:
        with self.transaction():
            rows = self._all(
                "SELECT * FROM payofin_bills WHERE soot_code = ? AND subscriber_no = ? ORDER BY invoice_query_id",
                (soot_code, subscriber_no),
            )
        return [_bill(r) for r in rows]

    def bill(self, invoice_query_id: int) -> BillRecord | None:
        with self.transaction():
            row = self._one(
                "SELECT * FROM payofin_bills WHERE invoice_query_id = ?", (invoice_query_id,)
            )
        return None if row is None else _bill(row)

    def insert_bill(
        self,
        *,
        soot_code: int,
        subscriber_no: str,
        customer_name: str,
        invoice_no: str,
        exp_date: date,
        amount: int,
    ) -> BillRecord:
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO payofin_bills(soot_code, subscriber_no, customer_name, invoice_no, exp_date, "
                "invoice_amount) VALUES (?,?,?,?,?,?)",
                (soot_code, subscriber_no, customer_name, invoice_no, exp_date.isoformat(), amount),
            )
            return _there(self.bill(_there(cur.lastrowid)))

    def settle_bill(self, invoice_query_id: int, *, paid: int, invoice_payment_id: int) -> None:
        """Record a payment against a bill: a full payment closes it, a partial one lowers it."""
        with self.transaction():
            bill = self.bill(invoice_query_id)
            assert bill is not None
            left = bill.invoice_amount - paid
            if left > 0:
                self._conn.execute(
                    "UPDATE payofin_bills SET invoice_amount = ? WHERE invoice_query_id = ?",
                    (left, invoice_query_id),
                )
            else:
                self._conn.execute(
                    "UPDATE payofin_bills SET invoice_payment_id = ? WHERE invoice_query_id = ?",
                    (invoice_payment_id, invoice_query_id),
                )

    def insert_payment(
        self,
        *,
        institution: Institution,
        subscriber_no: str,
        customer_name: str,
        invoice_no: str,
        exp_date: date,
        invoice_amount: int,
        profit: int,
        paid_at: datetime,
        status: str = "Paid",
        invoice_payment_id: int | None = None,
        soot_name: str | None = None,
        invoice_type: str | None = None,
    ) -> PaymentRecord:
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO payofin_payments(invoice_payment_id, soot_code, soot_name, invoice_type, "
                "subscriber_no, customer_name, invoice_no, exp_date, invoice_amount, profit, paid_at, status, "
                "cancelled_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    invoice_payment_id,
                    institution.soot_code,
                    soot_name or institution.soot_name,
                    invoice_type or institution.invoice_type,
                    subscriber_no,
                    customer_name,
                    invoice_no,
                    exp_date.isoformat(),
                    invoice_amount,
                    profit,
                    _ts(paid_at),
                    status,
                    _ts(paid_at) if status == "Cancelled" else None,
                ),
            )
            return _there(self.payment(_there(cur.lastrowid)))

    def payment(self, invoice_payment_id: int) -> PaymentRecord | None:
        with self.transaction():
            row = self._one(
                "SELECT * FROM payofin_payments WHERE invoice_payment_id = ?", (invoice_payment_id,)
            )
        return None if row is None else _payment(row)

    def payments_between(
        self, first: date | None = None, last: date | None = None
    ) -> list[PaymentRecord]:
        """Payments whose payment day is within ``first..last`` inclusive, by id."""
        lo = first.isoformat() if first else "0000"
        hi = (last + timedelta(days=1)).isoformat() if last else "9999"
        with self.transaction():
            rows = self._all(
                "SELECT * FROM payofin_payments WHERE paid_at >= ? AND paid_at < ? ORDER BY invoice_payment_id",
                (lo, hi),
            )
        return [_payment(r) for r in rows]

    def cancel_payment(self, invoice_payment_id: int, now: datetime) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE payofin_payments SET status = 'Cancelled', cancelled_at = ? WHERE invoice_payment_id = ?",
                (_ts(now), invoice_payment_id),
            )


def _institution(r: sqlite3.Row) -> Institution:
    return Institution(
        soot_code=r["soot_code"],
        soot_name=r["soot_name"],
        invoice_type=r["invoice_type"],
        soot_type_code=r["soot_type_code"],
        description=r["description"],
        fields=json.loads(r["fields"]),
        fee=r["fee"],
        bill_range=(r["bill_min"], r["bill_max"]),
    )


def _bill(r: sqlite3.Row) -> BillRecord:
    return BillRecord(
        invoice_query_id=r["invoice_query_id"],
        soot_code=r["soot_code"],
        subscriber_no=r["subscriber_no"],
        customer_name=r["customer_name"],
        invoice_no=r["invoice_no"],
        exp_date=date.fromisoformat(r["exp_date"]),
        invoice_amount=r["invoice_amount"],
        invoice_payment_id=r["invoice_payment_id"],
    )


def _payment(r: sqlite3.Row) -> PaymentRecord:
    return PaymentRecord(
        invoice_payment_id=r["invoice_payment_id"],
        soot_code=r["soot_code"],
        soot_name=r["soot_name"],
        invoice_type=r["invoice_type"],
        subscriber_no=r["subscriber_no"],
        customer_name=r["customer_name"],
        invoice_no=r["invoice_no"],
        exp_date=date.fromisoformat(r["exp_date"]),
        invoice_amount=r["invoice_amount"],
        profit=r["profit"],
        paid_at=_at(r["paid_at"]),
        status=r["status"],
        cancelled_at=_dt(r["cancelled_at"]),
    )
