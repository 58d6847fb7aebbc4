"""Benchmark of the cache: ingest through the Store against a raw baseline, and the chart
queries at size, on SQLite (default) or PostgreSQL.

    uv run python bench/cache.py                # 1,000,000 bill payments + 1,000,000 invoices
    uv run python bench/cache.py --rows 50000   # a quick run
    uv run python bench/cache.py --backend postgresql              # a throwaway local server
    uv run python bench/cache.py --backend postgresql --url URL    # a server of yours (it
                                                # creates and drops two databases there)

On PostgreSQL the baseline is a raw ``COPY`` of the same tuples into the same schema (a
second database made by the same migrations), one transaction per chunk; "executemany alone"
is that COPY with the tuples prepared outside the timer.

What it does, on deterministic rows (same seed → same rows, byte for byte):

1. **Ingest.** The rows are generated in chunks of provider models (``BillPayment``,
   ``Invoice``, ``Subscription``: what a sync hands the store). Each chunk goes once through
   ``Store.upsert_*`` (file A, which also keeps ``daily_rollup`` in step, batch by batch) and
   once through the baseline (file B): a raw ``sqlite3``
   connection doing the minimal conversion to column tuples plus one ``executemany`` of a plain
   ``INSERT`` per chunk, into the same schema (B is created by the same migrations, so it has
   the same indexes and triggers) with the same pragmas (WAL, synchronous=NORMAL, foreign keys).
   Only the calls are timed, never the generation. Both files use the same fixed clock, so the
   final tables must be identical: the benchmark checks it with a digest of every row.
   Also reported: the baseline's ``executemany`` alone (tuples prepared outside the timer),
   the floor no Python ingest path can beat.
2. **Chart queries.** A fresh subprocess opens file A and runs every chart function of
   :mod:`paynet_core.reports` ``--runs`` times (first a warm-up), reporting each median and its
   own peak RSS: the process a dashboard or a notebook would be. Peak RSS is ``VmHWM`` from
   ``/proc/self/status``, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``exec`` from
   the forking parent (here the ingest process, several hundred MB), so a child started by a
   big process reports the parent's peak.
3. **Rollup check.** ``Store.rollup_differences`` (what ``paynet-ops db check`` runs) rebuilds
   the rollup of file A from its base tables and compares: it must find nothing.

Targets: ingest including the rollup at most 1.2x the raw baseline; every chart and KPI query
under 50 ms (median); the chart process's peak RSS under 200 MB.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from paynet_core.dates import ISTANBUL  # noqa: E402
from paynet_core.paynet.models import Invoice, InvoiceStatus, Subscription  # noqa: E402
from paynet_core.payofin.models import BillPayment  # noqa: E402
from paynet_core.sandbox.institutions import INSTITUTIONS  # noqa: E402
from paynet_core.store import Store  # noqa: E402

#: The day the data ends ("today" of the benchmark) and the fixed clock both files use.
LAST_DAY = date(2026, 11, 30)
DAYS = 365
CLOCK = datetime(2026, 12, 1, 9, 0, 0, tzinfo=ISTANBUL)
CHUNK = 50_000
AGENTS = tuple(f"AG{n:03d}" for n in range(1, 21))
_PAST = (
    (InvoiceStatus.DONE_SUCCEED, 74),
    (InvoiceStatus.DONE_UNSUCCEED, 9),
    (InvoiceStatus.CANCEL, 6),
    (InvoiceStatus.EXTERNAL_CHARGED, 5),
    (InvoiceStatus.DELETED, 3),
    (InvoiceStatus.WAITING, 3),
)
_FUTURE = ((InvoiceStatus.WAITING, 95), (InvoiceStatus.CANCEL, 3), (InvoiceStatus.DELETED, 2))
_NAMES = ("AY** YI****", "ME**** DE***", "DE*** ÖZ****", "AL* KA**", "ZE**** ŞA***", "Hİ** ÇE***")


# --------------------------------------------------------------------------------------------
# Deterministic rows
# --------------------------------------------------------------------------------------------


def subscription_count(rows: int) -> int:
    return max(1, rows // 100)


def subscriptions(rows: int, seed: int) -> list[Subscription]:
    rng = random.Random(seed * 7 + 1)
    first = LAST_DAY - timedelta(days=DAYS + 60)
    out = []
    for n in range(subscription_count(rows)):
        created = datetime.combine(
            first + timedelta(days=rng.randrange(60)), datetime.min.time(), ISTANBUL
        ) + timedelta(seconds=rng.randrange(86_400))
        out.append(
            Subscription.model_construct(
                subscription_id=f"S{n:08d}",
                reference_no=f"9{n:08d}",
                name_surname=f"Abone {n}",
                amount=rng.randint(100, 2500) * 100,
                agent_id=rng.choice(AGENTS) if rng.random() < 0.6 else None,
                interval=2,
                interval_count=12,
                begin_date=created + timedelta(days=1),
                is_fixed_price=False,
                status=0,
                group_reference_no=None,
                created_at=created,
            )
        )
    return out


def invoice_chunks(rows: int, seed: int) -> Iterator[list[Invoice]]:
    """``rows`` invoices spread over the year (plus a month of future ones), by chunks."""
    rng = random.Random(seed * 7 + 2)
    subs = subscription_count(rows)
    first = LAST_DAY - timedelta(days=DAYS - 1)
    past = [s for s, _ in _PAST], [w for _, w in _PAST]
    future = [s for s, _ in _FUTURE], [w for _, w in _FUTURE]
    chunk: list[Invoice] = []
    for i in range(rows):
        day = first + timedelta(days=i * (DAYS + 30) // rows)
        statuses, weights = past if day <= LAST_DAY else future
        status = rng.choices(statuses, weights)[0]
        amount = rng.randint(5_000, 300_000)
        agent_part = amount // 10 if i % 3 == 0 else None
        chunk.append(
            Invoice.model_construct(
                invoice_id=str(50_000_000 + i),
                invoice_no=f"B{i:09d}",
                subscription_id=f"S{i % subs:08d}",
                reference_no=f"9{i % subs:08d}",
                amount=amount,
                agent_amount=agent_part,
                company_amount=None if agent_part is None else amount - agent_part,
                currency="TRY",
                val_date=datetime(day.year, day.month, day.day, 10, 0, tzinfo=ISTANBUL),
                status=status,
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def payment_chunks(rows: int, seed: int) -> Iterator[list[BillPayment]]:
    """``rows`` Payofin payments over the year, ids growing with time, by chunks."""
    rng = random.Random(seed * 7 + 3)
    weights = [18, 14, 14, 8, 10, 6, 8, 5, 5, 5, 3, 4]
    first = LAST_DAY - timedelta(days=DAYS - 1)
    chunk: list[BillPayment] = []
    for i in range(rows):
        day = first + timedelta(days=i * DAYS // rows)
        inst = rng.choices(INSTITUTIONS, weights)[0]
        low, high = inst.bill_range
        paid = datetime(day.year, day.month, day.day, tzinfo=ISTANBUL) + timedelta(
            seconds=rng.randrange(7 * 3600, 23 * 3600)
        )
        chunk.append(
            BillPayment(
                invoice_payment_id=1_000_000 + i,
                invoice_type=inst.invoice_type,
                institution=inst.soot_name,
                subscriber_no=f"{rng.randrange(10**11):011d}",
                customer_name=rng.choice(_NAMES),
                invoice_no=str(rng.randrange(1_000_000, 9_999_999_999)),
                due_date=day + timedelta(days=rng.randint(-5, 15)),
                amount_kurus=rng.randint(low, high),
                fee_kurus=inst.fee,
                paid_at=paid,
                status="Cancelled" if rng.random() < 0.08 else "Paid",
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------------------------
# The raw baseline: minimal conversion, one executemany per chunk, plain INSERT
# --------------------------------------------------------------------------------------------

_STAMP = CLOCK.isoformat(timespec="seconds")

SUBSCRIPTION_COLUMNS = (
    "subscription_id", "reference_no", "name_surname", "amount_kurus", "agent_id", "interval",
    "interval_count", "begin_date", "is_fixed_price", "status", "group_reference_no",
    "created_at", "synced_at",
)  # fmt: skip
INVOICE_COLUMNS = (
    "invoice_no", "invoice_id", "subscription_id", "agent_id", "reference_no", "amount_kurus",
    "agent_amount_kurus", "company_amount_kurus", "currency", "val_date", "val_day", "status",
    "status_label", "outcome", "created_at", "updated_at", "synced_at",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "invoice_payment_id", "invoice_type", "institution", "subscriber_no",
    "customer_name_masked", "invoice_no", "due_date", "amount_kurus", "fee_kurus", "paid_at",
    "paid_day", "status", "outcome", "synced_at", "first_seen_at",
)  # fmt: skip
_LABEL = {s: (int(s), s.label, s.outcome.value) for s in InvoiceStatus}


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def raw_subscription_rows(subs: list[Subscription]) -> list[tuple]:
    return [
        (
            s.subscription_id, s.reference_no, s.name_surname, s.amount, s.agent_id, s.interval,
            s.interval_count, s.begin_date.date().isoformat(), int(s.is_fixed_price), s.status,
            s.group_reference_no, s.created_at.isoformat(timespec="seconds"), _STAMP,
        )
        for s in subs
    ]  # fmt: skip


def raw_invoice_rows(invoices: list[Invoice], agents: dict[str, str | None]) -> list[tuple]:
    out = []
    for i in invoices:
        stamp = i.val_date.isoformat(timespec="seconds")
        code, label, outcome = _LABEL[i.status]
        out.append(
            (
                i.invoice_no, i.invoice_id, i.subscription_id, agents.get(i.subscription_id),
                i.reference_no, i.amount, i.agent_amount, i.company_amount, i.currency, stamp,
                stamp[:10], code, label, outcome, _STAMP, _STAMP, _STAMP,
            )
        )  # fmt: skip
    return out


def raw_payment_rows(payments: list[BillPayment]) -> list[tuple]:
    out = []
    for p in payments:
        paid = p.paid_at.isoformat(timespec="seconds")
        out.append(
            (
                p.invoice_payment_id, p.invoice_type, p.institution, p.subscriber_no,
                p.customer_name, p.invoice_no, p.due_date.isoformat(), p.amount_kurus,
                p.fee_kurus, paid, paid[:10], p.status,
                "cancelled" if p.status == "Cancelled" else "paid", _STAMP, _STAMP,
            )
        )  # fmt: skip
    return out


def raw_connection(path: Path) -> sqlite3.Connection:
    """The schema from the store's own migrations, then a bare connection like the store's."""
    Store.open(path, clock=lambda: CLOCK).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def raw_insert(conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    if not isinstance(conn, sqlite3.Connection):  # PostgreSQL: COPY, the fastest raw path
        table, columns = _COPY_TARGETS[sql]
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")


def raw_pg_connection(url: str):
    import psycopg

    Store.open(url, clock=lambda: CLOCK).close()
    return psycopg.connect(url, autocommit=True)


_COPY_TARGETS = {
    _insert_sql(t, c): (t, c)
    for t, c in (
        ("subscriptions", SUBSCRIPTION_COLUMNS),
        ("invoices", INVOICE_COLUMNS),
        ("bill_payments", PAYMENT_COLUMNS),
    )
}


# --------------------------------------------------------------------------------------------
# Ingest: store vs raw on the same chunks
# --------------------------------------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds += time.perf_counter() - started


def ingest(rows: int, seed: int, store_path, raw_path, log: Callable, floor_path=None) -> dict:
    store = Store.open(store_path, clock=lambda: CLOCK)
    if isinstance(raw_path, str):  # PostgreSQL URLs
        raw, raw_floor = raw_pg_connection(raw_path), raw_pg_connection(floor_path)
    else:
        raw = raw_connection(raw_path)
        raw_floor = raw_connection(raw_path.with_name("floor.db"))
    timers = {
        name: {"store": Timer(), "raw": Timer(), "floor": Timer()}
        for name in ("subscriptions", "invoices", "payments")
    }

    subs = subscriptions(rows, seed)
    agents = {s.subscription_id: s.agent_id for s in subs}
    sub_sql = _insert_sql("subscriptions", SUBSCRIPTION_COLUMNS)
    t = timers["subscriptions"]
    t["store"](lambda: store.upsert_subscriptions(subs))
    t["raw"](lambda: raw_insert(raw, sub_sql, raw_subscription_rows(subs)))
    prepared = raw_subscription_rows(subs)
    t["floor"](lambda: raw_insert(raw_floor, sub_sql, prepared))

    specs = (
        ("invoices", invoice_chunks, lambda c: raw_invoice_rows(c, agents), store.upsert_invoices,
         _insert_sql("invoices", INVOICE_COLUMNS)),
        ("payments", payment_chunks, raw_payment_rows, store.upsert_payments,
         _insert_sql("bill_payments", PAYMENT_COLUMNS)),
    )  # fmt: skip
    for name, chunks, convert, upsert, sql in specs:
        t = timers[name]
        done = 0
        for chunk in chunks(rows, seed):
            t["store"](lambda chunk=chunk, upsert=upsert: upsert(chunk))
            t["raw"](
                lambda chunk=chunk, sql=sql, convert=convert: raw_insert(raw, sql, convert(chunk))
            )
            prepared = convert(chunk)
            t["floor"](lambda prepared=prepared, sql=sql: raw_insert(raw_floor, sql, prepared))
            done += len(chunk)
        log(
            f"{name}: {done:,} rows  store {t['store'].seconds:.2f} s  raw {t['raw'].seconds:.2f} s"
            f"  executemany alone {t['floor'].seconds:.2f} s"
        )
    store.close()
    raw.close()
    raw_floor.close()

    def total(kind: str) -> float:
        return sum(t[kind].seconds for t in timers.values())

    return {
        "per_table": {
            name: {kind: round(timer.seconds, 3) for kind, timer in t.items()}
            for name, t in timers.items()
        },
        "store_s": round(total("store"), 3),
        "raw_s": round(total("raw"), 3),
        "executemany_only_s": round(total("floor"), 3),
    }


def table_digest(path) -> dict[str, str]:
    """A digest of every row of the provider tables, in primary-key order."""
    if isinstance(path, str):  # PostgreSQL: the digest db copy uses (equal on both backends)
        from paynet_core.store.copying import digest

        with Store.open(path) as store:
            return {
                t: digest(store, t)[1][:16]
                for t in ("subscriptions", "invoices", "bill_payments", "invoice_status_history")
            }
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out = {}
    for table, key in (
        ("subscriptions", "subscription_id"),
        ("invoices", "invoice_no"),
        ("bill_payments", "invoice_payment_id"),
        ("invoice_status_history", "id"),
        ("payment_status_history", "id"),
    ):
        digest = hashlib.sha256()
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY {key}"):
            digest.update(repr(row).encode())
        out[table] = digest.hexdigest()[:16]
    conn.close()
    return out


# --------------------------------------------------------------------------------------------
# Chart queries, run in a fresh process
# --------------------------------------------------------------------------------------------


def chart_cases() -> dict[str, Callable]:
    from paynet_core import reports
    from paynet_core.reports import ChartFilters

    everything = ChartFilters()
    month = ChartFilters(day_from=LAST_DAY - timedelta(days=29), day_to=LAST_DAY)
    payofin = ChartFilters(providers=("payofin",), institutions=("İSKİ", "BEDAŞ"))
    agent = ChartFilters(agent_id="AG003")
    cases: dict[str, Callable] = {}
    for grain in ("day", "week", "month"):
        cases[f"outcome_series_{grain}"] = lambda s, g=grain: reports.outcome_series(
            s, grain=g, measure="amount", filters=everything
        )
    cases["outcome_series_day_last30"] = lambda s: reports.outcome_series(
        s, grain="day", filters=month
    )
    cases["outcome_series_week_institutions"] = lambda s: reports.outcome_series(
        s, grain="week", filters=payofin
    )
    cases["outcome_series_month_agent"] = lambda s: reports.outcome_series(
        s, grain="month", filters=agent
    )
    for by in ("institution", "invoice_type", "provider", "status"):
        cases[f"breakdown_{by}"] = lambda s, b=by: reports.breakdown(s, by=b, filters=everything)
    cases["breakdown_status_last30"] = lambda s: reports.breakdown(s, by="status", filters=month)
    cases["cancellation_rate_week"] = lambda s: reports.cancellation_rate(
        s, grain="week", filters=everything
    )
    cases["cancellation_rate_month_institutions"] = lambda s: reports.cancellation_rate(
        s, grain="month", filters=payofin
    )
    cases["fee_totals_month"] = lambda s: reports.fee_totals(s, grain="month", filters=everything)
    cases["fee_totals_day"] = lambda s: reports.fee_totals(s, grain="day", filters=everything)
    cases["kpis"] = lambda s: reports.kpis(s, everything)
    cases["kpis_last30"] = lambda s: reports.kpis(s, month)
    return cases


def run_charts(db, runs: int, only: str | None = None) -> dict:
    """Time every chart query in this process; report medians and minimums (ms) and peak RSS
    (MB)."""
    store = Store.open(db)
    medians, fastest, rows = {}, {}, {}
    for name, case in chart_cases().items():
        if only and not name.startswith(only):
            continue
        result = case(store)  # warm-up (and the planner's first look)
        rows[name] = len(result) if hasattr(result, "__len__") else 1
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            case(store)
            times.append((time.perf_counter() - started) * 1000)
        medians[name] = round(statistics.median(times), 1)
        fastest[name] = round(min(times), 1)
    store.close()
    return {
        "median_ms": medians,
        "min_ms": fastest,
        "result_rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM``; see the module docstring)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def charts_in_subprocess(db, runs: int, only: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--charts-only", str(db), "--runs", str(runs)]
    if only:
        cmd += ["--only", only]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"chart phase failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="payments and invoices each")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per chart query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="keep the database files here")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL server URL (default: a throwaway local one)")
    parser.add_argument("--charts-only", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.charts_only:
        target = args.charts_only if "://" in args.charts_only else Path(args.charts_only)
        print(json.dumps(run_charts(target, args.runs, args.only)))
        return 0
    if args.backend == "postgresql":
        return main_postgresql(args)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="paynet-bench-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        store_db, raw_db = folder / "store.db", folder / "raw.db"
        for path in folder.glob("*.db*"):
            path.unlink()
        log(f"ingesting {args.rows:,} invoices and {args.rows:,} payments into {folder}")
        started = time.perf_counter()
        ingested = ingest(args.rows, args.seed, store_db, raw_db, log)
        same = table_digest(store_db) == table_digest(raw_db)
        log(f"ingest done in {time.perf_counter() - started:.1f} s; identical tables: {same}")
        charts = charts_in_subprocess(store_db, args.runs)
        for name, ms in charts["median_ms"].items():
            log(f"  {name:40s} {ms:8.1f} ms")
        slowest = max(charts["median_ms"].values())
        started = time.perf_counter()
        with Store.open(store_db) as store:
            differences = store.rollup_differences()
            rollup_rows = store.db.conn.execute("SELECT COUNT(*) FROM daily_rollup").fetchone()[0]
        check_s = time.perf_counter() - started
        log(f"rollup: {rollup_rows:,} rows, {len(differences)} differences ({check_s:.1f} s)")
        ratio = ingested["store_s"] / ingested["raw_s"]
        result = {
            "rows_payments": args.rows,
            "rows_invoices": args.rows,
            "ingest_store_s": ingested["store_s"],
            "ingest_raw_s": ingested["raw_s"],
            "ingest_executemany_only_s": ingested["executemany_only_s"],
            "ingest_ratio_store_vs_raw": round(ratio, 3),
            "ingest_ratio_store_vs_executemany_only": round(
                ingested["store_s"] / ingested["executemany_only_s"], 3
            ),
            "ingest_per_table_s": ingested["per_table"],
            "tables_identical": same,
            "rollup_rows": rollup_rows,
            "rollup_consistent": not differences,
            "rollup_check_s": round(check_s, 2),
            "chart_median_ms": charts["median_ms"],
            "chart_slowest_ms": slowest,
            # The fastest of the runs: the query's own cost when the machine is busy elsewhere.
            "chart_min_ms": charts.get("min_ms"),
            "chart_process_peak_rss_mb": charts["peak_rss_mb"],
            "targets": {
                "ingest_ratio": {"value": round(ratio, 3), "target": 1.2, "met": ratio <= 1.2},
                "chart_slowest_ms": {"value": slowest, "target": 50, "met": slowest < 50},
                "chart_rss_mb": {
                    "value": charts["peak_rss_mb"],
                    "target": 200,
                    "met": charts["peak_rss_mb"] < 200,
                },
            },
            "db_size_mb": round(os.path.getsize(store_db) / 2**20, 1),
        }
    print(json.dumps(result, ensure_ascii=False))
    return 0


def main_postgresql(args: argparse.Namespace) -> int:
    """The same run on PostgreSQL: three databases on one server (store, raw COPY, COPY floor)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pg_server  # the tests' throwaway server from Debian's binaries

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    server = None
    if args.url:
        server_url = args.url
    else:
        if pg_server.find_bin_dir() is None:
            raise SystemExit(pg_server.INSTALL_HINT)
        server = pg_server.start()
        server_url = server.url
    urls = [pg_server.create_database(server_url) for _ in range(3)]
    try:
        store_url, raw_url, floor_url = urls
        log(f"ingesting {args.rows:,} invoices and {args.rows:,} payments into PostgreSQL")
        started = time.perf_counter()
        ingested = ingest(args.rows, args.seed, store_url, raw_url, log, floor_path=floor_url)
        same = table_digest(store_url) == table_digest(raw_url)
        log(f"ingest done in {time.perf_counter() - started:.1f} s; identical tables: {same}")
        with Store.open(store_url) as store:
            store.db.conn.execute("ANALYZE")  # what autovacuum would have done by morning
        charts = charts_in_subprocess(store_url, args.runs)
        for name, ms in charts["median_ms"].items():
            log(f"  {name:40s} {ms:8.1f} ms")
        slowest = max(charts["median_ms"].values())
        started = time.perf_counter()
        with Store.open(store_url) as store:
            differences = store.rollup_differences()
            rollup_rows = store.db.conn.execute("SELECT COUNT(*) FROM daily_rollup").fetchone()[0]
            size = store.db.conn.execute("SELECT pg_database_size(current_database())").fetchone()
        check_s = time.perf_counter() - started
        ratio = ingested["store_s"] / ingested["raw_s"]
        result = {
            "backend": "postgresql",
            "rows_payments": args.rows,
            "rows_invoices": args.rows,
            "ingest_store_s": ingested["store_s"],
            "ingest_raw_copy_s": ingested["raw_s"],
            "ingest_copy_only_s": ingested["executemany_only_s"],
            "ingest_ratio_store_vs_raw_copy": round(ratio, 3),
            "ingest_per_table_s": ingested["per_table"],
            "tables_identical": same,
            "rollup_rows": rollup_rows,
            "rollup_consistent": not differences,
            "rollup_check_s": round(check_s, 2),
            "chart_median_ms": charts["median_ms"],
            "chart_slowest_ms": slowest,
            "chart_min_ms": charts.get("min_ms"),
            "chart_process_peak_rss_mb": charts["peak_rss_mb"],
            "targets": {
                # #17 asks 1.2x on both backends; 1.5x was this bench's first bar for COPY.
                "ingest_ratio_vs_raw_copy": {
                    "value": round(ratio, 3),
                    "target": 1.2,
                    "met": ratio <= 1.2,
                    "earlier_target": 1.5,
                },
                "chart_slowest_ms": {"value": slowest, "target": 50, "met": slowest < 50},
                "chart_rss_mb": {
                    "value": charts["peak_rss_mb"],
                    "target": 200,
                    "met": charts["peak_rss_mb"] < 200,
                },
            },  # fmt: skip
            "db_size_mb": round(size[0] / 2**20, 1),
        }
    finally:
        from paynet_core.store import postgres

        postgres.dispose_all()
        for url in urls:
            pg_server.drop_database(url)
        if server is not None:
            server.stop()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
