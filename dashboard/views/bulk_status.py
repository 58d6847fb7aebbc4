"""Bulk status updates: from a file, or by selecting invoices from the cache; run as a job."""

from datetime import timedelta

import streamlit as st

from dashboard import batch, services
from dashboard import components as ui
from paynet_core.dates import today
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.money import format_amount, parse_amount
from paynet_core.paynet import InvoiceStatus

user = services.require("change_status")
rt = services.runtime()
st.title("Bulk status updates")

file_tab, cache_tab = st.tabs(["From a file", "From the cache"])

with file_tab:
    st.caption("Columns: `invoice_no` (or `invoice_id`) and `status` (code or label, English or Turkish: 5, Cancel, İptal).")
    batch.batch_upload(rt, user, kind="statuses")

with cache_tab:
    c1, c2, c3 = st.columns(3)
    statuses = c1.multiselect(
        "Current status", list(InvoiceStatus), default=[InvoiceStatus.WAITING],
        format_func=lambda s: f"{s.value} · {s.label}", key="bs_status",
    )
    day_from = c2.date_input("Charge date from", value=today() - timedelta(days=60), format="DD.MM.YYYY", key="bs_from")
    day_to = c3.date_input("Charge date to", value=today() + timedelta(days=60), format="DD.MM.YYYY", key="bs_to")
    c4, c5, c6 = st.columns(3)
    subscription = c4.text_input("Subscription id", key="bs_sub").strip() or None
    min_raw = c5.text_input("Min amount (TL)", key="bs_min")
    max_raw = c6.text_input("Max amount (TL)", key="bs_max")
    with ui.errors_as_banner():
        min_amount = parse_amount(min_raw, field="min amount") if min_raw.strip() else None
        max_amount = parse_amount(max_raw, field="max amount") if max_raw.strip() else None
        found = services.cached_invoices(
            status=statuses or None, day_from=day_from, day_to=day_to, subscription_id=subscription,
            min_amount=min_amount, max_amount=max_amount, limit=5_000,
        )
        view = found[["invoice_no", "invoice_id", "subscription_id", "reference_no", "amount_kurus", "val_day", "status", "status_label"]].copy()
        view.insert(5, "amount", view["amount_kurus"].map(lambda k: format_amount(int(k))))
        st.caption(f"{len(view)} invoices match. Select rows (click the left edge; the header box selects all).")
        event = st.dataframe(
            view, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key=batch.fresh_key("bs_table", "bs_sel"),
        )
        # Selections are positions in this view: map them back to invoice numbers before acting.
        chosen = view.iloc[event.selection.rows]["invoice_no"].tolist() if event.selection.rows else []
        target = batch.status_choice("bs_target")
        if chosen:
            plan = plan_status_changes([(no, target) for no in chosen], store=rt.store, source_name="selection from the cache")
            st.markdown(f"**{len(chosen)} invoices selected**, {format_amount(int(view.iloc[event.selection.rows]['amount_kurus'].sum()))} in total.")
            batch.confirm_and_start(rt, user, plan, key="bs_sel", destructive=target.is_destructive)
        else:
            st.info("Select invoices in the table to preview the change.")

batch.show_job(rt, user)
