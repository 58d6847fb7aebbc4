"""Two people at once: two browser sessions (two Playwright contexts) on the same running app.

Issue #6, "Adversarial suites → Concurrency". Each race prepares both pages up to the final
click, clicks in both sessions back to back, and then judges the outcome by what the sandbox
("Paynet") received and holds, and by what the app's cache journaled, not by the pages alone:

* bulk status updates: two overlapping files started at the same moment make exactly one job;
  the other session is refused, names the job it collides with, and nothing of its file is
  sent; every invoice of the job gets exactly one request. Started again once that job is
  done, the refused file runs, so nothing is lost.
* issuing invoices: two invoices for one subscription sent at once both land, once each; two
  sessions typing the same invoice number at once make one invoice, and the other is refused.

Runs after test_browser.py (file order, one shared server) and touches none of its invoices or
its subscription; test_zz_secrets.py still runs last over everything this leaves behind.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import choose_subscription, open_page, poll, screenshot, submit_text, wait_idle
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

DELETED = 6  # InvoiceStatus.DELETED: allowed from Waiting, Done unsucceed and Cancel
#: 16 invoices: session A's file has the first 12, session B's the last 12, so 8 are in both.
#: At RATE_LIMIT (5 requests/s) a 12-invoice job lasts a couple of seconds: the second click
#: always lands while the first job still has work pending.
N_INVOICES, PER_FILE, OVERLAP = 16, 12, 8


# -- helpers -----------------------------------------------------------------------------------


@contextmanager
def two_sessions(browser) -> Iterator[tuple[Page, Page]]:
    """Two independent users: separate browser contexts, so separate Streamlit sessions."""
    expect.set_options(timeout=20_000)
    contexts = [
        browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
        for _ in range(2)
    ]
    try:
        pages = [ctx.new_page() for ctx in contexts]
        for pg in pages:
            pg.set_default_timeout(20_000)
        yield pages[0], pages[1]
    finally:
        for ctx in contexts:
            ctx.close()


def request_counts(app) -> dict[str, int]:
    """Requests the sandbox received so far, per operation (its own counter)."""
    with app.sandbox() as sb:
        return dict(sb.execute("SELECT operation, count FROM request_counts").fetchall())


def sent_since(app, before: dict[str, int]) -> dict[str, int]:
    now = request_counts(app)
    return {op: n - before.get(op, 0) for op, n in now.items() if n != before.get(op, 0)}


def statuses(db, invoices: list[str]) -> dict[str, int]:
    marks = ",".join("?" * len(invoices))
    return dict(
        db.execute(
            f"SELECT invoice_no, status FROM invoices WHERE invoice_no IN ({marks})", invoices
        ).fetchall()
    )


def job_ids(app) -> set[str]:
    with app.cache() as db:
        return {r[0] for r in db.execute("SELECT job_id FROM jobs")}


def wait_job_done(app, job_id: str, timeout: float = 30) -> None:
    def state():
        with app.cache() as db:
            row = db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row["state"] if row and row["state"] in ("done", "failed", "cancelled") else None

    assert poll(state, timeout=timeout, what=f"job {job_id} to finish") == "done"


def settled(page: Page) -> str | None:
    """'started' once the page shows its job (URL ?job=), 'refused' once it shows an error."""
    if re.search(r"[?&]job=\w+", page.url):
        return "started"
    if page.get_by_test_id("stAlertContentError").count():
        return "refused"
    return None


# -- 1. two bulk status jobs over the same invoices, started at once --------------------------


def _untouched_invoices(app, n: int) -> list[str]:
    """``n`` invoices that may still be deleted (Waiting, Done unsucceed or Cancel) and that no
    job so far has touched (test_browser.py cancels 47 Waiting/Done unsucceed ones); at most one
    Waiting invoice per subscription, so no file can be folded into an
    ``invoices_status_update_all`` (only groups of two or more Waiting invoices are). The
    sandbox agrees with the cache on their statuses."""
    with app.cache() as db:
        rows = db.execute(
            """SELECT invoice_no, subscription_id, status FROM invoices
               WHERE status IN (0, 4, 5)
                 AND invoice_no NOT IN (SELECT target_key FROM job_items)
               ORDER BY invoice_no DESC"""
        ).fetchall()
    picked, waiting_subs = [], set()
    for no, sub, status in rows:
        if status == 0:
            if sub in waiting_subs:
                continue
            waiting_subs.add(sub)
        picked.append(no)
    assert len(picked) >= n, f"only {len(picked)} invoices fit: {picked}"
    picked = picked[:n]
    with app.sandbox() as sb, app.cache() as db:
        assert statuses(sb, picked) == statuses(db, picked), "the cache and the sandbox disagree"
    return picked


def _prepare_bulk(page: Page, app, name: str, invoices: list[str], status: str) -> None:
    """Open the bulk page, upload the file, type the count: everything short of 'Start job'."""
    data = ("invoice_no,status\n" + "".join(f"{no},{status}\n" for no in invoices)).encode()
    open_page(page, app, "bulk_status", "Bulk status updates")
    page.locator('input[type="file"]').first.set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )
    wait_idle(page)
    n = len(invoices)
    expect(page.get_by_text("rows read from")).to_have_text(
        f"{n} rows read from {name}: {n} valid, 0 invalid"
    )
    plan = (
        page.get_by_test_id("stVerticalBlock")
        .filter(has=page.get_by_role("heading", name="Plan"))
        .last
    )
    # One invoice_status_update per invoice: the request count below relies on it.
    expect(plan).to_contain_text(f"{n} calls to Paynet will change the status of {n} invoices")
    submit_text(page, "to confirm", str(n), exact=False)
    expect(page.get_by_role("button", name="Start job")).to_be_enabled()


def test_two_sessions_start_overlapping_bulk_jobs_at_once(browser, app_server, screens):
    app = app_server
    invoices = _untouched_invoices(app, N_INVOICES)
    files = {"a": invoices[:PER_FILE], "b": invoices[-PER_FILE:]}
    overlap = set(files["a"]) & set(files["b"])
    assert len(overlap) == OVERLAP
    with app.sandbox() as sb:
        original = statuses(sb, invoices)
    jobs_before = job_ids(app)
    with app.cache() as db:
        audit_before = db.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]

    with two_sessions(browser) as (page_a, page_b):
        pages = {"a": page_a, "b": page_b}
        _prepare_bulk(page_a, app, "statuses_a.csv", files["a"], "6")
        _prepare_bulk(page_b, app, "statuses_b.csv", files["b"], "Silindi")
        sent_before = request_counts(app)

        # The race: both clicks go out back to back, before either page has answered.
        start_a = page_a.get_by_role("button", name="Start job")
        start_b = page_b.get_by_role("button", name="Start job")
        t0 = time.monotonic()
        start_a.click()
        start_b.click()
        gap = time.monotonic() - t0
        outcome = {
            s: poll(lambda p=p: settled(p), timeout=20, what=f"session {s} to start or be refused")
            for s, p in pages.items()
        }
        for p in pages.values():
            wait_idle(p)
        screenshot(page_a, screens, "two_sessions_bulk_a")
        screenshot(page_b, screens, "two_sessions_bulk_b")

        # Exactly one job started; the other session was refused, on the page, in plain words.
        assert sorted(outcome.values()) == ["refused", "started"], outcome
        assert gap < 2, f"the two clicks were {gap:.2f} s apart: not a race"
        winner = next(s for s, o in outcome.items() if o == "started")
        loser = "b" if winner == "a" else "a"
        won, lost = pages[winner], pages[loser]
        job_id = re.search(r"job=(\w+)", won.url).group(1)
        assert "job=" not in lost.url
        for p in pages.values():
            expect(p.get_by_test_id("stException")).to_have_count(0)
        expect(lost.get_by_test_id("stProgress")).to_have_count(0)
        refusal = lost.get_by_test_id("stAlertContentError")
        expect(refusal).to_have_count(1)
        text = refusal.inner_text()
        assert re.search(rf"refused: job {job_id} \((pending|running), started by ", text), text
        assert "Two jobs may not touch the same invoices at once" in text, text
        named = {no for no in invoices if no in text}
        assert named and named <= overlap, f"the refusal names {named}, not only shared invoices"
        # Each invoice counted once (the first job may have sent a few of them already).
        held = int(re.search(r"with (\d+) of these invoices", text).group(1))
        assert 1 <= held <= len(overlap), text
        assert len(named) == min(held, 5), text
        assert (f"and {held - 5} more" in text) is (held > 5), text
        link = lost.get_by_role("link", name=f"Open job {job_id}")
        expect(link).to_have_attribute("href", re.compile(rf"jobs\?job={job_id}$"))
        # The refused session keeps its file and typed count: it can start again later.
        expect(lost.get_by_role("button", name="Start job")).to_be_enabled()

        # The cache journaled exactly one new job, for exactly the winner's invoices.
        assert job_ids(app) - jobs_before == {job_id}
        with app.cache() as db:
            job = db.execute(
                "SELECT kind, total, source_name FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            targets = [
                r[0]
                for r in db.execute(
                    "SELECT target_key FROM job_items WHERE job_id = ? ORDER BY seq", (job_id,)
                )
            ]
        assert tuple(job) == ("set_status", PER_FILE, f"statuses_{winner}.csv")
        assert targets == files[winner]

        wait_job_done(app, job_id)

        # Paynet got one request per invoice of the job, and none for the refused file alone.
        assert sent_since(app, sent_before) == {"invoice_status_update": PER_FILE}
        only_loser = [no for no in files[loser] if no not in overlap]
        with app.sandbox() as sb, app.cache() as db:
            assert statuses(sb, files[winner]) == dict.fromkeys(files[winner], DELETED)
            assert statuses(sb, only_loser) == {no: original[no] for no in only_loser}
            assert statuses(db, invoices) == statuses(sb, invoices)
            items = db.execute(
                "SELECT state, attempts, COUNT(*) FROM job_items WHERE job_id = ? "
                "GROUP BY state, attempts",
                (job_id,),
            ).fetchall()
            audit = db.execute(
                "SELECT action, job_id, target_ids FROM audit_log WHERE id > ? ORDER BY id",
                (audit_before,),
            ).fetchall()
        assert [tuple(r) for r in items] == [("done", 1, PER_FILE)]
        starts = [r for r in audit if r["action"] == "job.start"]
        assert [r["job_id"] for r in starts] == [job_id], "one job_start in the audit log"
        per_invoice = [r["target_ids"] for r in audit if r["action"] == "invoice_status_update"]
        assert sorted(per_invoice) == sorted(f'["{no}"]' for no in files[winner])

        # Nothing lost: once the first job is done, the refused session starts its file again.
        sent_before = request_counts(app)
        lost.get_by_role("button", name="Start job").click()
        lost.wait_for_url(re.compile(r"[?&]job=\w+"))
        second = re.search(r"job=(\w+)", lost.url).group(1)
        assert second != job_id
        assert job_ids(app) - jobs_before == {job_id, second}
        wait_job_done(app, second)
        wait_idle(lost)
        expect(lost.get_by_test_id("stException")).to_have_count(0)
        screenshot(lost, screens, f"two_sessions_bulk_{loser}_again")

    assert sent_since(app, sent_before) == {"invoice_status_update": PER_FILE}
    with app.sandbox() as sb, app.cache() as db:
        assert statuses(sb, invoices) == dict.fromkeys(invoices, DELETED)
        assert statuses(db, invoices) == dict.fromkeys(invoices, DELETED)
        again = {
            r["target_key"]: (r["state"], r["attempts"], r["status_before"])
            for r in db.execute(
                "SELECT target_key, state, attempts, status_before FROM job_items WHERE job_id = ?",
                (second,),
            )
        }
    # Each item of the second job was sent once. The shared invoices were Deleted already, so
    # for them it was a no-op at Paynet (status_before 6): the planner does not skip invoices
    # whose cached status is already the target.
    assert again == {
        no: ("done", 1, DELETED if no in overlap else original[no]) for no in files[loser]
    }


# -- 2. two sessions issue invoices at once ----------------------------------------------------


def _subscription(app) -> dict:
    """The last subscription by reference (test_browser.py issues on the first)."""
    with app.cache() as db:
        row = db.execute(
            "SELECT reference_no, subscription_id FROM subscriptions "
            "ORDER BY reference_no DESC LIMIT 1"
        ).fetchone()
    return dict(row)


def _prepare_issue(page: Page, app, sub: dict, amount: str, invoice_no: str = "") -> str:
    """Fill the form and review it, short of 'Send to Paynet'; returns the invoice number."""
    ref = sub["reference_no"]
    if page.get_by_role("button", name="Issue another").count():
        page.get_by_role("button", name="Issue another").click()
        wait_idle(page)
    else:
        open_page(page, app, "issue", "Issue invoices")
        choose_subscription(page, sub)
    submit_text(page, "Amount (TL)", amount)
    if invoice_no:
        submit_text(page, "Invoice number (blank: generated)", invoice_no)
    page.get_by_role("button", name="Review").click()
    wait_idle(page)
    body = page.get_by_test_id("stJson").inner_text().replace("\n", "")
    assert f'"reference_no":"{ref}"' in body, body
    found = re.search(r'"invoice_no":"([^"]+)"', body).group(1)
    assert not invoice_no or found == invoice_no
    return found


def _send_both(page_a: Page, page_b: Page) -> dict[str, str]:
    """Click 'Send to Paynet' in both sessions back to back; 'sent' or 'refused' for each."""
    send_a = page_a.get_by_role("button", name="Send to Paynet")
    send_b = page_b.get_by_role("button", name="Send to Paynet")
    expect(send_a).to_be_enabled()
    expect(send_b).to_be_enabled()
    t0 = time.monotonic()
    send_a.click()
    send_b.click()
    assert time.monotonic() - t0 < 2, "the two clicks were too far apart to race"

    def outcome(page: Page) -> str | None:
        if page.get_by_test_id("stAlertContentSuccess").count():
            return "sent"
        if page.get_by_test_id("stAlertContentError").count():
            return "refused"
        return None

    result = {}
    for name, page in (("a", page_a), ("b", page_b)):
        result[name] = poll(lambda p=page: outcome(p), timeout=20, what=f"session {name} to send")
        wait_idle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
    return result


def _invoices_named(db, invoice_no: str) -> list[tuple]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT invoice_no, amount, subscription_id FROM invoices WHERE invoice_no = ?",
            (invoice_no,),
        )
    ]


def test_two_sessions_issue_invoices_at_once(browser, app_server, screens):
    app = app_server
    sub = _subscription(app)
    with two_sessions(browser) as (page_a, page_b):
        # Different (generated) numbers, same subscription, same amount and day: both land once.
        no_a = _prepare_issue(page_a, app, sub, "77,70")
        no_b = _prepare_issue(page_b, app, sub, "77,70")
        assert no_a != no_b
        sent_before = request_counts(app)
        assert _send_both(page_a, page_b) == {"a": "sent", "b": "sent"}
        for page, no in ((page_a, no_a), (page_b, no_b)):
            expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
                f"Paynet accepted invoice {no} for 77,70 ₺"
            )
        assert sent_since(app, sent_before) == {"create_invoice": 2}
        with app.sandbox() as sb, app.cache() as db:
            for no in (no_a, no_b):
                assert _invoices_named(sb, no) == [(no, 7770, sub["subscription_id"])]
                cached = db.execute(
                    "SELECT amount_kurus, status, subscription_id FROM invoices WHERE invoice_no = ?",
                    (no,),
                ).fetchall()
                assert [tuple(r) for r in cached] == [(7770, 0, sub["subscription_id"])]

        # The same invoice number typed in both sessions (different amounts): one invoice, the
        # other session is refused by Paynet and says so; the cache holds what Paynet holds.
        same = f"E2E2S{secrets.token_hex(4).upper()}"
        amounts = {"a": ("11,11", 1111), "b": ("22,22", 2222)}
        _prepare_issue(page_a, app, sub, amounts["a"][0], same)
        _prepare_issue(page_b, app, sub, amounts["b"][0], same)
        sent_before = request_counts(app)
        with app.cache() as db:
            audit_before = db.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]
        outcome = _send_both(page_a, page_b)
        screenshot(page_a, screens, "two_sessions_issue_same_no_a")
        screenshot(page_b, screens, "two_sessions_issue_same_no_b")
        assert sorted(outcome.values()) == ["refused", "sent"], outcome
        winner = next(s for s, o in outcome.items() if o == "sent")
        won, lost = (page_a, page_b) if winner == "a" else (page_b, page_a)
        expect(won.get_by_test_id("stAlertContentSuccess")).to_contain_text(
            f"Paynet accepted invoice {same} for {amounts[winner][0]} ₺"
        )
        expect(won.get_by_test_id("stAlertContentSuccess")).not_to_contain_text("earlier attempt")
        refusal = lost.get_by_test_id("stAlertContentError")
        expect(refusal).to_contain_text("create_invoice")
        expect(refusal).to_contain_text(f"invoice_no {same} already exists")
        expect(lost.get_by_test_id("stAlertContentSuccess")).to_have_count(0)

    # Both requests reached Paynet; it made one invoice, the winner's, and the cache agrees.
    assert sent_since(app, sent_before) == {"create_invoice": 2}
    with app.sandbox() as sb, app.cache() as db:
        assert _invoices_named(sb, same) == [(same, amounts[winner][1], sub["subscription_id"])]
        cached = db.execute(
            "SELECT amount_kurus FROM invoices WHERE invoice_no = ?", (same,)
        ).fetchall()
        audit = db.execute(
            "SELECT action, target_ids, provider_code, status_after FROM audit_log "
            "WHERE id > ? AND action = 'invoice.create' ORDER BY id",
            (audit_before,),
        ).fetchall()
    assert [r[0] for r in cached] == [amounts[winner][1]]
    # Both attempts are in the audit log: one accepted (Waiting), one refused with code 5.
    assert sorted(
        (r["target_ids"], r["provider_code"], r["status_after"]) for r in audit
    ) == sorted([(f'["{same}"]', 0, 0), (f'["{same}"]', 5, None)])
