"""Issue invoices: one by form (review, then send), or a batch from a CSV/XLSX file as a job."""

from datetime import datetime, time, timedelta

import streamlit as st

from dashboard import batch, services
from dashboard import components as ui
from paynet_core.dates import format_display_datetime, today
from paynet_core.errors import InputError
from paynet_core.i18n import _, tr_sort_key
from paynet_core.money import check_split, format_amount
from paynet_core.ops import issue

user = services.require("issue_invoice")
rt = services.runtime()
st.title(_("Issue invoices"))

one_tab, batch_tab = st.tabs([_("One invoice"), _("Batch upload")])

with one_tab:
    query = st.text_input(
        _("Find the subscription"),
        key="issue_sub_query",
        placeholder=_("reference no, subscription id or name"),
    )
    matches = rt.store.search_subscriptions(query, limit=20) if query.strip() else None
    subscription = None
    if matches is not None:
        if matches.empty:
            st.warning(_("No subscription in the cache matches. Check the number, or run a sync."))
        else:
            # An exact number first (what was typed), then holders in Turkish alphabetical order.
            options = sorted(
                matches.to_dict("records"),
                key=lambda s: (
                    query.strip() not in (s["subscription_id"], s["reference_no"]),
                    tr_sort_key(s["name_surname"] or ""),
                ),
            )
            subscription = st.selectbox(
                _("Subscription"),
                options,
                format_func=lambda s: (
                    f"{s['reference_no']} · {s['name_surname'] or '—'} · {s['subscription_id']}"
                ),
                key="issue_subscription",
            )

    amount = ui.money_input(_("Amount (TL)"), key="issue_amount")
    c1, c2 = st.columns(2)
    charge_day = c1.date_input(
        _("Charge date"), value=today() + timedelta(days=1), format="DD.MM.YYYY", key="issue_day"
    )
    charge_time = c2.time_input(
        _("Charge time"), value=time(10, 0), key="issue_time", step=timedelta(minutes=15)
    )
    with st.expander(_("Agent / company split (optional)")):
        agent_amount = ui.money_input(_("Agent amount (TL)"), key="issue_agent", required=False)
        company_amount = ui.money_input(
            _("Company amount (TL)"), key="issue_company", required=False
        )
        if amount is not None and (agent_amount is not None or company_amount is not None):
            problems = check_split(amount, agent_amount, company_amount)
            for problem in problems:
                st.error(ui.literal(problem.message))
            if not problems:
                st.success(_("Split checks out against {amount}.", amount=format_amount(amount)))
    invoice_no = st.text_input(
        _("Invoice number (blank: generated)"), key="issue_invoice_no", max_chars=64
    )

    if st.button(_("Review"), type="primary", key="issue_review"):
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
                st.error(_("Choose a subscription first."), icon="✋")
            else:
                ui.show_error(err)

    draft = st.session_state.get("issue_draft")
    if draft is not None and "issue_result" not in st.session_state:
        with st.container(border=True):
            st.subheader(_("Confirm"))
            st.markdown(
                _(
                    "Charge **{amount}** on **{when}** to subscription **{subscription}**, invoice number **{invoice}**.",
                    amount=format_amount(draft.amount),
                    when=format_display_datetime(draft.val_date),
                    subscription=ui.literal(draft.reference_no or draft.subscription_id),
                    invoice=ui.literal(draft.invoice_no),
                )
            )
            st.caption(_("Exactly this request body will be sent to Paynet `create_invoice`:"))
            st.json(draft.request)
            send, cancel = st.columns([1, 5])
            if send.button(_("Send to Paynet"), type="primary", key="issue_send"):
                with ui.errors_as_banner():
                    created = issue.issue_invoice(rt, draft, user=user)
                    st.session_state["issue_result"] = created
                    st.rerun()
            if cancel.button(_("Edit"), key="issue_edit"):
                st.session_state.pop("issue_draft", None)
                st.rerun()

    created = st.session_state.get("issue_result")
    if created is not None:
        # The provider's message as received, beside our sentence.
        st.success(
            _(
                "Paynet accepted invoice **{invoice}** for {amount} (code {code}: {message}).",
                invoice=ui.literal(created.invoice_no),
                amount=format_amount(created.amount),
                code=ui.literal(created.code),
                message=ui.literal(created.message),
            )
            + (
                " " + _("An earlier attempt had already created it; nothing was sent twice.")
                if created.recovered
                else ""
            ),
            icon="✅",
        )
        if st.button(_("Issue another"), key="issue_another"):
            for key in ("issue_draft", "issue_result", "issue_invoice_no", "issue_amount"):
                st.session_state.pop(key, None)
            st.rerun()

with batch_tab:
    batch.batch_upload(rt, user, kind="invoices")

batch.show_job(rt, user)
