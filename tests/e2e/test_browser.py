"""The real app in Debian's chromium: every page, one invoice, a bulk status job, the charts.

The tests share one server (``app_server`` in conftest.py) and run in file order: the invoice
and the bulk job change the cache that the charts test then checks against SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta

import pytest
from conftest import choose_subscription, open_page, poll, screenshot, submit_text, wait_idle
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

PAGES = {  # url path -> page title (dashboard/services.py PAGES)
    "overview": ("", "Overview"),
    "issue": ("issue", "Issue invoices"),
    "bulk_status": ("bulk_status", "Bulk status updates"),
    "charts": ("charts", "Charts"),
    "lookup": ("lookup", "Lookup"),
    "jobs": ("jobs", "Jobs"),
}  # the demo operator's pages: audit log and settings need an admin login (test_login.py)
PROGRESS = re.compile(r"Job (\w+) · (\w+) · (\d+)/(\d+) items")


# -- helpers ---------------------------------------------------------------------------------


def progress(page: Page) -> tuple[str, str, int, int]:
    """(job id, state, finished, total) from the job progress bar's text."""
    text = page.get_by_test_id("stProgress").first.inner_text(timeout=10_000)
    match = PROGRESS.search(text)
    assert match, f"unexpected progress text {text!r}"
    job, state, finished, total = match.groups()
    return job, state, int(finished), int(total)


CHARTS = '[data-testid="stVegaLiteChart"]'
#: What a chart's mark says it draws (its ARIA label, paynet_core/reports/vega.py).
MARK = re.compile(
    r"^(?P<series>.+?)(?: · (?P<outcome>[^·]+?))?(?: · (?P<when>[^·]+))?: (?P<shown>.+)$"
)
NAMES = {"Paynet": "paynet", "Payofin": "payofin"} | {
    name: name.lower() for name in ("Paid", "Cancelled", "Failed", "Open")
}


def drawn_marks(page: Page, title: str) -> list[dict]:
    """The marks drawn in the Vega chart whose title contains ``title``, read from the SVG:
    each bar's or point's label parsed into series, outcome, period and shown value."""
    labels = page.wait_for_function(  # the chart has drawn (a chart here is never empty)
        """([charts, title]) => {
            const chart = Array.from(document.querySelectorAll(charts)).find(c =>
                Array.from(c.querySelectorAll('.role-title text'))
                    .some(t => t.textContent.includes(title)));
            const marks = chart ? chart.querySelectorAll('svg.marks g.role-mark path[aria-label]') : [];
            return marks.length ? Array.from(marks).map(m => m.getAttribute('aria-label')) : null;
        }""",
        arg=[CHARTS, title],
        timeout=30_000,
    ).json_value()
    marks = []
    for label in labels:
        found = MARK.match(label)
        assert found, f"unexpected mark label {label!r}"
        marks.append(found.groupdict())
    return marks


def shown_number(text: str) -> int:
    """``1.234`` → 1234; ``1.234,56 ₺`` → 123456 (kuruş)."""
    if text.endswith(" ₺"):
        lira, kurus = text.removesuffix(" ₺").split(",")
        return int(lira.replace(".", "")) * 100 + int(kurus)
    return int(text.replace(".", ""))


def istanbul_today() -> date:
    from paynet_core.dates import today

    return today()


# -- 1. every page -----------------------------------------------------------------------------


def test_every_page_loads(page: Page, app_server, screens):
    for name, (path, title) in PAGES.items():
        open_page(page, app_server, path, title)
        expect(page.get_by_test_id("stSidebar").get_by_text("SANDBOX", exact=True)).to_be_visible()
        if name == "overview":
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
        if name == "charts":
            expect(page.locator(f"{CHARTS} svg.marks").first).to_be_visible()
        screenshot(page, screens, name)
        assert (screens / f"{name}.png").stat().st_size > 10_000
    for path in ("audit", "settings"):  # not the demo operator's, even by URL
        page.goto(app_server.url(path))
        wait_idle(page)
        assert page.get_by_text("Append-only").count() == 0
        assert page.get_by_text("Payofin secret key").count() == 0


