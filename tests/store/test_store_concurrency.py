import json
import subprocess
import sys
import threading
from pathlib import Path

from paynet_core.paynet.models import Invoice
from paynet_core.store import JobItem, Store

ROOT = Path(__file__).resolve().parents[2]

# A CLI sync in its own process: many small write transactions, some on a row the other
# writer also changes, each with an audit line. Opening the file migrates it, so two writers
# starting on a fresh file also race through the migrations.
WRITER = """
import json, sys, time
from pathlib import Path
from paynet_core.store import Store
path, name, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = Store.open(path)
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:  # start together with the reader
    time.sleep(0.01)
errors = []
for r in range(rounds):
    rows = [
        {"invoice_no": f"{name}-{r}-{i}", "subscription_id": "S1", "amount": 100 + i,
         "status": 0, "val_date": "23.11.2026 10:00:00"}
        for i in range(10)
    ]
    rows.append({"invoice_no": "SHARED", "subscription_id": "S1", "amount": 1, "status": (r % 2) * 5})
    try:
        with store.transaction():
            store.upsert_invoices(rows)
            store.audit(name, "sync", mode="sandbox", target_ids=[f"round-{r}"])
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps({"errors": errors}))
"""

# The dashboard reading while both write, until it has seen every audit line (or gives up).
READER = """
import json, sys, time
from paynet_core.store import Store
from pathlib import Path
path, expected, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = Store.open(path)
errors, reads, seen = [], 0, 0
deadline = time.monotonic() + 60
while seen < expected and time.monotonic() < deadline:
    try:
        store.find_invoices(limit=5)
        store.query("SELECT * FROM daily_totals")
        seen = int(store.query("SELECT COUNT(*) FROM audit_log").iloc[0, 0])
        reads += 1
    except Exception as exc:
        errors.append(repr(exc))
    go.touch()
print(json.dumps({"errors": errors, "reads": reads, "seen": seen}))
"""


def run_python(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "locked" not in err
    return json.loads(out.strip().splitlines()[-1])


def test_two_writer_processes_and_a_reader_never_see_a_locked_database(tmp_path):
    path = tmp_path / "cache.db"
    rounds = 40
    go = tmp_path / "go"
    writers = [run_python(WRITER, path, name, rounds, go) for name in ("cli-a", "cli-b")]
    reader = run_python(READER, path, 2 * rounds, go)  # all three may be migrating the new file

    results = [result_of(p) for p in writers]
    read = result_of(reader)

    assert [r["errors"] for r in results] == [[], []]
    assert read["errors"] == [] and read["reads"] >= 1 and read["seen"] == 2 * rounds
    store = Store.read_only(path)
    counts = store.query(
        "SELECT substr(invoice_no, 1, 5) AS writer, COUNT(*) AS n FROM invoices "
        "WHERE invoice_no != 'SHARED' GROUP BY 1 ORDER BY 1"
    )
    assert counts.values.tolist() == [["cli-a", rounds * 10], ["cli-b", rounds * 10]]
    assert len(store.audit_rows(limit=1000)) == 2 * rounds
    assert store.schema_version() == len(store.query("SELECT * FROM schema_migrations"))


def test_many_threads_write_through_one_store(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    errors: list[str] = []

    def session(n: int) -> None:
        try:
            for r in range(15):
                rows = [
                    Invoice(invoice_no=f"T{n}-{r}-{i}", amount=100, status=0, subscription_id="S1")
                    for i in range(5)
                ]
                with store.transaction():
                    store.upsert_invoices(rows)
                    store.audit(f"user{n}", "sync", mode="sandbox")
                store.find_invoices(subscription_id="S1", limit=3)
        except Exception as exc:  # collected, so the assertion shows every failure
            errors.append(repr(exc))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert store.query("SELECT COUNT(*) AS n FROM invoices")["n"][0] == 8 * 15 * 5
    assert len(store.audit_rows(limit=1000)) == 8 * 15
    store.close()


def test_concurrent_claimers_never_get_the_same_item(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    job_id = store.create_job(
        "create_invoices",
        [JobItem("create_invoice", f"N{i}", {"amount": 100}) for i in range(300)],
        created_by="ayse",
        mode="sandbox",
    )
    claimed: list[int] = []
    lock = threading.Lock()

    def runner() -> None:
        while batch := store.claim_items(job_id, 7):
            for item in batch:
                store.finish_item(job_id, item["seq"], "done", provider_code=0)
            with lock:
                claimed.extend(item["seq"] for item in batch)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert sorted(claimed) == list(range(1, 301))
    progress = store.job_progress(job_id)
    assert (progress["done"], progress["pending"], progress["sending"]) == (300, 0, 0)
    assert set(store.job_items(job_id)["attempts"]) == {1}
    store.close()
