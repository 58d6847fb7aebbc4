"""The sandbox's persistent state: both providers' tables, the request log, and meta.

:class:`State` is the one object the doors, the admin API and the demo seeder hold. Its tables
come by subject (:mod:`.paynet_state`, :mod:`.payofin_state`), its connection and transaction
from :mod:`.db`; what spans subjects (the schema, ``reset``, the demo bulk load, the summary)
and the record of received requests live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from os import PathLike
from typing import Any

from . import paynet_state, payofin_state
from .db import _at, _ts, _ts_ms
from .institutions import INSTITUTIONS
from .paynet_state import PaynetTables, SubscriptionRecord
from .payofin_state import PayofinTables

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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


class State(PaynetTables, PayofinTables):
    """SQLite-backed state shared by both doors. ``path`` may be ``":memory:"``."""

    def __init__(self, path: str | PathLike[str] = ":memory:"):
        super().__init__(path)
        with self.transaction():
            self._create_schema()
            self._install_institutions(INSTITUTIONS)

    def _create_schema(self) -> None:
        for schema in (_SCHEMA, paynet_state.SCHEMA, payofin_state.SCHEMA):
            for statement in schema.split(";"):
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

    def reset(self) -> None:
        """Empty every table and restart the id sequences (institutions are reinstalled)."""
        with self.transaction():
            for table in _DATA_TABLES:
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute("DELETE FROM sqlite_sequence")
            self._create_schema()
            self._install_institutions(INSTITUTIONS)

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
        where: list[str] = ["1=1"]
        params: list[Any] = []
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
                received_at=_at(r["received_at"]),
                invoice_id=r["invoice_id"],
                subscription=r["subscription"],
                status=r["status"],
            )
            for r in rows
        ]

    def clear_request_counts(self) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM request_counts")

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
                out[name] = self._count(f"SELECT COUNT(*) FROM {table}")
            for name, (table, column) in spans.items():
                row = self._one(f"SELECT MIN({column}) AS lo, MAX({column}) AS hi FROM {table}")
                out[f"{name}_span"] = (
                    None
                    if row is None or row["lo"] is None
                    else (date.fromisoformat(row["lo"][:10]), date.fromisoformat(row["hi"][:10]))
                )
        return out