# -- 2. one invoice ---------------------------------------------------------------------------


def test_issue_one_invoice(page: Page, app_server, screens):
    with app_server.cache() as db:
        sub = db.execute(
            "SELECT reference_no, subscription_id FROM subscriptions ORDER BY reference_no LIMIT 1"
        ).fetchone()
        before = {r[0] for r in db.execute("SELECT invoice_no FROM invoices")}
    ref = sub["reference_no"]

    open_page(page, app_server, "issue", "Issue invoices")
    choose_subscription(page, sub)

    submit_text(page, "Amount (TL)", "1.234,56")
    expect(page.get_by_text("= 1.234,56 ₺")).to_be_visible()
    page.get_by_role("button", name="Review").click()
    wait_idle(page)
    body = page.get_by_test_id("stJson")
    expect(body).to_contain_text('"amount":"123456"')
    expect(body).to_contain_text(f'"reference_no":"{ref}"')
    invoice_no = re.search(r'"invoice_no":"([^"]+)"', body.inner_text().replace("\n", "")).group(1)
    screenshot(page, screens, "issue_review")

    page.get_by_role("button", name="Send to Paynet").click()
    wait_idle(page)
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text(f"Paynet accepted invoice {invoice_no} for 1.234,56 ₺")
    screenshot(page, screens, "issue_sent")

    with app_server.cache() as db:
        row = db.execute(
            "SELECT amount_kurus, status, reference_no, subscription_id FROM invoices WHERE invoice_no = ?",
            (invoice_no,),
        ).fetchone()
        after = {r[0] for r in db.execute("SELECT invoice_no FROM invoices")}
    assert row is not None, f"invoice {invoice_no} is not in the cache"
    assert dict(row) == {
        "amount_kurus": 123456,
        "status": 0,
        "reference_no": ref,
        "subscription_id": sub["subscription_id"],
    }
    assert after - before == {invoice_no}, "exactly one invoice was created"
    with app_server.sandbox() as sb:
        sent = sb.execute(
            "SELECT amount, status FROM invoices WHERE invoice_no = ?", (invoice_no,)
        ).fetchone()
    assert sent is not None and (sent["amount"], sent["status"]) == (123456, 0)


# -- 3. bulk status job: validation, progress, reload mid-job -----------------------------------


def _status_file(app_server) -> tuple[bytes, list[str], dict[int, str]]:
    """50 rows: 47 real invoices to cancel (Waiting or Done unsucceed: Cancel is allowed from
    both), and 3 bad rows, on lines 11, 26 and 41 of the file (line 1 is the header)."""
    with app_server.cache() as db:
        eligible = [
            r[0]
            for r in db.execute(
                "SELECT invoice_no FROM invoices WHERE status IN (0, 4) ORDER BY invoice_no"
            )
        ]
        settled = [
            r[0]
            for r in db.execute(
                "SELECT invoice_no FROM invoices WHERE status = 3 ORDER BY invoice_no LIMIT 2"
            )
        ]
    assert len(eligible) >= 47, f"the demo has only {len(eligible)} invoices that can be cancelled"
    good = iter(eligible[:47])
    bad = {11: f"{settled[0]},7", 26: ",5", 41: f"{settled[1]},Bogus"}
    lines = ["invoice_no,status"]
    for line in range(2, 52):
        lines.append(bad[line] if line in bad else f"{next(good)},5")
    return ("\n".join(lines) + "\n").encode(), eligible[:47], {11: settled[0], 41: settled[1]}


