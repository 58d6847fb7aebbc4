"""Run the whole flow with known fake secrets, then look for them everywhere they could leak:
logs, the cache and sandbox databases (and their WAL files), job payloads, exports, error texts
and everything the pages render."""

import logging
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from paynet_core import importing
from paynet_core.auth import demo_user
from paynet_core.config import load_settings
from paynet_core.jobs import run_job_in_background, start_job
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.ops import issue, lookup
from paynet_core.ops.sync import sync_all
from paynet_core.paynet import InvoiceStatus
from paynet_core.reports.cells import to_csv_bytes, to_xlsx_bytes
from paynet_core.reports.exports import export_failed_rows
from paynet_core.runtime import open_runtime
from paynet_core.sandbox import open_sandbox, serve

PAYNET_KEY = "sck_FAKE_paynet_secret_9f3b7c1e2d"
PAYOFIN_API = "FAKE-payofin-api-0c4e9a7b"
PAYOFIN_SECRET = "FAKE-payofin-secret-51d2e8f6"
SECRETS = (PAYNET_KEY, PAYOFIN_API, PAYOFIN_SECRET)
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _found_in(blob: bytes | str) -> list[str]:
    data = blob.encode("utf-8", "replace") if isinstance(blob, str) else blob
    return [s for s in SECRETS if s.encode() in data]


def _rendered_text(at: AppTest) -> str:
    parts = []
    for kind in (
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
        "text",
        "json",
        "code",
        "title",
        "table",
    ):
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "value", "")))
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    for el in at.text_input:
        parts.append(str(el.value))
    return "\n".join(parts)


@pytest.fixture
def secret_env(monkeypatch):
    """Test mode with real-looking keys, sent over real HTTP to a sandbox served on loopback
    (sandbox mode ignores keys, so it would prove nothing)."""
    sandbox = open_sandbox(os.environ["PAYNET_OPS_SANDBOX_DB"])
    with serve(sandbox, port=0) as server:
        monkeypatch.setenv("PAYNET_OPS_MODE", "test")
        monkeypatch.setenv("PAYNET_BASE_URL", server.base_url)
        monkeypatch.setenv("PAYOFIN_BASE_URL", server.base_url)
        monkeypatch.setenv("PAYNET_SECRET_KEY", PAYNET_KEY)
        monkeypatch.setenv("PAYOFIN_API_KEY", PAYOFIN_API)
        monkeypatch.setenv("PAYOFIN_SECRET_KEY", PAYOFIN_SECRET)
        yield sandbox


def test_known_fake_secrets_appear_nowhere(secret_env, as_admin, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    rt = open_runtime(load_settings())
    assert rt.settings.paynet_secret_key.reveal() == PAYNET_KEY  # the flow really uses them
    sync_all(rt)
    sb = secret_env
    user = demo_user()
    outputs: list[bytes | str] = []

    # one invoice, one refused invoice (its error text), one status change
    sub = sb.subscriptions()[0]
    draft = issue.draft_invoice(
        amount=123456, val_date=datetime(2026, 12, 1, 10), reference_no=sub.reference_no
    )
    issue.issue_invoice(rt, draft, user=user)
    sb.faults.fail_next("create_invoice", "http_500")
    sb.faults.fail_next("invoice_list", ("result_code", 7))
    with pytest.raises(Exception) as exc:
        issue.issue_invoice(
            rt,
            issue.draft_invoice(
                amount=100, val_date=datetime(2026, 12, 2), reference_no=sub.reference_no
            ),
            user=user,
        )
    outputs += [str(exc.value), repr(exc.value), repr(rt.paynet()), repr(rt.settings)]
    issue.change_invoice_status(rt, draft.invoice_no, InvoiceStatus.CANCEL, user=user)
    pays = sb.payments(datetime(2026, 1, 1).date(), datetime(2027, 1, 1).date())
    lookup.lookup_payment(rt, pays[0].invoice_payment_id, refresh=True, user=user)

    # a bulk job with one bad row, run to the end
    waiting = [i.invoice_no for i in sb.invoices(status=InvoiceStatus.WAITING)][:3]
    csv = (
        "invoice_no;status\n" + "".join(f"{n};5\n" for n in waiting) + "NO-SUCH-INVOICE;5\n;Bogus\n"
    )
    result = importing.read_status_rows(csv.encode(), "statuses.csv")
    job_id = start_job(
        plan_status_changes(result, store=rt.store), runtime=rt, created_by=user.email
    )
    thread = run_job_in_background(job_id, rt)
    thread.join(timeout=60)
    assert rt.store.job(job_id)["state"] == "done"

    # exports people download
    job = rt.store.job(job_id)
    outputs += [
        export_failed_rows(rt.store, job),
        to_csv_bytes(rt.store.audit_rows()),
        to_xlsx_bytes(rt.store.audit_rows()),
        to_csv_bytes(rt.store.job_items(job_id)),
    ]

    # every page as rendered
    st.cache_resource.clear()
    st.cache_data.clear()
    # test mode without login: the pages a viewer has (the keyed action pages need login; their
    # forms hold no key, and the sandbox-mode page tests render them)
    for page in ("views/overview.py", "views/charts.py", "views/lookup.py", "views/jobs.py"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page(page)
        at.run()
        assert not at.exception, page
        outputs.append(_rendered_text(at))

    # the files on disk: cache and sandbox databases with their WAL, and any job log
    time.sleep(0)  # nothing to wait for: the job thread has been joined
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            outputs.append(path.read_bytes())
    outputs.append(caplog.text)

    leaks = [(i, found) for i, blob in enumerate(outputs) if (found := _found_in(blob))]
    assert leaks == []
    assert len(outputs) > 15
