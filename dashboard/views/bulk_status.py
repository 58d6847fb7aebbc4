"""Bulk status updates: from a file, or by selecting invoices from the cache; run as a job."""

from datetime import timedelta

import streamlit as st

from dashboard import batch, services
from dashboard import components as ui
from paynet_core.dates import today
from paynet_core.i18n import _
from paynet_core.i18n.formats import format_count
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.money import format_amount, parse_amount
from paynet_core.paynet import InvoiceStatus

user = services.require("change_status")
rt = services.runtime()
st.title(_("Bulk status updates"))

file_tab, cache_tab = st.tabs([_("From a file"), _("From the cache")])

with file_tab:
    st.caption(
        _(
            "Columns: `invoice_no` (or `invoice_id`) and `status` (code or label, English or Turkish: 5, Cancel, İptal)."
        )
    )
    batch.batch_upload(rt, user, kind="statuses")

with cache_tab:
    c1, c2, c3 = st.columns(3)
    statuses = c1.multiselect(
        _("Current status"),
        list(InvoiceStatus),
        default=[InvoiceStatus.WAITING],
        format_func=ui.status_labels().__getitem__,
        key="bs_status",
        placeholder=_("Choose options"),
    )
    day_from = c2.date_input(
        _("Charge date from"),
        value=today() - timedelta(days=60),
        format="DD.MM.YYYY",
        key="bs_from",
    )
    day_to = c3.date_input(
        _("Charge date to"), value=today() + timedelta(days=60), format="DD.MM.YYYY", key="bs_to"
    )
    c4, c5, c6 = st.columns(3)
    subscription = c4.text_input(_("Subscription id"), key="bs_sub").strip() or None
    min_raw = c5.text_input(_("Min amount (TL)"), key="bs_min")
    max_raw = c6.text_input(_("Max amount (TL)"), key="bs_max")
    with ui.errors_as_banner():
        min_amount = parse_amount(min_raw, field=_("min amount")) if min_raw.strip() else None
        max_amount = parse_amount(max_raw, field=_("max amount")) if max_raw.strip() else None
        found = services.cached_invoices(
            status=statuses or None,
            day_from=day_from,
            day_to=day_to,
            subscription_id=subscription,
            min_amount=min_amount,
            max_amount=max_amount,
            limit=5_000,
        )
        view = found[
            [
                "invoice_no",
                "invoice_id",
                "subscription_id",
                "reference_no",
                "amount_kurus",
                "val_day",
                "status",
                "status_label",
            ]
        ].copy()
        view.insert(5, "amount", view["amount_kurus"].map(lambda k: format_amount(int(k))))
        st.caption(
            _(
                "{n} invoices match. Select rows (click the left edge; the header box selects all).",
                n=format_count(len(view)),
            )
        )
        event = ui.table(
            view,
            hide_index=True,
            width="stretch",
            on_select="rerun",
            selection_mode="multi-row",
            key=batch.fresh_key("bs_table", "bs_sel"),
        )
        # Selections are positions in this view: map them back to invoice numbers before acting.
        chosen = (
            view.iloc[event.selection.rows]["invoice_no"].tolist() if event.selection.rows else []
        )
        target = batch.status_choice("bs_target")
        if chosen:
            plan = plan_status_changes(
                [(no, target) for no in chosen],
                store=rt.store,
                source_name=_("selection from the cache"),
            )
            total = format_amount(int(view.iloc[event.selection.rows]["amount_kurus"].sum()))
            st.markdown(
                _(
                    "**{n} invoices selected**, {total} in total.",
                    n=format_count(len(chosen)),
                    total=total,
                )
            )
            batch.confirm_and_start(rt, user, plan, key="bs_sel", destructive=target.is_destructive)
        else:
            st.info(_("Select invoices in the table to preview the change."))

batch.show_job(rt, user)
