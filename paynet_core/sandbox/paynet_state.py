"""The sandbox's Paynet tables: subscriptions and their invoices, as plain records.

Part of :class:`~.state.State` (a mixin over its :class:`~.db.Db`): the Paynet door's logic
(:mod:`.paynet_api`) reads and writes through these methods, never through SQL of its own.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..paynet.models import InvoiceStatus
from .db import Db, _at, _there, _ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id TEXT PRIMARY KEY,
    reference_no TEXT NOT NULL UNIQUE,
    name_surname TEXT NOT NULL,
    amount INTEGER NOT NULL,
    agent_id TEXT,
    agent_amount INTEGER,
    company_amount INTEGER,
    interval INTEGER NOT NULL,
    interval_count INTEGER NOT NULL,
    period INTEGER NOT NULL,
    begin_date TEXT NOT NULL,
    is_fixed_price INTEGER NOT NULL,
    status INTEGER NOT NULL,
    group_reference_no TEXT,
    end_user_email TEXT,
    end_user_gsm TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_created ON subscriptions(created_at);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_no TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL REFERENCES subscriptions(subscription_id),
    amount INTEGER NOT NULL,
    agent_amount INTEGER,
    company_amount INTEGER,
    currency TEXT NOT NULL,
    val_date TEXT NOT NULL,
    status INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_by_subscription ON invoices(subscription_id, invoice_id);
"""


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    reference_no: str
    name_surname: str
    amount: int
    agent_id: str | None
    agent_amount: int | None
    company_amount: int | None
    interval: int
    interval_count: int
    period: int
    begin_date: datetime
    is_fixed_price: bool
    status: int
    group_reference_no: str | None
    end_user_email: str | None
    end_user_gsm: str | None
    created_at: datetime


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_id: int
    invoice_no: str
    subscription_id: str
    reference_no: str
    amount: int
    agent_amount: int | None
    company_amount: int | None
    currency: str
    val_date: datetime
    status: InvoiceStatus
    created_at: datetime
    updated_at: datetime


