"""Bulk status updates → From the cache: filter, select rows, plan, typed confirmation, job."""

from __future__ import annotations

from apptest_helpers import all_text, assert_clean, open_page, texts, wait_job_finished

from paynet_core.paynet import InvoiceStatus

PAGE = "views/bulk_status.py"


def _select(at, rows: list[int]):
    at.session_state["bs_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_select_rows_confirm_count_and_cancel_exactly_those(app, sb, store):
    at = open_page(app, PAGE)
    assert_clean(at)
    view = at.dataframe(key="bs_table").value
    assert len(view) >= 4
    assert set(view["status"]) == {0}, "default filter is Waiting"
    before = {no: sb.get_invoice(no).status for no in view["invoice_no"]}

    assert "bs_sel_start" not in [b.key for b in at.button]
    _select(at, [0, 2])
    assert not at.exception
    chosen = [view.iloc[0]["invoice_no"], view.iloc[2]["invoice_no"]]
    total = int(view.iloc[[0, 2]]["amount_kurus"].sum())
    assert any(m.startswith("**2 invoices selected**") for m in texts(at.markdown))
    assert "2 calls to Paynet will change the status of 2 invoices" in all_text(at)
    assert at.selectbox(key="bs_target").value is InvoiceStatus.CANCEL

    # Cancel is destructive: Start stays disabled until the count is typed exactly.
    assert at.button(key="bs_sel_start").disabled
    at.text_input(key="bs_sel_typed").input("3").run()
    assert at.button(key="bs_sel_start").disabled
    at.text_input(key="bs_sel_typed").input("2").run()
    assert not at.button(key="bs_sel_start").disabled

    at.button(key="bs_sel_start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    job_id = at.query_params["job"]
    job = store.job(job_id)
    assert job["source_name"] == "selection from the cache"
    progress = wait_job_finished(store, job_id)
    assert progress == {**progress, "total": 2, "done": 2, "failed": 0}

    after = {no: sb.get_invoice(no).status for no in view["invoice_no"]}
    changed = sorted(no for no in after if after[no] != before[no])
    assert changed == sorted(chosen)
    assert all(after[no] is InvoiceStatus.CANCEL for no in chosen)
    items = store.job_items(job_id)
    assert sorted(items["target_key"]) == sorted(chosen)
    assert total > 0


def test_non_destructive_target_needs_no_typed_count(app, sb, store):
    at = open_page(app, PAGE)
    view = at.dataframe(key="bs_table").value
    _select(at, [1])
    at.selectbox(key="bs_target").set_value(InvoiceStatus.DONE_SUCCEED).run()
    assert not at.exception
    assert "bs_sel_typed" not in [t.key for t in at.text_input]
    assert not at.button(key="bs_sel_start").disabled
    at.button(key="bs_sel_start").click().run()
    job_id = at.query_params["job"]
    wait_job_finished(store, job_id)
    no = view.iloc[1]["invoice_no"]
    assert sb.get_invoice(no).status is InvoiceStatus.DONE_SUCCEED


def test_selection_maps_to_invoice_numbers_of_the_filtered_view(app, store):
    at = open_page(app, PAGE)
    full = at.dataframe(key="bs_table").value
    sub = full.iloc[-1]["subscription_id"]
    at.text_input(key="bs_sub").input(sub).run()
    view = at.dataframe(key="bs_table").value
    assert set(view["subscription_id"]) == {sub}
    assert len(view) < len(full)
    _select(at, [0])
    assert not at.exception
    assert "1 calls to Paynet will change the status of 1 invoices" in all_text(at) or any(
        m.startswith("**1 invoices selected**") for m in texts(at.markdown)
    )
    expected = view.iloc[0]["amount_kurus"]
    from paynet_core.money import format_amount

    assert any(format_amount(int(expected)) in m for m in texts(at.markdown) if "selected" in m)


def test_amount_filter_and_bad_amount_banner(app):
    at = open_page(app, PAGE)
    at.text_input(key="bs_min").input("1.000,00").run()
    view = at.dataframe(key="bs_table").value
    assert (view["amount_kurus"] >= 100_000).all()
    at.text_input(key="bs_min").input("abc").run()
    assert not at.exception
    assert at.error, "a bad amount filter must show an error banner"


def test_a_job_on_invoices_another_job_holds_is_refused_with_a_link_to_it(app, sb, store):
    from paynet_core.jobs import start_job
    from paynet_core.jobs.planner import plan_status_changes

    at = open_page(app, PAGE)
    view = at.dataframe(key="bs_table").value
    held = view.iloc[0]["invoice_no"]
    other = start_job(  # someone else's job, not started yet: it still holds the invoice
        plan_status_changes([(held, InvoiceStatus.DONE_SUCCEED)], store=store),
        store=store,
        mode="sandbox",
        created_by="someone@example.com",
    )
    _select(at, [0])
    at.selectbox(key="bs_target").set_value(InvoiceStatus.DONE_SUCCEED).run()
    at.button(key="bs_sel_start").click().run()
    assert not at.exception
    [banner] = texts(at.error)
    assert f"refused: job {other}" in banner and "with 1 of these invoices" in banner
    assert "someone@example.com" in banner
    [link] = at.get("page_link")
    assert link.proto.label == f"Open job {other}" and link.proto.page == "jobs"
    assert link.proto.query_string == f"job={other}"
    assert "job" not in at.query_params  # nothing started
    assert len(store.jobs()) == 1 and sb.get_invoice(held).status is InvoiceStatus.WAITING
