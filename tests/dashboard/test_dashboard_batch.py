"""Batch uploads (Issue invoices → Batch upload, Bulk status updates → From a file):
good files, files with bad rows, unusable files, the plan, the job and its results."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from apptest_helpers import all_text, assert_clean, open_page, texts, wait_job_finished

from paynet_core.dates import today
from paynet_core.paynet import InvoiceStatus


def _typed_phrase(at, key: str) -> str:
    label = at.text_input(key=key).label
    return re.search(r"\*\*(\d+)\*\*", label).group(1)


def _start(at, kind: str) -> str:
    key = f"batch_{kind}"
    if f"{key}_typed" in [t.key for t in at.text_input]:
        assert at.button(key=f"{key}_start").disabled, (
            "destructive job must wait for the typed count"
        )
        at.text_input(key=f"{key}_typed").input(_typed_phrase(at, f"{key}_typed")).run()
    assert not at.button(key=f"{key}_start").disabled
    at.button(key=f"{key}_start").click().run()
    assert not at.exception
    assert not at.error, texts(at.error)
    return at.query_params["job"]


# -- invoices ------------------------------------------------------------------------------------


def _invoice_csv(sb, good: int, bad_rows: list[str]) -> tuple[bytes, list[tuple[str, int]]]:
    day = (today() + timedelta(days=3)).strftime("%d.%m.%Y")
    subs = sb.subscriptions()[:good]
    lines = ["Referans No;Fatura No;Tutar (TL);Çekim Tarihi"]
    expected = []
    for i, s in enumerate(subs):
        no = f"T-BATCH-{os.getpid()}-{i}"
        kurus = 10_000 + i * 101
        lines.append(f"{s.reference_no};{no};{kurus // 100},{kurus % 100:02d};{day} 10:00:00")
        expected.append((no, kurus))
    lines += bad_rows
    return ("\n".join(lines) + "\n").encode("utf-8"), expected


def test_invoice_batch_good_and_bad_rows_then_job(app, sb, store):
    at = open_page(app, "views/issue.py")
    assert at.download_button(key="batch_invoices_tcsv") and at.download_button(
        key="batch_invoices_txlsx"
    )
    data, expected = _invoice_csv(
        sb, 3, ["90001409;T-BAD-1;abc;01.01.2027", "90001409;T-BAD-2;10,00;99.99.2027"]
    )
    at.file_uploader(key="batch_invoices_file").upload("invoices.csv", data, "text/csv").run()
    assert not at.exception
    text = all_text(at)
    assert "**5 rows** read from invoices.csv: :green[3 valid], :red[2 invalid]" in text
    table = at.dataframe[0].value  # the validation table, invalid rows only by default
    assert sorted(table["invoice_no"]) == ["T-BAD-1", "T-BAD-2"]
    assert table["errors"].str.len().min() > 0
    assert any("3 valid, 2 invalid" in m for m in texts(at.markdown)), "plan missing"

    before = sb.request_counts.get("create_invoice", 0)
    job_id = _start(at, "invoices")
    progress = wait_job_finished(store, job_id)
    assert progress["done"] == 3 and progress["failed"] == 0
    at.run()
    assert_clean(at)
    assert at.query_params["job"] == job_id
    results = at.dataframe[-1].value
    assert sorted(results["target_key"]) == sorted(no for no, _ in expected)
    assert set(results["state"]) == {"done"}
    assert sb.request_counts.get("create_invoice", 0) == before + 3
    for no, kurus in expected:
        assert sb.get_invoice(no).amount == kurus
    assert sb.get_invoice("T-BAD-1") is None and sb.get_invoice("T-BAD-2") is None


def test_invoice_batch_xlsx_template_is_readable(app, media):
    from apptest_helpers import download_bytes

    at = open_page(app, "views/issue.py")
    xlsx = download_bytes(at, "batch_invoices_txlsx")
    assert xlsx[:2] == b"PK"
    at.file_uploader(key="batch_invoices_file").upload("template.xlsx", xlsx).run()
    assert not at.exception
    assert "**2 rows** read from template.xlsx" in all_text(at)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.xlsx", bytes(range(256)) * 8),
        ("empty.csv", b""),
        ("binary.csv", b"\x00\x01\x02\xff\xfe" * 100),
        ("no_columns.csv", b"foo;bar\n1;2\n"),
    ],
)
@pytest.mark.parametrize(
    "page,kind", [("views/issue.py", "invoices"), ("views/bulk_status.py", "statuses")]
)
def test_unusable_file_gives_a_clear_error(app, sb, page, kind, name, content):
    at = open_page(app, page)
    before = dict(sb.request_counts)
    at.file_uploader(key=f"batch_{kind}_file").upload(name, content).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = texts(at.error)
    assert errors, f"{name}: no error shown"
    assert any(name in e or "No valid row" in e for e in errors), errors
    assert "Traceback" not in all_text(at)
    assert f"batch_{kind}_start" not in [b.key for b in at.button]
    assert dict(sb.request_counts) == before


# -- statuses ------------------------------------------------------------------------------------


def test_status_file_bad_rows_shown_then_cancel_job(app, sb, store):
    at = open_page(app, "views/bulk_status.py")
    waiting = store.find_invoices(status=[0], limit=3)["invoice_no"].tolist()
    assert len(waiting) == 3
    csv = (
        "Fatura No;Hedef Durum\n" + "".join(f"{n};İptal\n" for n in waiting) + "X-1;banana\nX-2;\n"
    )
    at.file_uploader(key="batch_statuses_file").upload(
        "statuses.csv", csv.encode(), "text/csv"
    ).run()
    assert not at.exception
    text = all_text(at)
    assert ":green[3 valid], :red[2 invalid]" in text
    table = at.dataframe[0].value
    assert sorted(table["invoice_no"]) == ["X-1", "X-2"]
    assert "3 calls to Paynet will change the status of 3 invoices" in text

    assert _typed_phrase(at, "batch_statuses_typed") == "3"
    job_id = _start(at, "statuses")
    # a started plan cannot be started again: the file and the typed count are gone
    assert "batch_statuses_typed" not in [t.key for t in at.text_input]
    assert not [b for b in at.button if b.key == "batch_statuses_start"]
    progress = wait_job_finished(store, job_id)
    assert progress["done"] == 3 and progress["failed"] == 0
    at.run()
    assert_clean(at)
    for no in waiting:
        assert sb.get_invoice(no).status is InvoiceStatus.CANCEL
        assert int(store.get_invoice(invoice_no=no)["status"]) == 5


def test_status_job_with_a_failed_item_offers_the_failed_rows(app, sb, store, media):
    from apptest_helpers import download_bytes

    waiting = store.find_invoices(status=[0], limit=2)["invoice_no"].tolist()
    at = open_page(app, "views/bulk_status.py")
    csv = "Fatura No;Hedef Durum\n" + "".join(f"{n};5\n" for n in waiting) + "NOT-IN-PAYNET-1;5\n"
    at.file_uploader(key="batch_statuses_file").upload("s.csv", csv.encode(), "text/csv").run()
    job_id = _start(at, "statuses")
    progress = wait_job_finished(store, job_id)
    assert progress["done"] == 2 and progress["failed"] == 1
    # The jobs page renders the job once: the failed rows download holds exactly the failed invoice.
    at.query_params["job"] = job_id
    at = open_page(at, "views/jobs.py")
    assert not at.exception
    failed_csv = download_bytes(at, f"failed_{job_id}").decode("utf-8-sig")
    assert "NOT-IN-PAYNET-1" in failed_csv
    assert not any(n in failed_csv for n in waiting)


def test_bulk_status_page_shows_a_finished_job_with_failures_once(app, sb, store, media):
    # Regression: the job panel used to render in both tabs → StreamlitDuplicateElementKey banner.
    from apptest_helpers import download_bytes

    at = open_page(app, "views/bulk_status.py")
    csv = "Fatura No;Hedef Durum\nNOT-IN-PAYNET-2;5\n"
    at.file_uploader(key="batch_statuses_file").upload("s.csv", csv.encode(), "text/csv").run()
    job_id = _start(at, "statuses")
    assert wait_job_finished(store, job_id)["failed"] == 1
    at.run()
    assert not at.exception
    assert not at.error, texts(at.error)
    assert [b.key for b in at.download_button].count(f"failed_{job_id}") == 1
    assert [b.key for b in at.button].count(f"retry_{job_id}") == 1
    assert "NOT-IN-PAYNET-2" in download_bytes(at, f"failed_{job_id}").decode("utf-8-sig")