class PaynetTables(Db):
    # -- subscriptions ---------------------------------------------------------------------
    def insert_subscription(self, s: SubscriptionRecord) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO subscriptions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    s.subscription_id,
                    s.reference_no,
                    s.name_surname,
                    s.amount,
                    s.agent_id,
                    s.agent_amount,
                    s.company_amount,
                    s.interval,
                    s.interval_count,
                    s.period,
                    _ts(s.begin_date),
                    int(s.is_fixed_price),
                    s.status,
                    s.group_reference_no,
                    s.end_user_email,
                    s.end_user_gsm,
                    _ts(s.created_at),
                ),
            )

    def find_subscription(
        self, subscription_id: str | None = None, reference_no: str | None = None
    ) -> SubscriptionRecord | None:
        with self.transaction():
            if subscription_id is not None:
                row = self._one(
                    "SELECT * FROM subscriptions WHERE subscription_id = ?", (subscription_id,)
                )
            else:
                row = self._one(
                    "SELECT * FROM subscriptions WHERE reference_no = ?", (reference_no,)
                )
        return None if row is None else _subscription(row)

    def page_subscriptions(
        self,
        *,
        created_from: date | None = None,
        created_to: date | None = None,
        agent_id: str | None = None,
        group_reference_no: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[SubscriptionRecord]]:
        """(total matching, the rows in ``offset..offset+limit``), oldest first."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if created_from is not None:
            where.append("created_at >= ?")
            params.append(created_from.isoformat())
        if created_to is not None:
            where.append("created_at < ?")
            params.append((created_to + timedelta(days=1)).isoformat())
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if group_reference_no is not None:
            where.append("group_reference_no = ?")
            params.append(group_reference_no)
        cond = " AND ".join(where)
        with self.transaction():
            total = self._count(f"SELECT COUNT(*) FROM subscriptions WHERE {cond}", params)
            rows = self._all(
                f"SELECT * FROM subscriptions WHERE {cond} ORDER BY created_at, rowid LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset],
            )
        return total, [_subscription(r) for r in rows]

    # -- invoices --------------------------------------------------------------------------
    def insert_invoice(
        self,
        *,
        subscription_id: str,
        invoice_no: str | None,
        amount: int,
        agent_amount: int | None,
        company_amount: int | None,
        currency: str,
        val_date: datetime,
        status: InvoiceStatus,
        now: datetime,
        invoice_id: int | None = None,
    ) -> InvoiceRecord:
        """Insert one invoice; without ``invoice_no`` one is generated from the new id."""
        with self.transaction():
            placeholder = invoice_no or "__pending__"  # replaced below, inside this transaction
            cur = self._conn.execute(
                "INSERT INTO invoices(invoice_id, invoice_no, subscription_id, amount, agent_amount, "
                "company_amount, currency, val_date, status, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    invoice_id,
                    placeholder,
                    subscription_id,
                    amount,
                    agent_amount,
                    company_amount,
                    currency,
                    _ts(val_date),
                    int(status),
                    _ts(now),
                    _ts(now),
                ),
            )
            new_id = _there(cur.lastrowid)
            if invoice_no is None:
                invoice_no = self._free_invoice_no(new_id)
                self._conn.execute(
                    "UPDATE invoices SET invoice_no = ? WHERE invoice_id = ?", (invoice_no, new_id)
                )
            return _there(self.find_invoice(invoice_id=new_id))

    def _free_invoice_no(self, invoice_id: int) -> str:
        # Generated numbers must stay unique merchant-wide, even next to numbers the caller chose.
        candidate, n = f"SBX{invoice_id:08d}", 0
        while self.invoice_no_taken(candidate):
            n += 1
            candidate = f"SBX{invoice_id:08d}-{n}"
        return candidate

    def invoice_no_taken(self, invoice_no: str) -> bool:
        with self.transaction():
            return (
                self._one("SELECT 1 FROM invoices WHERE invoice_no = ?", (invoice_no,)) is not None
            )

    def find_invoice(
        self, invoice_id: int | None = None, invoice_no: str | None = None
    ) -> InvoiceRecord | None:
        sql = "SELECT i.*, s.reference_no FROM invoices i JOIN subscriptions s USING (subscription_id) WHERE "
        with self.transaction():
            if invoice_id is not None:
                row = self._one(sql + "i.invoice_id = ?", (invoice_id,))
            else:
                row = self._one(sql + "i.invoice_no = ?", (invoice_no,))
        return None if row is None else _invoice(row)

    def page_invoices(
        self,
        *,
        subscription_id: str | None = None,
        status: InvoiceStatus | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[InvoiceRecord]]:
        """(total matching, the rows in ``offset..offset+limit``), ordered by invoice_id."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if subscription_id is not None:
            where.append("i.subscription_id = ?")
            params.append(subscription_id)
        if status is not None:
            where.append("i.status = ?")
            params.append(int(status))
        cond = " AND ".join(where)
        with self.transaction():
            total = self._count(f"SELECT COUNT(*) FROM invoices i WHERE {cond}", params)
            rows = self._all(
                "SELECT i.*, s.reference_no FROM invoices i JOIN subscriptions s USING (subscription_id) "
                f"WHERE {cond} ORDER BY i.invoice_id LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset],
            )
        return total, [_invoice(r) for r in rows]

    def set_invoice_status(self, invoice_id: int, status: InvoiceStatus, now: datetime) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE invoices SET status = ?, updated_at = ? WHERE invoice_id = ?",
                (int(status), _ts(now), invoice_id),
            )

    def set_invoice_amount(
        self,
        invoice_id: int,
        amount: int,
        agent_amount: int | None,
        company_amount: int | None,
        now: datetime,
    ) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE invoices SET amount = ?, agent_amount = ?, company_amount = ?, updated_at = ? "
                "WHERE invoice_id = ?",
                (amount, agent_amount, company_amount, _ts(now), invoice_id),
            )


def _subscription(r: sqlite3.Row) -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id=r["subscription_id"],
        reference_no=r["reference_no"],
        name_surname=r["name_surname"],
        amount=r["amount"],
        agent_id=r["agent_id"],
        agent_amount=r["agent_amount"],
        company_amount=r["company_amount"],
        interval=r["interval"],
        interval_count=r["interval_count"],
        period=r["period"],
        begin_date=_at(r["begin_date"]),
        is_fixed_price=bool(r["is_fixed_price"]),
        status=r["status"],
        group_reference_no=r["group_reference_no"],
        end_user_email=r["end_user_email"],
        end_user_gsm=r["end_user_gsm"],
        created_at=_at(r["created_at"]),
    )


def _invoice(r: sqlite3.Row) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=r["invoice_id"],
        invoice_no=r["invoice_no"],
        subscription_id=r["subscription_id"],
        reference_no=r["reference_no"],
        amount=r["amount"],
        agent_amount=r["agent_amount"],
        company_amount=r["company_amount"],
        currency=r["currency"],
        val_date=_at(r["val_date"]),
        status=InvoiceStatus(r["status"]),
        created_at=_at(r["created_at"]),
        updated_at=_at(r["updated_at"]),
    )
