"""The SQLite cache: every SQL statement of paynet-ops outside the sandbox lives in this package.

The file is a public interface. Support engineers open it with the sqlite3 shell, Datasette
and Jupyter, so the schema is documented column by column in ``the README`` (a test
fails when a column is missing there), money is integer kuruş in ``*_kurus`` columns, days are
``YYYY-MM-DD`` and timestamps ISO 8601 with Istanbul's ``+03:00`` offset.

:class:`Store` is one object per file, assembled from one mixin per subject:

- :mod:`.db` opening, connections, WAL, write transactions, the data version, migrating
- :mod:`.schema` / :mod:`.migrations` the vocabularies and the numbered migrations
- :mod:`.cache` invoice, subscription and payment upserts and reads
- :mod:`.history` status changes we caused, and the status histories
- :mod:`.rollup` the daily rollup's deltas, and its check against a rebuild
- :mod:`.sync_state` the sync's bookkeeping and planning lookups
- :mod:`.audit` the append-only audit log
- :mod:`.journal` bulk jobs and their items
- :mod:`.chunks` a job's items by seq range (a distributed worker's chunk)
- :mod:`.queue_pg` the PostgreSQL side of distributed workers (rate bucket, registry, schedule)
- :mod:`.reports` the chart, KPI and export SQL
- :mod:`.readonly` people's own SQL, read-only (``paynet-ops sql``)
- :mod:`.rows` converting models to rows, and the value checks
"""

from __future__ import annotations

from .audit import AUDIT_COLUMNS, AuditMixin
from .cache import BATCH_ROWS, CacheMixin, UpsertResult
from .chunks import ChunksMixin
from .db import BUSY_TIMEOUT_S, StoreBase
from .history import HistoryMixin
from .journal import JobItem, JournalMixin
from .migrations import LATEST_VERSION, MIGRATIONS, ROLLUP_VERSION, Migration
from .readonly import READ_PRAGMAS, ReadOnlyGuard, ReadOnlyMixin, SqlRefused, SqlStopped
from .reports import ReportsMixin
from .rollup import ROLLUP_SELECT, RollupMixin, keeping_rollup
from .rows import BillPaymentLike
from .schema import (
    HISTORY_SOURCES,
    ITEM_FINAL_STATES,
    ITEM_OPERATIONS,
    ITEM_STATES,
    JOB_FINAL_STATES,
    JOB_KINDS,
    JOB_STATES,
    MODES,
    PAYMENT_STATUSES,
    PROVIDERS,
    ROLLUP_KEY,
    ROLLUP_TABLE,
    ROLLUP_TOTALS_KEY,
    ROLLUP_TOTALS_TABLE,
)
from .sync_state import SyncStateMixin
from .user_settings import UserSettingsMixin


class Store(
    CacheMixin,
    HistoryMixin,
    RollupMixin,
    SyncStateMixin,
    AuditMixin,
    JournalMixin,
    ChunksMixin,
    ReportsMixin,
    ReadOnlyMixin,
    UserSettingsMixin,
    StoreBase,
):
    """The cache database. One object per file, shared by all threads of a process."""


__all__ = [
    "AUDIT_COLUMNS",
    "BATCH_ROWS",
    "BUSY_TIMEOUT_S",
    "HISTORY_SOURCES",
    "ITEM_FINAL_STATES",
    "ITEM_OPERATIONS",
    "ITEM_STATES",
    "JOB_FINAL_STATES",
    "JOB_KINDS",
    "JOB_STATES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "MODES",
    "PAYMENT_STATUSES",
    "PROVIDERS",
    "READ_PRAGMAS",
    "ROLLUP_KEY",
    "ROLLUP_SELECT",
    "ROLLUP_TABLE",
    "ROLLUP_TOTALS_KEY",
    "ROLLUP_TOTALS_TABLE",
    "ROLLUP_VERSION",
    "BillPaymentLike",
    "JobItem",
    "Migration",
    "ReadOnlyGuard",
    "SqlRefused",
    "SqlStopped",
    "Store",
    "UpsertResult",
    "keeping_rollup",
]