def test_bulk_status_job_survives_reload(page: Page, app_server, screens):
    data, targets, bad_invoices = _status_file(app_server)

    open_page(page, app_server, "bulk_status", "Bulk status updates")
    page.locator('input[type="file"]').first.set_input_files(
        files=[{"name": "statuses.csv", "mimeType": "text/csv", "buffer": data}]
    )
    wait_idle(page)
    expect(page.get_by_text("rows read from")).to_have_text(
        "50 rows read from statuses.csv: 47 valid, 3 invalid"
    )
    # The validation table shows only the invalid rows by default: exactly those three, with reasons.
    grid = page.get_by_test_id("stDataFrame").first.locator("table[role=grid] tbody tr")
    expect(grid).to_have_count(3)
    rejected = [grid.nth(i).locator("td").all_inner_texts() for i in range(3)]
    assert [r[:3] for r in rejected] == [
        ["11", bad_invoices[11], "7"],
        ["26", "", "5"],
        ["41", bad_invoices[41], "Bogus"],
    ]
    assert rejected[0][3].startswith("status: '7' is not an invoice status")
    assert rejected[1][3].startswith("invoice_no: is empty")
    assert rejected[2][3].startswith("status: 'Bogus' is not an invoice status")
    plan = (
        page.get_by_test_id("stVerticalBlock")
        .filter(has=page.get_by_role("heading", name="Plan"))
        .last
    )
    expect(plan).to_contain_text("50 rows read: 47 valid, 3 invalid (invalid rows are never sent)")
    expect(plan).to_contain_text("will change the status of 47 invoices")
    screenshot(page, screens, "bulk_validation")

    # Cancel is destructive: the job starts only after the count is typed.
    start = page.get_by_role("button", name="Start job")
    expect(start).to_be_disabled()
    submit_text(page, "to confirm", "47", exact=False)
    expect(start).to_be_enabled()
    start.click()
    page.wait_for_url(re.compile(r"[?&]job=\w+"))
    job_id = re.search(r"job=(\w+)", page.url).group(1)

    # Mid-job: running, some but not all items finished.
    def running_midway():
        job, state, finished, total = progress(page)
        return (
            (finished, total)
            if job == job_id and state == "running" and 0 < finished < total
            else None
        )

    finished_before, total = poll(running_midway, timeout=20, what="the job to be running midway")
    screenshot(page, screens, "bulk_job_running")

    page.reload()
    wait_idle(page)
    expect(page).to_have_url(re.compile(rf"[?&]job={job_id}"))
    job, state, finished_after_reload, total_after = progress(page)
    assert (job, total_after) == (job_id, total)
    assert state == "running" and finished_after_reload < total, (
        f"the job was no longer running after the reload ({state}, {finished_after_reload}/{total}); "
        "slow it down with a lower PAYNET_OPS_RATE_LIMIT in conftest.py"
    )
    assert finished_after_reload >= finished_before
    # Still progressing after the reload: the count keeps going up, to 100 %.
    poll(
        lambda: progress(page)[2] > finished_after_reload,
        timeout=20,
        what="progress after the reload",
    )
    poll(
        lambda: progress(page)[1:] == ("done", total, total),
        timeout=60,
        what=f"{total}/{total} done",
    )
    bar = page.get_by_test_id("stProgress").first.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    metrics = {
        label: page.get_by_test_id("stMetric")
        .filter(has_text=label)
        .first.get_by_test_id("stMetricValue")
        for label in ("done", "failed", "pending")
    }
    expect(metrics["done"]).to_have_text(str(total))
    expect(metrics["failed"]).to_have_text("0")
    expect(metrics["pending"]).to_have_text("0")
    wait_idle(page)
    screenshot(page, screens, "bulk_job_done")

    # Applied for real: the sandbox ("Paynet") and the cache agree; the rejected rows were never sent.
    marks = ",".join("?" * len(targets))
    with app_server.sandbox() as sb:
        in_paynet = dict(
            sb.execute(
                f"SELECT invoice_no, status FROM invoices WHERE invoice_no IN ({marks})", targets
            ).fetchall()
        )
        untouched = dict(
            sb.execute(
                "SELECT invoice_no, status FROM invoices WHERE invoice_no IN (?, ?)",
                list(bad_invoices.values()),
            ).fetchall()
        )
    with app_server.cache() as db:
        in_cache = dict(
            db.execute(
                f"SELECT invoice_no, status FROM invoices WHERE invoice_no IN ({marks})", targets
            ).fetchall()
        )
        items = db.execute(
            "SELECT state, COUNT(*) AS n FROM job_items WHERE job_id = ? GROUP BY state", (job_id,)
        ).fetchall()
        job_row = db.execute("SELECT state, total FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    assert in_paynet == dict.fromkeys(targets, 5)
    assert in_cache == dict.fromkeys(targets, 5)
    assert untouched == dict.fromkeys(bad_invoices.values(), 3)
    assert [tuple(r) for r in items] == [("done", total)]
    assert tuple(job_row) == ("done", total)


# -- 4. charts against the cache ----------------------------------------------------------------


def _weekly_totals(app_server, day_from: date, day_to: date, value: str) -> dict:
    """{(provider, outcome): {monday: value}} straight from the cache's daily_totals view."""
    out: dict = defaultdict(lambda: defaultdict(int))
    with app_server.cache() as db:
        rows = db.execute(
            f"SELECT day, provider, outcome, {value} FROM daily_totals WHERE day BETWEEN ? AND ?",
            (day_from.isoformat(), day_to.isoformat()),
        ).fetchall()
    for day, provider, outcome, v in rows:
        d = date.fromisoformat(day)
        out[(provider, outcome)][d - timedelta(days=d.weekday())] += v
    return {k: dict(v) for k, v in out.items()}


def _plotted(marks: list[dict]) -> dict:
    """{(provider, outcome): {monday: value}} from the main chart's bars."""
    out: dict = defaultdict(dict)
    for m in marks:
        monday = date(*reversed([int(p) for p in m["when"].removeprefix("week of ").split(".")]))
        key = (NAMES[m["series"]], NAMES[m["outcome"]])
        assert monday not in out[key], f"two bars for {key} in the week of {monday}"
        out[key][monday] = shown_number(m["shown"])
    return dict(out)


def test_charts_match_the_cache(page: Page, app_server, screens):
    day_to = istanbul_today()
    day_from = day_to - timedelta(days=90)
    window = {"from": day_from.isoformat(), "to": day_to.isoformat(), "grain": "week"}

    open_page(page, app_server, "charts", "Charts", **window, measure="count")
    expect(page.locator(CHARTS)).to_have_count(5)
    expect(page.locator(".js-plotly-plot")).to_have_count(0)
    counts = _plotted(drawn_marks(page, "Paid vs cancelled per week"))
    expected = _weekly_totals(app_server, day_from, day_to, "count")
    assert counts == expected
    assert sum(counts[("paynet", "cancelled")].values()) > 0
    screenshot(page, screens, "charts_count")

    # Payofin payments per institution: the bars add up to the payments in the window.
    by_inst = drawn_marks(page, "By institution")
    with app_server.cache() as db:
        per_outcome = dict(
            db.execute(
                "SELECT outcome, COUNT(*) FROM bill_payments WHERE paid_day BETWEEN ? AND ? GROUP BY outcome",
                (day_from.isoformat(), day_to.isoformat()),
            ).fetchall()
        )
    plotted_inst: dict = defaultdict(int)
    for m in by_inst:
        plotted_inst[NAMES[m["outcome"]]] += shown_number(m["shown"])
    assert dict(plotted_inst) == per_outcome
    for title in ("Cancellation rate", "By invoice type", "Fees"):
        assert drawn_marks(page, title), f"{title}: nothing drawn"

    open_page(page, app_server, "charts", "Charts", **window, measure="amount")
    expect(page.locator(CHARTS)).to_have_count(5)
    amounts = _plotted(drawn_marks(page, "Paid vs cancelled per week"))  # kuruş, as shown
    assert amounts == _weekly_totals(app_server, day_from, day_to, "amount_kurus")
    screenshot(page, screens, "charts_amount")
