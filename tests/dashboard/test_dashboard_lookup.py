"""Lookup: a Paynet invoice from the cache (with history and API refresh), a Payofin payment."""

from __future__ import annotations

from apptest_helpers import all_text, assert_clean, open_page, texts

from paynet_core.money import format_amount
from paynet_core.paynet import InvoiceStatus

PAGE = "views/lookup.py"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_invoice_by_invoice_no_with_status_history(app, store):
    from dashboard import services
    from paynet_core.auth import demo_user
    from paynet_core.ops import issue

    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    issue.change_invoice_status(services.runtime(), no, InvoiceStatus.CANCEL, user=demo_user())
    at = open_page(app, PAGE)
    at.text_input(key="lookup_invoice").input(no).run()
    assert_clean(at)
    cached = store.get_invoice(invoice_no=no)
    metrics = _metrics(at)
    assert metrics["Status"] == f"5 · {cached['status_label']}"
    assert metrics["Amount"] == format_amount(int(cached["amount_kurus"]))
    assert "Status history" in [s.value for s in at.subheader]
    history = at.dataframe[-1].value
    assert len(history) >= 1
    assert (history.astype(str) == "5").any().any() or "5" in history.to_string()


def test_invoice_by_invoice_id(app, store):
    row = store.find_invoices(limit=1).iloc[0]
    at = open_page(app, PAGE)
    at.radio(key="lookup_by").set_value("invoice_id").run()
    at.text_input(key="lookup_invoice").input(str(row["invoice_id"])).run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert row["invoice_no"] in table["value"].tolist()


def test_unknown_invoice_warns(app):
    at = open_page(app, PAGE)
    at.text_input(key="lookup_invoice").input("NO-SUCH-INVOICE").run()
    assert_clean(at)
    assert any("NO-SUCH-INVOICE" in w for w in texts(at.warning))
    assert not at.metric


def test_refresh_from_the_api_updates_the_cache(app, sb, store):
    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    sb.set_invoice_status(
        no, InvoiceStatus.DONE_SUCCEED
    )  # changed at Paynet, cache still says Waiting
    at = open_page(app, PAGE)
    at.text_input(key="lookup_invoice").input(no).run()
    assert _metrics(at)["Status"].startswith("0 ·")
    at.button(key="refresh_invoice").click().run()
    assert_clean(at)
    assert _metrics(at)["Status"].startswith("3 ·")
    assert int(store.get_invoice(invoice_no=no)["status"]) == 3


def test_refresh_with_a_provider_error_shows_the_banner(app, sb, store):
    no = store.find_invoices(limit=1).iloc[0]["invoice_no"]
    at = open_page(app, PAGE)
    at.text_input(key="lookup_invoice").input(no).run()
    sb.faults.fail_next("invoice_list", ("result_code", 1), count=10)
    at.button(key="refresh_invoice").click().run()
    assert not at.exception
    banners = texts(at.error)
    assert len(banners) == 1, banners
    assert "Paynet" in banners[0] and "invoice_list" in banners[0] and "code 1" in banners[0]
    assert "Traceback" not in all_text(at)


def test_payment_by_id(app, sb):
    payment = sb.payments()[0]
    at = open_page(app, PAGE)
    at.text_input(key="lookup_payment").input(str(payment.invoice_payment_id)).run()
    assert_clean(at)
    metrics = _metrics(at)
    assert metrics["Amount"] == format_amount(payment.invoice_amount)
    assert metrics["Fee"] == format_amount(payment.profit)
    assert metrics["Status"] == payment.status


def test_payment_non_numeric_id_is_an_error(app, sb):
    before = dict(sb.request_counts)
    at = open_page(app, PAGE)
    at.text_input(key="lookup_payment").input("12a").run()
    assert not at.exception
    assert any("whole number" in e for e in texts(at.error))
    assert not at.metric
    assert dict(sb.request_counts) == before


def test_payment_refresh_with_a_provider_error_shows_the_banner(app, sb):
    payment = sb.payments()[0]
    at = open_page(app, PAGE)
    at.text_input(key="lookup_payment").input(str(payment.invoice_payment_id)).run()
    sb.faults.fail_next("invoicecheck", "http_500", count=10)
    at.button(key="refresh_payment").click().run()
    assert not at.exception
    banners = texts(at.error)
    assert len(banners) == 1, banners
    assert "invoice" in banners[0].lower() and "HTTP 500" in banners[0]
