"""Issue invoices: one by form (review, then send), or a batch from a CSV/XLSX file as a job."""

from datetime import datetime, time, timedelta

import streamlit as st

from dashboard import batch, services
from dashboard import components as ui
from paynet_core.dates import format_display_datetime, today
from paynet_core.errors import InputError
from paynet_core.money import check_split, format_amount
from paynet_core.ops import issue

user = services.require("issue_invoice")
rt = services.runtime()
st.title("Issue invoices")

one_tab, batch_tab = st.tabs(["One invoice", "Batch upload"])

with one_tab:
    query = st.text_input(
        "Find the subscription", key="issue_sub_query", placeholder="reference no, subscription id or name"
    )
    matches = rt.store.search_subscriptions(query, limit=20) if query.strip() else None
    subscription = None
    if matches is not None:
        if matches.empty:
            st.warning("No subscription in the cache matches. Check the number, or run a sync.")
        else:
            options = matches.to_dict("records")
            subscription = st.selectbox(
                "Subscription",
                options,
                format_func=lambda s: f"{s['reference_no']} · {s['name_surname'] or '—'} · {s['subscription_id']}",
                key="issue_subscription",
            )

    amount = ui.money_input("Amount (TL)", key="issue_amount")
    c1, c2 = st.columns(2)
    charge_day = c1.date_input("Charge date", value=today() + timedelta(days=1), format="DD.MM.YYYY", key="issue_day")
    charge_time = c2.time_input("Charge time", value=time(10, 0), key="issue_time", step=timedelta(minutes=15))
    with st.expander("Agent / company split (optional)"):
        agent_amount = ui.money_input("Agent amount (TL)", key="issue_agent", required=False)
        company_amount = ui.money_input("Company amount (TL)", key="issue_company", required=False)
        if amount is not None and (agent_amount is not None or company_amount is not None):
            problems = check_split(amount, agent_amount, company_amount)
            for problem in problems:
                st.error(ui.literal(problem.message))
            if not problems:
                st.success(f"Split checks out against {format_amount(amount)}.")
    invoice_no = st.text_input("Invoice number (blank: generated)", key="issue_invoice_no", max_chars=64)

    if st.button("Review", type="primary", key="issue_review"):
        try:
            st.session_state["issue_draft"] = issue.draft_invoice(
                amount=amount,
                val_date=datetime.combine(charge_day, charge_time) if charge_day else None,
                subscription_id=subscription["subscription_id"] if subscription else None,
                reference_no=subscription["reference_no"] if subscription else None,
                invoice_no=invoice_no,
                agent_amount=agent_amount,
                company_amount=company_amount,
            )
            st.session_state.pop("issue_result", None)
        except InputError as err:
            if err.field == "subscription_id":
                st.error("Choose a subscription first.", icon="✋")
            else:
                ui.show_error(err)

    draft = st.session_state.get("issue_draft")
    if draft is not None and "issue_result" not in st.session_state:
        with st.container(border=True):
            st.subheader("Confirm")
            st.markdown(
                f"Charge **{format_amount(draft.amount)}** on **{format_display_datetime(draft.val_date)}** "
                f"to subscription **{ui.literal(draft.reference_no or draft.subscription_id)}**, "
                f"invoice number **{ui.literal(draft.invoice_no)}**."
            )
            st.caption("Exactly this request body will be sent to Paynet `create_invoice`:")
            st.json(draft.request)
            send, cancel = st.columns([1, 5])
            if send.button("Send to Paynet", type="primary", key="issue_send"):
                with ui.errors_as_banner():
                    created = issue.issue_invoice(rt, draft, user=user)
                    st.session_state["issue_result"] = created
                    st.rerun()
            if cancel.button("Edit", key="issue_edit"):
                st.session_state.pop("issue_draft", None)
                st.rerun()

    created = st.session_state.get("issue_result")
    if created is not None:
        st.success(
            f"Paynet accepted invoice **{ui.literal(created.invoice_no)}** for {format_amount(created.amount)} "
            f"(code {ui.literal(created.code)}: {ui.literal(created.message)})."
            + (" An earlier attempt had already created it; nothing was sent twice." if created.recovered else ""),
            icon="✅",
        )
        if st.button("Issue another", key="issue_another"):
            for key in ("issue_draft", "issue_result", "issue_invoice_no", "issue_amount"):
                st.session_state.pop(key, None)
            st.rerun()

with batch_tab:
    batch.batch_upload(rt, user, kind="invoices")

batch.show_job(rt, user)
