"""The numbered schema migrations: append-only. Never edit a released one; add the next number.

Each migration is written once, for both backends: PostgreSQL runs the same statements through
:func:`.postgres.ddl` (bigint integers, identity ids, jsonb checks). Only what has no common
form is written twice, as :class:`Only` pairs: triggers (SQLite's ``BEGIN ... END`` bodies,
PostgreSQL's trigger functions) and the ``paynet_fold`` search function (a Python function
registered per connection on SQLite, a SQL function in the schema on PostgreSQL). The schema
version is ``PRAGMA user_version`` on SQLite and ``MAX(version)`` of ``schema_migrations`` on
both.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..paynet.models import InvoiceStatus
from . import postgres
from .rollup import ROLLUP_LEVELS, ROLLUP_SELECT, RollupLevel
from .schema import OUTCOME_CHECK


@dataclass(frozen=True)
class Only:
    """A statement with no common form: one text per backend (None: nothing to run there)."""

    sqlite: str | None = None
    postgresql: str | None = None


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str | Only, ...]

    def for_dialect(self, dialect: str) -> list[str]:
        """The statements as ``dialect`` ("sqlite" or "postgresql") runs them."""
        out = []
        for statement in self.statements:
            if isinstance(statement, Only):
                text = getattr(statement, dialect)
                if text is not None:
                    out.append(text)
            elif dialect == "postgresql":
                out.append(postgres.ddl(statement))
            else:
                out.append(statement)
        return out


def _status_rows_sql() -> str:
    rows = ", ".join(
        f"({s.value}, '{s.label}', '{s.label_tr}', '{s.outcome.value}')" for s in InvoiceStatus
    )
    return f"INSERT INTO invoice_statuses (status, label, label_tr, outcome) VALUES {rows}"


_INITIAL_SCHEMA = (
    """CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)""",
    f"""CREATE TABLE invoice_statuses (
    status INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    label_tr TEXT NOT NULL,
    outcome TEXT NOT NULL {OUTCOME_CHECK}
)""",
    _status_rows_sql(),
    """CREATE TABLE subscriptions (
    subscription_id TEXT PRIMARY KEY,
    reference_no TEXT,
    name_surname TEXT,
    amount_kurus INTEGER CHECK (amount_kurus >= 0),
    agent_id TEXT,
    interval INTEGER,
    interval_count INTEGER,
    begin_date TEXT,
    is_fixed_price INTEGER CHECK (is_fixed_price IN (0, 1)),
    status INTEGER,
    group_reference_no TEXT,
    created_at TEXT,
    synced_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_subscriptions_reference_no ON subscriptions (reference_no)",
    f"""CREATE TABLE invoices (
    invoice_no TEXT PRIMARY KEY,
    invoice_id TEXT UNIQUE,
    subscription_id TEXT,
    agent_id TEXT,
    reference_no TEXT,
    amount_kurus INTEGER NOT NULL CHECK (amount_kurus >= 0),
    agent_amount_kurus INTEGER,
    company_amount_kurus INTEGER,
    currency TEXT NOT NULL DEFAULT 'TRY',
    val_date TEXT,
    val_day TEXT,
    status INTEGER NOT NULL CHECK (status IN (0, 2, 3, 4, 5, 6)),
    status_label TEXT NOT NULL,
    outcome TEXT NOT NULL {OUTCOME_CHECK},
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    synced_at TEXT
)""",
    "CREATE INDEX idx_invoices_subscription ON invoices (subscription_id, status)",
    "CREATE INDEX idx_invoices_reference_no ON invoices (reference_no)",
    # invoices.agent_id copies the subscription's agent so agent charts need no join.
    Only(
        sqlite="""CREATE TRIGGER subscriptions_agent_after_insert AFTER INSERT ON subscriptions
BEGIN
    UPDATE invoices SET agent_id = new.agent_id
    WHERE subscription_id = new.subscription_id AND agent_id IS NOT new.agent_id;
END""",
        postgresql="""CREATE FUNCTION paynet_copy_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE invoices SET agent_id = NEW.agent_id
    WHERE subscription_id = NEW.subscription_id AND agent_id IS DISTINCT FROM NEW.agent_id;
    RETURN NULL;
END $$""",
    ),
    Only(
        sqlite="""CREATE TRIGGER subscriptions_agent_after_update AFTER UPDATE OF agent_id ON subscriptions
WHEN old.agent_id IS NOT new.agent_id
BEGIN
    UPDATE invoices SET agent_id = new.agent_id WHERE subscription_id = new.subscription_id;
END""",
        postgresql="""CREATE TRIGGER subscriptions_agent_after_insert AFTER INSERT ON subscriptions
FOR EACH ROW EXECUTE FUNCTION paynet_copy_agent()""",
    ),
    Only(
        postgresql="""CREATE TRIGGER subscriptions_agent_after_update
AFTER UPDATE OF agent_id ON subscriptions FOR EACH ROW
WHEN (OLD.agent_id IS DISTINCT FROM NEW.agent_id) EXECUTE FUNCTION paynet_copy_agent()"""
    ),
    # Search folds case and Turkish letters the way rows._fold does ("AYŞE Işık" -> "ayse isik").
    Only(
        postgresql=r"""CREATE FUNCTION paynet_fold(value TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT lower(translate(btrim(COALESCE(value, '')),
    'İIıÇçĞğÖöŞşÜüÂâÎîÛûÊêÉéÈèËëÁáÀàÄäÓóÒòÍíÌìÚúÙùÑñ',
    'iiicc' || 'ggooss' || 'uuaaiiuueeeeeeeeaaaaaaooooiiiiuuuunn'))
$$"""
    ),
    """CREATE TABLE invoice_status_history (
    id INTEGER PRIMARY KEY,
    invoice_no TEXT NOT NULL,
    old_status INTEGER,
    new_status INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('sync', 'action', 'job')),
    job_id TEXT,
    actor TEXT,
    observed_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_invoice_status_history_invoice ON invoice_status_history (invoice_no, id)",
    """CREATE TABLE bill_payments (
    invoice_payment_id INTEGER PRIMARY KEY,
    invoice_type TEXT,
    institution TEXT,
    subscriber_no TEXT,
    customer_name_masked TEXT,
    invoice_no TEXT,
    due_date TEXT,
    amount_kurus INTEGER NOT NULL CHECK (amount_kurus >= 0),
    fee_kurus INTEGER NOT NULL DEFAULT 0 CHECK (fee_kurus >= 0),
    paid_at TEXT,
    paid_day TEXT,
    status TEXT NOT NULL CHECK (status IN ('Paid', 'Cancelled')),
    outcome TEXT NOT NULL CHECK (outcome IN ('paid', 'cancelled')),
    synced_at TEXT NOT NULL,
    first_seen_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_bill_payments_subscriber_no ON bill_payments (subscriber_no)",
    """CREATE TABLE payment_status_history (
    id INTEGER PRIMARY KEY,
    invoice_payment_id INTEGER NOT NULL REFERENCES bill_payments (invoice_payment_id),
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    observed_at TEXT NOT NULL
)""",
    """CREATE INDEX idx_payment_status_history_payment
    ON payment_status_history (invoice_payment_id, id)""",
    """CREATE TABLE sync_state (
    provider TEXT NOT NULL CHECK (provider IN ('paynet', 'payofin')),
    scope TEXT NOT NULL DEFAULT '',
    last_synced_day TEXT,
    last_run_at TEXT,
    last_success_at TEXT,
    last_error TEXT,
    PRIMARY KEY (provider, scope)
)""",
    """CREATE TABLE sync_windows (
    provider TEXT NOT NULL CHECK (provider IN ('paynet', 'payofin')),
    scope TEXT NOT NULL DEFAULT '',
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('done', 'failed')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, scope, first_day, last_day)
)""",
    """CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
        ('pending', 'running', 'paused', 'cancelling', 'cancelled', 'done', 'failed')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    mode TEXT NOT NULL CHECK (mode IN ('sandbox', 'test', 'live')),
    source_name TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    options TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options)),
    heartbeat_at TEXT,
    runner_pid INTEGER
)""",
    "CREATE INDEX idx_jobs_created_at ON jobs (created_at)",
    """CREATE TABLE job_items (
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    seq INTEGER NOT NULL,
    operation TEXT NOT NULL,
    target_key TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
        ('pending', 'sending', 'done', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    provider_code INTEGER,
    message TEXT,
    status_before INTEGER,
    status_after INTEGER,
    source_row INTEGER,
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (job_id, seq)
)""",
    "CREATE INDEX idx_job_items_state ON job_items (job_id, state)",
    "CREATE INDEX idx_job_items_target_key ON job_items (target_key)",
    """CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('sandbox', 'test', 'live')),
    action TEXT NOT NULL,
    target_type TEXT,
    target_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(target_ids)),
    status_before INTEGER,
    status_after INTEGER,
    provider_code INTEGER,
    provider_message TEXT,
    job_id TEXT,
    details TEXT CHECK (details IS NULL OR json_valid(details))
)""",
    "CREATE INDEX idx_audit_log_at ON audit_log (at)",
    "CREATE INDEX idx_audit_log_job_id ON audit_log (job_id)",
    Only(
        sqlite="""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END""",
        postgresql="""CREATE FUNCTION paynet_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$""",
    ),
    Only(
        sqlite="""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END""",
        postgresql="""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION paynet_audit_append_only()""",
    ),
    Only(
        postgresql="""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION paynet_audit_append_only()"""
    ),
)

# Plain UNION ALLs so SQLite pushes WHERE terms into each arm and uses each table's indexes.
_VIEWS = (
    """CREATE VIEW outcomes AS
SELECT
    'paynet' AS provider,
    i.invoice_no AS record_id,
    i.val_day AS day,
    i.val_date AS occurred_at,
    i.outcome AS outcome,
    i.status_label AS status_label,
    i.amount_kurus AS amount_kurus,
    0 AS fee_kurus,
    NULL AS institution,
    NULL AS invoice_type,
    i.subscription_id AS subscription_id,
    i.reference_no AS reference_no,
    i.agent_id AS agent_id
FROM invoices AS i
UNION ALL
SELECT
    'payofin',
    CAST(p.invoice_payment_id AS TEXT),
    p.paid_day,
    p.paid_at,
    p.outcome,
    p.status,
    p.amount_kurus,
    p.fee_kurus,
    p.institution,
    p.invoice_type,
    NULL,
    NULL,
    NULL
FROM bill_payments AS p""",
    """CREATE VIEW daily_totals AS
SELECT
    val_day AS day,
    'paynet' AS provider,
    outcome,
    COUNT(*) AS count,
    SUM(amount_kurus) AS amount_kurus,
    0 AS fee_kurus
FROM invoices
WHERE val_day IS NOT NULL
GROUP BY val_day, outcome
UNION ALL
SELECT
    paid_day,
    'payofin',
    outcome,
    COUNT(*),
    SUM(amount_kurus),
    SUM(fee_kurus)
FROM bill_payments
WHERE paid_day IS NOT NULL
GROUP BY paid_day, outcome""",
    # Grouped in the order of the covering indexes (migration 3), so SQLite aggregates while it
    # scans the index without sorting; charts roll these small groups up by week, institution...
    """CREATE VIEW daily_breakdown AS
SELECT
    val_day AS day,
    'paynet' AS provider,
    outcome,
    NULL AS institution,
    NULL AS invoice_type,
    agent_id,
    COUNT(*) AS count,
    SUM(amount_kurus) AS amount_kurus,
    0 AS fee_kurus
FROM invoices
WHERE val_day IS NOT NULL
GROUP BY val_day, outcome, agent_id
UNION ALL
SELECT
    paid_day,
    'payofin',
    outcome,
    institution,
    invoice_type,
    NULL,
    COUNT(*),
    SUM(amount_kurus),
    SUM(fee_kurus)
FROM bill_payments
WHERE paid_day IS NOT NULL
GROUP BY paid_day, outcome, institution, invoice_type""",
)

# Covering indexes: every daily/institution aggregate is answered from the index alone.
_CHART_INDEXES = (
    """CREATE INDEX idx_invoices_day_outcome
    ON invoices (val_day, outcome, agent_id, amount_kurus)""",
    """CREATE INDEX idx_invoices_agent
    ON invoices (agent_id, val_day, outcome, amount_kurus)""",
    """CREATE INDEX idx_bill_payments_day_outcome
    ON bill_payments (paid_day, outcome, institution, invoice_type, amount_kurus, fee_kurus)""",
    """CREATE INDEX idx_bill_payments_institution
    ON bill_payments (institution, paid_day, outcome, amount_kurus, fee_kurus)""",
)

# The status breakdown and the job runner's claims (measured: 970 ms → 160 ms at 1M invoices;
# claim_items no longer scans finished items).
_STATUS_AND_CLAIM_INDEXES: tuple[str, ...] = (
    "CREATE INDEX idx_invoices_day_status ON invoices (val_day, status, agent_id, amount_kurus)",
    "CREATE INDEX idx_job_items_claim ON job_items (job_id, state, seq)",
)


def _rollup_table(level: RollupLevel) -> str:
    """One rollup table's DDL (SQLite: clustered on its key with ``WITHOUT ROWID``)."""
    extra = "    agent_id TEXT NOT NULL DEFAULT '',\n" if "agent_id" in level.key else ""
    return f"""CREATE TABLE {level.table} (
    provider TEXT NOT NULL CHECK (provider IN ('paynet', 'payofin')),
    day TEXT NOT NULL,
    outcome TEXT NOT NULL {OUTCOME_CHECK},
    status TEXT NOT NULL,
    institution TEXT NOT NULL DEFAULT '',
    invoice_type TEXT NOT NULL DEFAULT '',
{extra}    count INTEGER NOT NULL,
    amount_kurus INTEGER NOT NULL,
    fee_kurus INTEGER NOT NULL,
    PRIMARY KEY ({", ".join(level.key)})
) WITHOUT ROWID"""


_ROLLUP_AND_VERSION = (
    *(
        statement
        for level in ROLLUP_LEVELS[:2]  # migration 7 adds the third level
        for statement in (
            _rollup_table(level),
            # Filled from what is cached already.
            f"INSERT INTO {level.table} ({level.columns}) "
            f"SELECT * FROM ({level.grouped(ROLLUP_SELECT)}) AS d WHERE true",
        )
    ),
    """CREATE TABLE data_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)""",
    "INSERT INTO data_version (id, version) VALUES (1, 1)",
)

_USER_LANGUAGE = (
    """CREATE TABLE user_settings (
    email TEXT PRIMARY KEY,
    language TEXT NOT NULL CHECK (language IN ('tr', 'en')),
    updated_at TEXT NOT NULL
)""",
)

_DAYS_LEVEL = ROLLUP_LEVELS[2]
_ROLLUP_DAYS = (
    f"""CREATE TABLE {_DAYS_LEVEL.table} (
    provider TEXT NOT NULL CHECK (provider IN ('paynet', 'payofin')),
    day TEXT NOT NULL,
    outcome TEXT NOT NULL {OUTCOME_CHECK},
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    amount_kurus INTEGER NOT NULL,
    fee_kurus INTEGER NOT NULL,
    PRIMARY KEY ({", ".join(_DAYS_LEVEL.key)})
) WITHOUT ROWID""",
    f"INSERT INTO {_DAYS_LEVEL.table} ({_DAYS_LEVEL.columns}) "
    f"SELECT * FROM ({_DAYS_LEVEL.grouped(ROLLUP_SELECT)}) AS d WHERE true",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _INITIAL_SCHEMA),
    Migration(2, "analyst views: outcomes, daily_totals, daily_breakdown", _VIEWS),
    Migration(3, "covering indexes for chart aggregates", _CHART_INDEXES),
    Migration(4, "status breakdown and job-claim indexes", _STATUS_AND_CLAIM_INDEXES),
    Migration(5, "daily rollup kept at write time; data version", _ROLLUP_AND_VERSION),
    Migration(6, "each person's dashboard language", _USER_LANGUAGE),
    Migration(
        7, "daily rollup by day, outcome and status only (charts without filters)", _ROLLUP_DAYS
    ),
)
#: The first schema version with the rollup and the data version.
ROLLUP_VERSION = 5
LATEST_VERSION = MIGRATIONS[-1].version
