"""Lookup: one Paynet invoice (cache first, refresh from the API) or one Payofin payment."""

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core.money import format_amount
from paynet_core.ops import lookup

user = services.require("view")
rt = services.runtime()
st.title("Lookup")

paynet_tab, payofin_tab = st.tabs(["Paynet invoice", "Payofin payment"])

with paynet_tab:
    by = st.radio("Find by", ["invoice_no", "invoice_id"], horizontal=True, key="lookup_by")
    needle = st.text_input("Invoice number" if by == "invoice_no" else "Paynet invoice id", key="lookup_invoice").strip()
    if needle:
        with ui.errors_as_banner():
            key = {"invoice_no": needle} if by == "invoice_no" else {"invoice_id": needle}
            if st.button("Refresh from the API", key="refresh_invoice"):
                lookup.refresh_invoice(rt, **key, user=user)
                st.toast("Refreshed from Paynet")
            invoice = rt.store.get_invoice(**key)
            if invoice is None:
                st.warning(f"No invoice with {by} {ui.literal(needle)} in the cache. Run a sync, or check the number.")
            else:
                cols = st.columns(4)
                cols[0].metric("Status", f"{invoice['status']} · {invoice['status_label']}")
                cols[1].metric("Amount", format_amount(int(invoice["amount_kurus"])))
                cols[2].metric("Charge date", ui.day(invoice["val_day"]))
                cols[3].metric("Outcome", invoice["outcome"])
                st.dataframe(ui.record_table(invoice), hide_index=True, width="stretch")
                st.subheader("Status history")
                history = rt.store.invoice_history(invoice["invoice_no"])
                if history.empty:
                    st.caption("No status change recorded yet.")
                else:
                    st.dataframe(history, hide_index=True, width="stretch")

with payofin_tab:
    raw = st.text_input("invoicePaymentId", key="lookup_payment").strip()
    if raw:
        with ui.errors_as_banner():
            if not raw.isascii() or not raw.isdigit():
                st.error("invoicePaymentId is a whole number, like 1786.")
            else:
                refresh = st.button("Refresh from the API (InvoiceCheck)", key="refresh_payment")
                payment = lookup.lookup_payment(rt, int(raw), refresh=refresh, user=user)
                cols = st.columns(4)
                cols[0].metric("Status", payment["status"])
                cols[1].metric("Amount", format_amount(int(payment["amount_kurus"])))
                cols[2].metric("Fee", format_amount(int(payment["fee_kurus"])))
                cols[3].metric("Institution", payment["institution"])
                st.dataframe(ui.record_table(payment), hide_index=True, width="stretch")
