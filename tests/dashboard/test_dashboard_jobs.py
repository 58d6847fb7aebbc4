"""Jobs page: lists jobs, pause / resume / cancel change the job's state."""

from __future__ import annotations

from apptest_helpers import assert_clean, open_page, texts, wait_job_finished

from paynet_core.paynet import InvoiceStatus

PAGE = "views/jobs.py"


def _pending_job(store, invoice_nos, target=InvoiceStatus.DONE_SUCCEED) -> str:
    """A journaled job that nobody runs yet (state 'pending')."""
    from dashboard import services
    from paynet_core.jobs import confirmation_phrase, start_job
    from paynet_core.jobs.planner import plan_status_changes

    plan = plan_status_changes(
        [(no, target) for no in invoice_nos], store=store, source_name="test plan"
    )
    return start_job(
        plan,
        runtime=services.runtime(),
        created_by="tester@example.com",
        confirmation=confirmation_phrase(plan),
    )


def test_no_jobs_yet(app):
    at = open_page(app, PAGE)
    assert_clean(at)
    assert any("No bulk job yet" in i for i in texts(at.info))


def test_lists_job_then_pause_and_resume_runs_it(app, sb, store):
    nos = store.find_invoices(status=[0], limit=3)["invoice_no"].tolist()
    job_id = _pending_job(store, nos)
    at = open_page(app, PAGE)
    assert_clean(at)
    listed = at.dataframe[0].value
    row = listed[listed["job_id"] == job_id].iloc[0]
    assert (
        row["state"] == "pending"
        and row["total"] == 3
        and row["created_by"] == "tester@example.com"
    )
    assert at.selectbox(key="jobs_pick").value == job_id
    assert {"jobs_resume", "jobs_pause", "jobs_cancel"} <= set(b.key for b in at.button)
    assert all(sb.get_invoice(no).status is InvoiceStatus.WAITING for no in nos)

    at.button(key="jobs_pause").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert store.job(job_id)["state"] == "paused"
    assert "jobs_pause" not in [b.key for b in at.button]
    assert all(sb.get_invoice(no).status is InvoiceStatus.WAITING for no in nos)

    at.button(key="jobs_resume").click().run()
    assert not at.exception and not at.error, texts(at.error)
    progress = wait_job_finished(store, job_id)
    assert progress["done"] == 3
    assert store.job(job_id)["state"] == "done"
    assert all(sb.get_invoice(no).status is InvoiceStatus.DONE_SUCCEED for no in nos)
    at.run()
    assert_clean(at)
    assert not ({"jobs_resume", "jobs_pause", "jobs_cancel"} & set(b.key for b in at.button))


def test_cancel_skips_every_item(app, sb, store):
    nos = store.find_invoices(status=[0], limit=2)["invoice_no"].tolist()
    job_id = _pending_job(store, nos)
    at = open_page(app, PAGE)
    at.button(key="jobs_cancel").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert store.job(job_id)["state"] == "cancelled"
    assert store.job_progress(job_id)["skipped"] == 2
    assert all(sb.get_invoice(no).status is InvoiceStatus.WAITING for no in nos)


def test_query_param_picks_the_job(app, store):
    nos = store.find_invoices(status=[0], limit=2)["invoice_no"].tolist()
    first = _pending_job(store, nos[:1])
    _pending_job(store, nos[1:])
    app.query_params["job"] = first
    at = open_page(app, PAGE)
    assert_clean(at)
    assert at.selectbox(key="jobs_pick").value == first
    assert any(first in p.text for p in at.get("progress")) if at.get("progress") else True


def test_the_list_reads_every_job_s_progress_in_one_query(app, sb, store, monkeypatch):
    from paynet_core.store import Store

    nos = store.find_invoices(status=[0], limit=4)["invoice_no"].tolist()
    ids = [_pending_job(store, nos[:2]), _pending_job(store, nos[2:])]
    batched: list[list[str]] = []
    real = Store.jobs_progress

    def counting(self, job_ids):
        batched.append(list(job_ids))
        return real(self, job_ids)

    one_by_one: list[str] = []
    real_one = Store.job_progress

    def per_job(self, job_id):
        one_by_one.append(job_id)
        return real_one(self, job_id)

    monkeypatch.setattr(Store, "jobs_progress", counting)
    monkeypatch.setattr(Store, "job_progress", per_job)
    at = open_page(app, PAGE)
    assert_clean(at)
    assert len(batched) == 1 and set(ids) <= set(batched[0])
    # job by job only for the one job whose details are shown below the list
    assert set(one_by_one) <= {at.selectbox(key="jobs_pick").value}
    listed = at.dataframe[0].value.set_index("job_id")
    assert listed.loc[ids, "total"].tolist() == [2, 2]
    assert listed.loc[ids, "done"].tolist() == [0, 0]
