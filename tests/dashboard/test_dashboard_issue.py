"""Issue invoices page, one invoice: search → select → amount → review → send, and refusals."""

from __future__ import annotations

import json

import pytest
from apptest_helpers import all_text, assert_clean, open_page, texts

PAGE = "views/issue.py"


def _subscription(sb):
    # A demo subscription with a reference_no nobody else's contains (the search is a LIKE).
    subs = sb.subscriptions()
    refs = [s.reference_no for s in subs]
    return next(s for s in subs if sum(s.reference_no in r for r in refs) == 1)


def _fill(at, sub, amount: str):
    at.text_input(key="issue_sub_query").input(sub.reference_no).run()
    assert_clean(at)
    chosen = at.selectbox(key="issue_subscription").value
    assert chosen["reference_no"] == sub.reference_no
    assert chosen["subscription_id"] == sub.subscription_id
    at.text_input(key="issue_amount").input(amount).run()
    return at


def _create_count(sb) -> int:
    return sb.request_counts.get("create_invoice", 0)


def test_issue_one_invoice_review_then_send(app, sb, store):
    at = open_page(app, PAGE)
    sub = _subscription(sb)
    _fill(at, sub, "1.234,56")
    assert "= 1.234,56 ₺" in texts(at.caption)
    before = _create_count(sb)

    at.button(key="issue_review").click().run()
    assert_clean(at)
    assert _create_count(sb) == before, "Review must not send anything"
    request = at.json[0].value
    body = json.loads(request) if isinstance(request, str) else request
    assert body["amount"] == "123456"
    draft = at.session_state["issue_draft"]
    assert draft.invoice_no, "a blank invoice number is generated at review time"
    assert draft.invoice_no in all_text(at)
    assert "1.234,56 ₺" in all_text(at)

    at.button(key="issue_send").click().run()
    assert_clean(at)
    assert any(draft.invoice_no in s and "1.234,56 ₺" in s for s in texts(at.success)), texts(
        at.success
    )
    assert _create_count(sb) == before + 1

    created = [
        i
        for i in sb.invoices(subscription_id=sub.subscription_id)
        if i.invoice_no == draft.invoice_no
    ]
    assert len(created) == 1
    assert created[0].amount == 123456

    cached = store.get_invoice(invoice_no=draft.invoice_no)
    assert cached is not None
    assert int(cached["status"]) == 0 and int(cached["amount_kurus"]) == 123456

    audit = store.audit_rows(action="invoice.create", target_id=draft.invoice_no)
    assert len(audit) == 1

    # "Issue another" clears the form; nothing else is sent.
    at.button(key="issue_another").click().run()
    assert_clean(at)
    assert "issue_draft" not in at.session_state
    assert at.text_input(key="issue_amount").value == ""
    assert _create_count(sb) == before + 1


def test_bad_amount_shows_caption_and_sends_nothing(app, sb):
    at = open_page(app, PAGE)
    _fill(at, _subscription(sb), "12,345")
    assert any(":red[" in c for c in texts(at.caption)), texts(at.caption)
    before = _create_count(sb)
    at.button(key="issue_review").click().run()
    assert not at.exception
    assert at.error, "reviewing without a valid amount must say why"
    assert not at.json, "no confirmation without a valid amount"
    assert "issue_send" not in [b.key for b in at.button]
    assert _create_count(sb) == before


def test_review_without_subscription_is_refused(app, sb):
    at = open_page(app, PAGE)
    at.text_input(key="issue_amount").input("10,00").run()
    at.button(key="issue_review").click().run()
    assert "Choose a subscription first." in texts(at.error)
    assert not at.json


def test_unknown_subscription_warns(app):
    at = open_page(app, PAGE)
    at.text_input(key="issue_sub_query").input("no-such-subscription-zzz").run()
    assert not at.exception
    assert any("No subscription" in w for w in texts(at.warning))
    assert not at.selectbox


@pytest.mark.parametrize(
    ("agent", "company", "ok"),
    [("200,00", "1.034,56", True), ("200,00", "1.000,00", False), ("2.000,00", None, False)],
)
def test_split_is_checked_live_against_the_amount(app, sb, agent, company, ok):
    at = open_page(app, PAGE)
    _fill(at, _subscription(sb), "1.234,56")
    at.text_input(key="issue_agent").input(agent)
    if company is not None:
        at.text_input(key="issue_company").input(company)
    at.run()
    assert not at.exception
    if ok:
        assert not at.error
        assert any("Split checks out" in s for s in texts(at.success))
    else:
        assert at.error, "a split that does not add up must show an error"
        assert not any("Split checks out" in s for s in texts(at.success))


def test_split_mismatch_is_not_sent(app, sb):
    at = open_page(app, PAGE)
    _fill(at, _subscription(sb), "1.234,56")
    at.text_input(key="issue_agent").input("200,00")
    at.text_input(key="issue_company").input("1.000,00")
    at.run()
    before = _create_count(sb)
    at.button(key="issue_review").click().run()
    assert not at.exception
    if at.json:  # if the page lets it through to review, Paynet must at least not get it silently
        pytest.fail("a split that does not add up reached the confirmation step")
    assert _create_count(sb) == before


def test_provider_error_is_a_banner_not_a_traceback(app, sb, store):
    at = open_page(app, PAGE)
    _fill(at, _subscription(sb), "50,00")
    at.button(key="issue_review").click().run()
    draft = at.session_state["issue_draft"]
    sb.faults.fail_next("create_invoice", ("result_code", 1))

    at.button(key="issue_send").click().run()
    assert not at.exception
    banners = texts(at.error)
    assert len(banners) == 1, banners
    assert "Paynet" in banners[0] and "create_invoice" in banners[0] and "code 1" in banners[0]
    assert "Traceback" not in all_text(at)
    assert not at.success
    assert "issue_result" not in at.session_state
    assert sb.get_invoice(draft.invoice_no) is None
    assert store.get_invoice(invoice_no=draft.invoice_no) is None
    refused = store.audit_rows(action="invoice.create", target_id=draft.invoice_no)
    assert len(refused) == 1 and int(refused.iloc[0]["provider_code"]) == 1
