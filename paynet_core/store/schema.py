"""The closed vocabularies the cache's CHECK constraints enforce, and the rollup tables' shape.

Every subject module of the store validates its input against these before SQL sees it, so a
bad value gets a clear :class:`~paynet_core.errors.StoreError` instead of a constraint failure.
Kept apart from the migrations so readers (rows, journal, reports) need no DDL. The job words
come from :mod:`paynet_core.vocab` (the migrations keep their literals: they are history).
"""

from ..vocab import ItemState, JobKind, JobState

PROVIDERS = ("paynet", "payofin")
HISTORY_SOURCES = ("sync", "action", "job")
MODES = ("sandbox", "test", "live")
JOB_KINDS = tuple(JobKind)
JOB_STATES = tuple(JobState)
JOB_FINAL_STATES = (JobState.CANCELLED, JobState.DONE, JobState.FAILED)
ITEM_OPERATIONS = ("create_invoice", "invoice_status_update", "invoices_status_update_all")
ITEM_STATES = tuple(ItemState)
ITEM_FINAL_STATES = (ItemState.DONE, ItemState.FAILED, ItemState.SKIPPED)
PAYMENT_STATUSES = ("Paid", "Cancelled")
#: Keys refused in job payloads and audit details: the journal is read by people, never secrets.
_SECRET_KEYS = frozenset(
    {"secret_key", "secretkey", "api_key", "apikey", "password", "authorization", "token"}
)

#: The outcomes an invoice or payment can end in (the CHECK every outcome column carries).
OUTCOME_CHECK = "CHECK (outcome IN ('paid', 'cancelled', 'open', 'failed'))"

#: The daily rollup (what charts read) and its key; NULL keys are kept as ''.
ROLLUP_TABLE = "daily_rollup"
ROLLUP_KEY = ("provider", "day", "outcome", "status", "institution", "invoice_type", "agent_id")
#: The rollup summed over agents: what charts without an agent filter read (Paynet has a few
#: dozen agents, so this is that many times smaller than ``daily_rollup``).
ROLLUP_TOTALS_TABLE = "daily_rollup_totals"
ROLLUP_TOTALS_KEY = ROLLUP_KEY[:-1]
#: The rollup summed over institutions, bill types and agents: a few rows per day, what charts
#: without any institution, bill type or agent filter or breakdown read (migration 7).
ROLLUP_DAYS_TABLE = "daily_rollup_days"
ROLLUP_DAYS_KEY = ROLLUP_KEY[:4]
