"""ops/uploads (one upload workflow for the page and the CLI) and money.check_split."""

import pytest

from paynet_core.jobs import start_job
from paynet_core.jobs.planner import CREATE, SET_STATUS
from paynet_core.money import check_split
from paynet_core.ops import uploads
from paynet_core.store import Store

INVOICES = (
    "abonelik_no;fatura_no;tutar;tarih\r\nS1;F1;10,00;23.11.2026\r\nS1;F2;20,00;24.11.2026\r\n"
)
STATUSES = "fatura_no;durum\r\nF1;İptal\r\n"


@pytest.fixture
def store(cache_target):
    with Store.open(cache_target) as s:
        yield s


def test_check_split_names_the_field_at_fault():
    assert check_split(1000, 400, 600) == []
    assert check_split(1000, None, 1000) == []
    [problem] = check_split(2000, 500, 1499)
    assert (problem.field, problem.kurus) == ("agent_amount", 500)
    assert "must add up to the amount" in problem.message
    [problem] = check_split(2000, None, 2001)
    assert (problem.field, problem.kurus) == ("company_amount", 2001)
    assert "more than the amount" in problem.message


def test_an_upload_is_read_and_planned_by_its_kind(store):
    invoices = uploads.read_upload(INVOICES.encode(), "f.csv", "invoices")
    plan = uploads.plan_upload(invoices, store)
    assert [c.operation for c in plan.calls] == [CREATE, CREATE]
    assert not uploads.is_destructive(invoices)

    statuses = uploads.read_upload(STATUSES.encode(), "s.csv", "statuses")
    assert uploads.is_destructive(statuses)
    assert [c.operation for c in uploads.plan_upload(statuses, store).calls] == [SET_STATUS]


def test_which_jobs_may_resume_pause_or_cancel(store):
    plan = uploads.plan_upload(uploads.read_upload(INVOICES.encode(), "f.csv", "invoices"), store)
    job_id = start_job(plan, store=store, mode="sandbox", created_by="t@example.com")
    job = store.job(job_id)
    assert uploads.upload_kind(job) == "invoices"
    assert uploads.items_left(store, job_id) == 2
    assert uploads.may_resume(job) and uploads.may_pause(job) and uploads.may_cancel(job)
    for state in ("done", "cancelled", "failed"):
        finished = {**job, "state": state}
        assert not uploads.may_resume(finished)
        assert not uploads.may_pause(finished) and not uploads.may_cancel(finished)
    # A running job whose runner is gone (none ever started here) may be resumed.
    assert uploads.may_resume({**job, "state": "running"})
    assert uploads.upload_kind({"kind": "set_status"}) == "statuses"
