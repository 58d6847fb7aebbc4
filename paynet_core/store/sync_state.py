"""Sync bookkeeping: where each provider's sync got to, its date windows, and what to re-list.

A failed window is kept with its error so the next sync retries it before moving on; the
lookups here are what :mod:`paynet_core.sync` plans a run from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from .rollup import LOOKUP_CHUNK
from .rows import _check_choice, _day
from .schema import PROVIDERS

if TYPE_CHECKING:
    # Mixins only ever run as parts of Store; this lets mypy see the StoreBase helpers they use
    # without a runtime import (db -> migrations -> rollup would be circular).
    from .db import StoreBase as _StoreBase
else:
    _StoreBase = object


class SyncStateMixin(_StoreBase):
    """The sync's own tables (``sync_state``, ``sync_windows``) and its planning lookups."""

    def sync_state(self, provider: str, scope: str = "") -> dict | None:
        """Where the last sync of ``provider`` (and ``scope``, e.g. 'payments') got to."""
        return self._one(
            "SELECT * FROM sync_state WHERE provider = ? AND scope = ?", (provider, scope)
        )

    def save_sync_state(
        self,
        provider: str,
        scope: str = "",
        *,
        last_synced_day: date | str | None = None,
        error: str | None = None,
    ) -> None:
        """Record a sync run: on success move ``last_synced_day`` on; on error keep it."""
        _check_choice("provider", provider, PROVIDERS)
        now = self._now()
        ok = error is None
        with self.transaction() as db:
            db.conn.execute(
                """INSERT INTO sync_state
                       (provider, scope, last_synced_day, last_run_at, last_success_at, last_error)
                   VALUES (:provider, :scope, :day, :now, :success, :error)
                   ON CONFLICT (provider, scope) DO UPDATE SET
                       last_synced_day = COALESCE(excluded.last_synced_day, sync_state.last_synced_day),
                       last_run_at = excluded.last_run_at,
                       last_success_at = COALESCE(excluded.last_success_at, sync_state.last_success_at),
                       last_error = excluded.last_error""",
                {
                    "provider": provider,
                    "scope": scope,
                    "day": _day(last_synced_day) if ok and last_synced_day else None,
                    "now": now,
                    "success": now if ok else None,
                    "error": error,
                },
            )

    def record_sync_window(
        self,
        provider: str,
        first_day: date | str,
        last_day: date | str,
        *,
        scope: str = "",
        error: str | None = None,
    ) -> None:
        """Mark a date window done, or failed with its error so the next sync retries it."""
        _check_choice("provider", provider, PROVIDERS)
        with self.transaction() as db:
            db.conn.execute(
                """INSERT INTO sync_windows
                       (provider, scope, first_day, last_day, state, error, attempts, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                   ON CONFLICT (provider, scope, first_day, last_day) DO UPDATE SET
                       state = excluded.state, error = excluded.error,
                       attempts = sync_windows.attempts + 1, updated_at = excluded.updated_at""",
                (
                    provider,
                    scope,
                    _day(first_day),
                    _day(last_day),
                    "done" if error is None else "failed",
                    error,
                    self._now(),
                ),
            )

    def failed_sync_windows(self, provider: str, scope: str = "") -> list[tuple[date, date]]:
        """Windows whose last attempt failed, oldest first: retry these before moving on."""
        rows = self.db.conn.execute(
            """SELECT first_day, last_day FROM sync_windows
               WHERE provider = ? AND scope = ? AND state = 'failed' ORDER BY first_day""",
            (provider, scope),
        )
        return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in rows]

    def last_sync_time(self, provider: str | None = None) -> datetime | None:
        """When a sync (of ``provider``, or of any) last finished without error."""
        sql = "SELECT MAX(last_success_at) FROM sync_state"
        params: tuple = ()
        if provider is not None:
            sql += " WHERE provider = ?"
            params = (provider,)
        value = self.db.conn.execute(sql, params).fetchone()[0]
        return datetime.fromisoformat(value) if value else None

    # ---- what a sync plans from -------------------------------------------------------------

    def earliest_payment_day(self) -> date | None:
        """The first day a cached Payofin payment was paid (where a backfill can stop)."""
        day = self.db.conn.execute("SELECT MIN(paid_day) FROM bill_payments").fetchone()[0]
        return date.fromisoformat(day) if day else None

    def earliest_subscription_day(self) -> date | None:
        """The creation day of the oldest cached subscription."""
        day = self.db.conn.execute(
            "SELECT MIN(substr(created_at, 1, 10)) FROM subscriptions"
        ).fetchone()[0]
        return date.fromisoformat(day) if day else None

    def cached_subscription_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the cache holds a subscription for."""
        found: set[str] = set()
        conn = self.db.conn
        for n in range(0, len(ids), LOOKUP_CHUNK):
            chunk = list(ids[n : n + LOOKUP_CHUNK])
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT subscription_id FROM subscriptions WHERE subscription_id IN ({marks})",
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    def subscriptions_to_relist(
        self, *, full: bool, since: date, live_statuses: Iterable[int]
    ) -> dict[str, date | None]:
        """Subscriptions whose invoices may still change, with their creation day (None when
        only their invoices are cached). ``full``: every one the cache knows of; else those
        with an invoice in ``live_statuses`` or due since ``since``, or created since then."""
        if full:
            sql = """SELECT subscription_id, substr(created_at, 1, 10) FROM subscriptions
                     UNION
                     SELECT DISTINCT subscription_id, NULL FROM invoices
                     WHERE subscription_id IS NOT NULL
                       AND subscription_id NOT IN (SELECT subscription_id FROM subscriptions)"""
            params: tuple | dict = ()
        else:
            live = ", ".join(str(int(s)) for s in live_statuses)
            sql = f"""SELECT l.subscription_id, substr(s.created_at, 1, 10)
                      FROM (SELECT subscription_id FROM invoices
                            WHERE subscription_id IS NOT NULL
                              AND (status IN ({live}) OR val_day >= :recent)
                            UNION
                            SELECT subscription_id FROM subscriptions
                            WHERE created_at >= :recent) AS l
                      LEFT JOIN subscriptions AS s USING (subscription_id)"""
            params = {"recent": since.isoformat()}
        rows = self.db.conn.execute(sql, params).fetchall()
        return {sub_id: date.fromisoformat(day) if day else None for sub_id, day in rows}
