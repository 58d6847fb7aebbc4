"""Plan a bulk job before anything is sent: which calls, for which invoices, for how much.

A :class:`Plan` is what a person confirms: rows valid and invalid (with every problem by row
and field), the calls that will be made, the invoices they cover and the money involved. The
runner (:mod:`paynet_core.jobs`) journals the plan's calls as job items and sends exactly
those; nothing is decided later.

Two rules worth knowing:

* Every invoice to create gets its ``invoice_no`` here (generated when the file has none), so
  the number is journaled before the first send and a crash can be reconciled by looking it up.
* Status changes collapse into one ``invoices_status_update_all`` call per subscription only
  when the cache *proves* that call changes exactly the invoices in the file: the cache knows
  the subscription; every open (Waiting) invoice of it is in the file with the same target
  status, and only those; there are at least two of them; and every other cached invoice of the
  subscription already has that status or is settled (External charged, Done succeed, Deleted),
  so the sweep cannot reach it. Anything less certain stays one call per invoice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..i18n import Message, _
from ..i18n.formats import format_count
from ..importing import ImportResult, InvoiceRow, RowError, StatusRow
from ..money import format_amount
from ..paynet.client import generate_invoice_no
from ..paynet.models import InvoiceStatus
from ..store import JobItem, Store
from ..vocab import JobKind

CREATE = "create_invoice"
SET_STATUS = "invoice_status_update"
SET_STATUS_ALL = "invoices_status_update_all"

#: Statuses ``invoices_status_update_all`` cannot move (Paynet settles or removes them for good).
#: An invoice in one of these cannot be swept along by a collapsed call.
SETTLED = frozenset(
    {InvoiceStatus.EXTERNAL_CHARGED, InvoiceStatus.DONE_SUCCEED, InvoiceStatus.DELETED}
)
#: A collapsed call must save at least one request; one invoice stays one call.
MIN_COLLAPSE = 2


@dataclass(frozen=True)
class PlannedCall:
    """One request the job will send, with the rows and invoices it stands for."""

    operation: str
    target_key: str
    payload: dict[str, Any]
    rows: tuple[int, ...]
    invoice_nos: tuple[str, ...]
    amount_kurus: int | None

    def job_item(self) -> JobItem:
        return JobItem(
            self.operation, self.target_key, self.payload, self.rows[0] if self.rows else None
        )


@dataclass
class Plan:
    """What a job will do, for a person to confirm. Amounts are kuruş."""

    kind: JobKind
    source_name: str | None
    calls: list[PlannedCall]
    errors: list[RowError]
    warnings: list[str]
    total_rows: int
    #: Input cells of the invalid rows (``{"row": n, field: text}``), for the fix-and-upload file.
    invalid_records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invalid_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    @property
    def valid_count(self) -> int:
        return sum(len(c.rows) for c in self.calls)

    @property
    def invalid_count(self) -> int:
        return len(self.invalid_rows)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def invoice_count(self) -> int:
        return sum(len(c.invoice_nos) or 1 for c in self.calls)

    @property
    def total_amount_kurus(self) -> int:
        return sum(c.amount_kurus or 0 for c in self.calls)

    @property
    def unknown_amounts(self) -> int:
        """Invoices whose amount the cache does not know (not in the total)."""
        return sum(1 for c in self.calls if c.amount_kurus is None)

    @property
    def collapsed(self) -> list[PlannedCall]:
        return [c for c in self.calls if c.operation == SET_STATUS_ALL]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """The plan in plain numbers (for tables, JSON, the audit log)."""
        return {
            "kind": self.kind,
            "source_name": self.source_name,
            "rows": self.total_rows,
            "valid_rows": self.valid_count,
            "invalid_rows": self.invalid_count,
            "calls": self.call_count,
            "invoices": self.invoice_count,
            "collapsed_calls": len(self.collapsed),
            "total_amount_kurus": self.total_amount_kurus,
            "unknown_amounts": self.unknown_amounts,
        }

    def describe(self) -> list[str]:
        """The plan as a few lines a person reads before confirming."""
        n = format_count
        calls = dict(calls=n(self.call_count), invoices=n(self.invoice_count))
        total = _("total amount {amount}", amount=format_amount(self.total_amount_kurus))
        if self.unknown_amounts:
            total += _(" (+{n} invoices not in the cache)", n=n(self.unknown_amounts))
        lines = [
            _(
                "{total} rows read: {valid} valid, {invalid} invalid (invalid rows are never sent)",
                total=n(self.total_rows),
                valid=n(self.valid_count),
                invalid=n(self.invalid_count),
            ),
            _("{calls} calls to Paynet will create {invoices} invoices", **calls)
            if self.kind == "create_invoices"
            else _(
                "{calls} calls to Paynet will change the status of {invoices} invoices", **calls
            ),
            total,
        ]
        if self.collapsed:
            saved = sum(len(c.invoice_nos) for c in self.collapsed) - len(self.collapsed)
            lines.append(
                _(
                    "{n} subscriptions covered whole by one invoices_status_update_all call each "
                    "({saved} calls saved)",
                    n=n(len(self.collapsed)),
                    saved=n(saved),
                )
            )
        return lines


# -- invoices to create --------------------------------------------------------------------------


def plan_invoices(result: ImportResult, *, store: Store | None = None) -> Plan:
    """One ``create_invoice`` call per valid row, each with its invoice number fixed now.

    With a ``store``: a row whose invoice number is already cached is refused (it exists), and
    a row without a number that matches a cached invoice (same subscription, amount and day)
    gets a warning: the file was probably uploaded before.
    """
    if result.kind != "invoices":
        raise ValueError(f"plan_invoices needs an invoices file, got {result.kind!r}")
    errors = list(result.errors)
    warnings = list(result.warnings)
    calls: list[PlannedCall] = []
    for row in result.rows:
        assert isinstance(row, InvoiceRow)
        if store is not None and row.invoice_no and store.get_invoice(invoice_no=row.invoice_no):
            errors.append(
                RowError(
                    row.row,
                    "invoice_no",
                    Message("invoice {invoice_no} already exists", invoice_no=row.invoice_no),
                    row.invoice_no,
                )
            )
            continue
        if store is not None and not row.invoice_no:
            twin = _cached_twin(store, row)
            if twin:
                warnings.append(
                    _(
                        "row {row} matches invoice {twin} already in the cache (same subscription, "
                        "amount and day): check the file was not uploaded before",
                        row=row.row,
                        twin=twin,
                    )
                )
        invoice_no = row.invoice_no or generate_invoice_no()
        calls.append(
            PlannedCall(
                CREATE,
                invoice_no,
                invoice_payload(row, invoice_no),
                (row.row,),
                (invoice_no,),
                row.amount,
            )
        )
    return Plan(
        JobKind.CREATE_INVOICES,
        result.filename,
        calls,
        errors,
        warnings,
        result.total_rows,
        _invalid_records(result, errors),
    )


def invoice_payload(row: InvoiceRow, invoice_no: str) -> dict[str, Any]:
    """The journaled arguments of ``create_invoice`` (JSON; amounts kuruş, the date ISO 8601)."""
    return {
        "invoice_no": invoice_no,
        "subscription_id": row.subscription_id,
        "reference_no": row.reference_no,
        "amount": row.amount,
        "val_date": row.val_date.isoformat(),
        "agent_amount": row.agent_amount,
        "company_amount": row.company_amount,
        "currency": row.currency,
        "row": row.row,
    }


def _cached_twin(store: Store, row: InvoiceRow) -> str | None:
    if not row.subscription_id:
        return None
    day = row.val_date.date()
    found = store.find_invoices(
        subscription_id=row.subscription_id,
        day_from=day,
        day_to=day,
        min_amount=row.amount,
        max_amount=row.amount,
        limit=1,
    )
    return None if found.empty else str(found.iloc[0]["invoice_no"])


# -- status changes ------------------------------------------------------------------------------


StatusInput = ImportResult | Iterable[StatusRow | tuple[str, InvoiceStatus | int | str]]


@dataclass
class _Target:
    row: int
    invoice_no: str | None
    invoice_id: str | None
    status: InvoiceStatus
    cached: dict | None


def plan_status_changes(
    changes: StatusInput, *, store: Store, source_name: str | None = None
) -> Plan:
    """Calls that set each listed invoice to its target status (see the module docstring).

    ``changes``: an imported statuses file, or ``(invoice_no or invoice_id, status)`` pairs
    (a key the cache knows as an ``invoice_id`` is read as one; anything else as an
    ``invoice_no``, which is always set) or :class:`StatusRow` objects.
    """
    result = changes if isinstance(changes, ImportResult) else None
    if result is not None and result.kind != "statuses":
        raise ValueError(f"plan_status_changes needs a statuses file, got {result.kind!r}")
    errors: list[RowError] = list(result.errors) if result else []
    warnings: list[str] = list(result.warnings) if result else []
    rows = result.rows if result else _status_rows(changes, errors)  # type: ignore[arg-type]

    targets: list[_Target] = []
    seen: dict[str, int] = {}
    for row in rows:
        assert isinstance(row, StatusRow)
        cached = _cached_invoice(store, row)
        if cached and row.invoice_id is None and cached["invoice_no"] != row.invoice_no:
            # a bare key that the cache knows as Paynet's invoice_id
            row = StatusRow(row.row, cached["invoice_no"], row.invoice_no, row.status)
        invoice_no = row.invoice_no or (cached["invoice_no"] if cached else None)
        invoice_id = row.invoice_id or (cached["invoice_id"] if cached else None)
        if (
            cached
            and row.invoice_no
            and row.invoice_id
            and cached["invoice_id"] not in (None, row.invoice_id)
        ):
            errors.append(
                RowError(
                    row.row,
                    "invoice_id",
                    Message(
                        "invoice {invoice_no} has invoice_id {cached}, not {given}",
                        invoice_no=row.invoice_no,
                        cached=cached["invoice_id"],
                        given=row.invoice_id,
                    ),
                    row.invoice_id,
                )
            )
            continue
        key = invoice_no or f"id:{invoice_id}"
        if key in seen:
            errors.append(
                RowError(
                    row.row,
                    "invoice_no" if row.invoice_no else "invoice_id",
                    Message(
                        "the same invoice as row {row}; give each invoice one target status",
                        row=seen[key],
                    ),
                    row.invoice_no or row.invoice_id,
                )
            )
            continue
        seen[key] = row.row
        targets.append(_Target(row.row, invoice_no, invoice_id, row.status, cached))

    collapsed, rest = _collapse(targets, store)
    calls = collapsed + [_single_call(t) for t in rest]
    calls.sort(key=lambda c: c.rows[0])
    unknown = sum(1 for t in rest if t.cached is None)
    if unknown:
        warnings.append(
            _(
                "{n} invoices are not in the cache: their amounts are not in the total and their "
                "current status is unknown (a sync would fill them in)",
                n=format_count(unknown),
            )
        )
    total = (
        result.total_rows
        if result
        else len(rows) + len({e.row for e in errors} - {r.row for r in rows})
    )
    return Plan(
        JobKind.SET_STATUS,
        source_name or (result.filename if result else None),
        calls,
        errors,
        warnings,
        total,
        _invalid_records(result, errors) if result else [],
    )


def _status_rows(changes: Iterable[Any], errors: list[RowError]) -> list[StatusRow]:
    rows = []
    for n, change in enumerate(changes, start=1):
        if isinstance(change, StatusRow):
            rows.append(change)
            continue
        key, status = change
        try:
            parsed = InvoiceStatus.parse(status)
        except ValueError as exc:
            errors.append(RowError(n, "status", str(exc), str(status)))
            continue
        key = str(key).strip()
        if not key:
            errors.append(RowError(n, "invoice_no", Message("is empty")))
            continue
        rows.append(StatusRow(row=n, invoice_no=key, invoice_id=None, status=parsed))
    return rows


def _cached_invoice(store: Store, row: StatusRow) -> dict | None:
    if row.invoice_no:
        found = store.get_invoice(invoice_no=row.invoice_no)
        if found is None and row.invoice_id is None:
            # A bare key (from a list of pairs) may be Paynet's id rather than our number.
            by_id = store.get_invoice(invoice_id=row.invoice_no)
            if by_id is not None:
                return by_id
        return found
    return store.get_invoice(invoice_id=row.invoice_id)


def _collapse(targets: list[_Target], store: Store) -> tuple[list[PlannedCall], list[_Target]]:
    groups: dict[tuple[str, InvoiceStatus], list[_Target]] = defaultdict(list)
    for t in targets:
        if t.cached is not None and t.cached["subscription_id"]:
            groups[(t.cached["subscription_id"], t.status)].append(t)
    by_subscription: dict[str, int] = defaultdict(int)
    for sub, _status in groups:
        by_subscription[sub] += 1
    calls: list[PlannedCall] = []
    used: set[int] = set()
    for (sub, status), group in groups.items():
        if len(group) < MIN_COLLAPSE or by_subscription[sub] > 1:
            continue
        if not _sweep_is_exact(store, sub, status, group):
            continue
        group.sort(key=lambda t: t.row)
        used.update(id(t) for t in group)
        calls.append(
            PlannedCall(
                SET_STATUS_ALL,
                sub,
                {
                    "subscription_id": sub,
                    "status": int(status),
                    "invoices": [_invoice_entry(t) for t in group],
                },
                tuple(t.row for t in group),
                tuple(t.invoice_no for t in group if t.invoice_no),
                sum(t.cached["amount_kurus"] for t in group if t.cached),
            )
        )
    return calls, [t for t in targets if id(t) not in used]


def _sweep_is_exact(
    store: Store, subscription_id: str, status: InvoiceStatus, group: Sequence[_Target]
) -> bool:
    """Whether ``invoices_status_update_all`` would change exactly the invoices in ``group``."""
    if not _subscription_known(store, subscription_id):
        return False
    wanted = {t.invoice_no for t in group}
    if any(t.cached is None or t.cached["status"] != InvoiceStatus.WAITING for t in group):
        return False
    if set(store.open_invoices_of(subscription_id)) != wanted:
        return False
    everything = store.find_invoices(subscription_id=subscription_id, limit=1_000_000)
    for invoice_no, current in zip(everything["invoice_no"], everything["status"], strict=True):
        if invoice_no in wanted:
            continue
        current = InvoiceStatus(int(current))
        if current != status and current not in SETTLED:
            return False
    return True


def _subscription_known(store: Store, subscription_id: str) -> bool:
    found = store.search_subscriptions(subscription_id, limit=1)
    return not found.empty and str(found.iloc[0]["subscription_id"]) == subscription_id


def _invoice_entry(t: _Target) -> dict[str, Any]:
    return {
        "invoice_no": t.invoice_no,
        "invoice_id": t.invoice_id,
        "row": t.row,
        "status_before": None if t.cached is None else int(t.cached["status"]),
        "amount": None if t.cached is None else int(t.cached["amount_kurus"]),
    }


def _single_call(t: _Target) -> PlannedCall:
    amount = None if t.cached is None else int(t.cached["amount_kurus"])
    payload: dict[str, Any] = {
        "invoice_no": t.invoice_no,
        "invoice_id": t.invoice_id,
        "status": int(t.status),
        "subscription_id": t.cached["subscription_id"] if t.cached else None,
        "status_before": None if t.cached is None else int(t.cached["status"]),
        "amount": amount,
        "row": t.row,
    }
    return PlannedCall(
        SET_STATUS,
        t.invoice_no or str(t.invoice_id),
        payload,
        (t.row,),
        (t.invoice_no,) if t.invoice_no else (),
        amount,
    )


# -- the fix-and-upload file ---------------------------------------------------------------------


def _invalid_records(result: ImportResult | None, errors: list[RowError]) -> list[dict[str, Any]]:
    """Invalid rows as they were read, cells as text, each with its problems under ``error``."""
    if result is None:
        return []
    by_row: dict[int, list[str]] = defaultdict(list)
    for e in errors:
        by_row[e.row].append(f"{e.field}: {e.message}" if e.field else e.message)
    out = []
    for record in result.records:
        if record["row"] in by_row:
            cells = {k: _cell_text(v) for k, v in record.items() if k != "row"}
            out.append({"row": record["row"], **cells, "error": "; ".join(by_row[record["row"]])})
    return out


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return (
            value.strftime("%d.%m.%Y %H:%M:%S")
            if hasattr(value, "hour")
            else value.strftime("%d.%m.%Y")
        )
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
