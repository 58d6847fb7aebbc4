"""The sandbox's persistent state: one SQLite connection, one lock, plain records out.

Every read and write goes through :meth:`State.transaction`, which holds a re-entrant lock for
the whole request, so a check-then-write (e.g. "is this invoice_no free?" then insert) is atomic
across threads and both doors. Datetimes are stored as naive Istanbul-local ISO text and come
back aware; money is int kuruş.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from os import PathLike
from typing import Any

from ..dates import ISTANBUL, to_istanbul
from ..paynet.models import InvoiceStatus
from .institutions import INSTITUTIONS, Institution

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE TABLE IF NOT EXISTS request_counts (operation TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS received (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    invoice_no TEXT,
    handled INTEGER NOT NULL,
    code INTEGER,
    fault TEXT,
    received_at TEXT NOT NULL,
    invoice_id INTEGER,
    subscription TEXT,
    status INTEGER
);
"""
#: Columns added to ``received`` after the first files were written (added on open).
_RECEIVED_ADDED = {"invoice_id": "INTEGER", "subscription": "TEXT", "status": "INTEGER"}

_DATA_TABLES = (
    "invoices",
    "subscriptions",
    "payofin_bills",
    "payofin_payments",
    "payofin_institutions",
    "request_counts",
    "received",
    "meta",
)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the sandbox received (kept only when the sandbox records requests).

    ``handled``: the API logic ran, so ``code`` is its answer (a refusal counts, e.g. 5 for an
    ``invoice_no`` that already exists); False when a fault answered first (nothing applied).
    ``fault``: what the caller got instead of the answer, if anything (a post fault such as
    ``disconnect`` means applied, reply lost).
    ``invoice_id`` / ``subscription`` / ``status``: the request's identifying fields, as sent
    (``subscription`` is a subscription_id or reference_no, or Payofin's subscriberNo;
    ``invoice_id`` also holds Payofin's invoicePaymentId / invoiceQueryId).
    """

    seq: int
    operation: str
    invoice_no: str | None
    handled: bool
    code: int | None
    fault: str | None
    received_at: datetime
    invoice_id: int | None = None
    subscription: str | None = None
    status: int | None = None


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


def _ts(dt: datetime) -> str:
    return to_istanbul(dt).replace(tzinfo=None).isoformat(timespec="seconds")


def _ts_ms(dt: datetime) -> str:
    # The request log wants sub-second order for a human reading it; ISO text still sorts.
    return to_istanbul(dt).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=ISTANBUL)


class State:
    """SQLite-backed state shared by both doors. ``path`` may be ``":memory:"``."""

    def __init__(self, path: str | PathLike[str] = ":memory:"):
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            self._create_schema()
            self._install_institutions(INSTITUTIONS)

    def _create_schema(self) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._conn.execute(statement)
        have = {r["name"] for r in self._all("PRAGMA table_info(received)")}
        for column, kind in _RECEIVED_ADDED.items():
            if column not in have:
                self._conn.execute(f"ALTER TABLE received ADD COLUMN {column} {kind}")
        self._conn.execute("CREATE INDEX IF NOT EXISTS received_by_time ON received(received_at)")
        self._conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """Hold the lock and one SQLite transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def reset(self) -> None:
        """Empty every table and restart the id sequences (institutions are reinstalled)."""
        with self.transaction():
            for table in _DATA_TABLES:
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute("DELETE FROM sqlite_sequence")
            self._create_schema()
            self._install_institutions(INSTITUTIONS)

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, tuple(params)).fetchone()

    # -- meta and counters -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.transaction():
            row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def count_request(self, operation: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO request_counts(operation, count) VALUES (?, 1) "
                "ON CONFLICT(operation) DO UPDATE SET count = count + 1",
                (operation,),
            )

    def request_counts(self) -> dict[str, int]:
        with self.transaction():
            rows = self._all("SELECT operation, count FROM request_counts ORDER BY operation")
        return {r["operation"]: r["count"] for r in rows}

    def note_received(self, r: ReceivedRequest) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO received(operation, invoice_no, handled, code, fault, received_at, "
                "invoice_id, subscription, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.operation,
                    r.invoice_no,
                    int(r.handled),
                    r.code,
                    r.fault,
                    _ts_ms(r.received_at),
                    r.invoice_id,
                    r.subscription,
                    r.status,
                ),
            )

    def received(
        self, operation: str | None = None, *, since: datetime | None = None
    ) -> list[ReceivedRequest]:
        """Received requests, oldest first (of one operation, at or after ``since``)."""
        where, params = ["1=1"], []
        if operation is not None:
            where.append("operation = ?")
            params.append(operation)
        if since is not None:
            where.append("received_at >= ?")
            params.append(_ts_ms(since))
        sql = f"SELECT * FROM received WHERE {' AND '.join(where)} ORDER BY seq"
        with self.transaction():
            rows = self._all(sql, params)
        return [
            ReceivedRequest(
                seq=r["seq"],
                operation=r["operation"],
                invoice_no=r["invoice_no"],
                handled=bool(r["handled"]),
                code=r["code"],
                fault=r["fault"],
                received_at=_dt(r["received_at"]),  # type: ignore[arg-type]
                invoice_id=r["invoice_id"],
                subscription=r["subscription"],
                status=r["status"],
            )
            for r in rows
        ]

    def clear_request_counts(self) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM request_counts")

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

    def insert_many(
        self,
        subscriptions: Iterable[SubscriptionRecord] = (),
        invoices: Iterable[Mapping[str, Any]] = (),
        payments: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Bulk load for demo data: one statement per table, no checks beyond the schema's.

        ``invoices``: subscription_id, invoice_no, amount, agent_amount, company_amount, val_date,
        status, created_at (ids in the given order). ``payments``: the payment columns, with
        ``invoice_payment_id`` None for the next id and ``paid_at`` a datetime.
        """
        sub_rows = [
            (
                s.subscription_id, s.reference_no, s.name_surname, s.amount, s.agent_id,
                s.agent_amount, s.company_amount, s.interval, s.interval_count, s.period,
                _ts(s.begin_date), int(s.is_fixed_price), s.status, s.group_reference_no,
                s.end_user_email, s.end_user_gsm, _ts(s.created_at),
            )
            for s in subscriptions
        ]  # fmt: skip
        invoice_rows = [
            (
                i["invoice_no"], i["subscription_id"], i["amount"], i["agent_amount"],
                i["company_amount"], i.get("currency", "TRY"), _ts(i["val_date"]),
                int(i["status"]), _ts(i["created_at"]), _ts(i["created_at"]),
            )
            for i in invoices
        ]  # fmt: skip
        payment_rows = [
            (
                p["invoice_payment_id"], p["soot_code"], p["soot_name"], p["invoice_type"],
                p["subscriber_no"], p["customer_name"], p["invoice_no"], p["exp_date"].isoformat(),
                p["invoice_amount"], p["profit"], _ts(p["paid_at"]), p["status"],
                _ts(p["paid_at"]) if p["status"] == "Cancelled" else None,
            )
            for p in payments
        ]  # fmt: skip
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO subscriptions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", sub_rows
            )
            self._conn.executemany(
                "INSERT INTO invoices(invoice_no, subscription_id, amount, agent_amount, "
                "company_amount, currency, val_date, status, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                invoice_rows,
            )
            self._conn.executemany(
                "INSERT INTO payofin_payments(invoice_payment_id, soot_code, soot_name, "
                "invoice_type, subscriber_no, customer_name, invoice_no, exp_date, invoice_amount, "
                "profit, paid_at, status, cancelled_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                payment_rows,
            )

    def summary(self) -> dict[str, Any]:
        """Rows per data table (subscriptions, invoices, payments, bills, received) and the
        first and last day of the invoices (``val_date``) and payments (``paid_at``)."""
        tables = {
            "subscriptions": "subscriptions",
            "invoices": "invoices",
            "payments": "payofin_payments",
            "bills": "payofin_bills",
            "received": "received",
        }
        spans = {"invoices": ("invoices", "val_date"), "payments": ("payofin_payments", "paid_at")}
        out: dict[str, Any] = {}
        with self.transaction():
            for name, table in tables.items():
                out[name] = self._one(f"SELECT COUNT(*) AS n FROM {table}")["n"]  # type: ignore[index]
            for name, (table, column) in spans.items():
                row = self._one(f"SELECT MIN({column}) AS lo, MAX({column}) AS hi FROM {table}")
                out[f"{name}_span"] = (
                    None
                    if row is None or row["lo"] is None
                    else (date.fromisoformat(row["lo"][:10]), date.fromisoformat(row["hi"][:10]))
                )
        return out

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
        where, params = ["1=1"], []
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
            total = self._one(f"SELECT COUNT(*) AS n FROM subscriptions WHERE {cond}", params)["n"]
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
            new_id = cur.lastrowid
            if invoice_no is None:
                invoice_no = self._free_invoice_no(new_id)
                self._conn.execute(
                    "UPDATE invoices SET invoice_no = ? WHERE invoice_id = ?", (invoice_no, new_id)
                )
            return self.find_invoice(invoice_id=new_id)  # type: ignore[return-value]

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
        where, params = ["1=1"], []
        if subscription_id is not None:
            where.append("i.subscription_id = ?")
            params.append(subscription_id)
        if status is not None:
            where.append("i.status = ?")
            params.append(int(status))
        cond = " AND ".join(where)
        with self.transaction():
            total = self._one(f"SELECT COUNT(*) AS n FROM invoices i WHERE {cond}", params)["n"]
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

    # -- payofin ---------------------------------------------------------------------------
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
            return self.bill(cur.lastrowid)  # type: ignore[return-value,arg-type]

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
            return self.payment(cur.lastrowid)  # type: ignore[return-value,arg-type]

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
        begin_date=_dt(r["begin_date"]),  # type: ignore[arg-type]
        is_fixed_price=bool(r["is_fixed_price"]),
        status=r["status"],
        group_reference_no=r["group_reference_no"],
        end_user_email=r["end_user_email"],
        end_user_gsm=r["end_user_gsm"],
        created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
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
        val_date=_dt(r["val_date"]),  # type: ignore[arg-type]
        status=InvoiceStatus(r["status"]),
        created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
        updated_at=_dt(r["updated_at"]),  # type: ignore[arg-type]
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
        paid_at=_dt(r["paid_at"]),  # type: ignore[arg-type]
        status=r["status"],
        cancelled_at=_dt(r["cancelled_at"]),
    )
