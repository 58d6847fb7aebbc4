"""Lookup: one Paynet invoice (cache first, refresh from the API) or one Payofin payment."""

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core.i18n import _
from paynet_core.money import format_amount
from paynet_core.ops import lookup
from paynet_core.vocab import Outcome

user = services.require("view")
rt = services.runtime()
st.title(_("Lookup"))

paynet_tab, payofin_tab = st.tabs([_("Paynet invoice"), _("Payofin payment")])

with paynet_tab:
    by = st.radio(
        _("Find by"),
        ["invoice_no", "invoice_id"],
        format_func={c: ui.column_label(c) for c in ("invoice_no", "invoice_id")}.__getitem__,
        horizontal=True,
        key="lookup_by",
    )
    needle = st.text_input(
        _("Invoice number") if by == "invoice_no" else _("Paynet invoice id"), key="lookup_invoice"
    ).strip()
    if needle:
        with ui.errors_as_banner():
            key = {"invoice_no": needle} if by == "invoice_no" else {"invoice_id": needle}
            if st.button(_("Refresh from the API"), key="refresh_invoice"):
                lookup.refresh_invoice(rt, **key, user=user)
                st.toast(_("Refreshed from Paynet"))
            invoice = rt.store.get_invoice(**key)
            if invoice is None:
                st.warning(
                    _(
                        "No invoice with {field} {value} in the cache. Run a sync, or check the number.",
                        field=ui.column_label(by),
                        value=ui.literal(needle),
                    )
                )
            else:
                cols = st.columns(4)
                cols[0].metric(_("Status"), ui.status_name(invoice["status"]))
                cols[1].metric(_("Amount"), format_amount(int(invoice["amount_kurus"])))
                cols[2].metric(_("Charge date"), ui.day(invoice["val_day"]))
                cols[3].metric(_("Outcome"), ui.outcome_name(invoice["outcome"]))
                ui.table(ui.record_table(invoice), hide_index=True, width="stretch")
                st.subheader(_("Status history"))
                history = rt.store.invoice_history(invoice["invoice_no"])
                if history.empty:
                    st.caption(_("No status change recorded yet."))
                else:
                    ui.table(history, hide_index=True, width="stretch")

with payofin_tab:
    raw = st.text_input("invoicePaymentId", key="lookup_payment").strip()
    if raw:
        with ui.errors_as_banner():
            if not raw.isascii() or not raw.isdigit():
                st.error(_("invoicePaymentId is a whole number, like 1786."))
            else:
                refresh = st.button(_("Refresh from the API (InvoiceCheck)"), key="refresh_payment")
                payment = lookup.lookup_payment(rt, int(raw), refresh=refresh, user=user)
                cols = st.columns(4)
                status = str(payment["status"])  # Payofin's Paid/Cancelled, named in our words
                cols[0].metric(
                    _("Status"),
                    ui.outcome_name(
                        {"Paid": Outcome.PAID, "Cancelled": Outcome.CANCELLED}.get(status, status)
                    ),
                )
                cols[1].metric(_("Amount"), format_amount(int(payment["amount_kurus"])))
                cols[2].metric(_("Fee"), format_amount(int(payment["fee_kurus"])))
                cols[3].metric(_("Institution"), payment["institution"])
                ui.table(ui.record_table(payment), hide_index=True, width="stretch")
