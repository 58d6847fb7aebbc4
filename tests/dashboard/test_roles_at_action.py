"""Issue 12, "Actions without the role": every action checks the role where it runs.

An anonymous visitor in test mode (no ``[auth]``) pressed "Refresh from the API" on Lookup and
got real provider calls with the server's keys and a cache write. These tests hold the line at
the action (not the page): no provider call, no write, a refusal banner.
"""

from __future__ import annotations

import os
from datetime import date

import pytest
from apptest_helpers import assert_clean, fresh_caches, new_app, open_page, texts

from paynet_core.auth import Role, User, anonymous_user, demo_user, require_role
from paynet_core.errors import PermissionDenied
from paynet_core.ops import issue, lookup
from paynet_core.paynet import InvoiceStatus
from paynet_core.sandbox import open_sandbox


def _sandbox():
    return open_sandbox(os.environ["PAYNET_OPS_SANDBOX_DB"])


VIEWER = User(email="viewer@example.com", name="Viewer", role=Role.VIEWER)
OPERATOR = User(email="op@example.com", name="Op", role=Role.OPERATOR)


@pytest.fixture
def provider_calls(monkeypatch):
    """Every client the runtime hands out, counted; they talk to the in-process sandbox even in
    test mode, so a missing check would show as a real call and a cache write, not a network error."""
    from paynet_core.paynet import PaynetClient
    from paynet_core.payofin.client import PayofinClient
    from paynet_core.runtime import Runtime
    from paynet_core.sandbox import SandboxTransport

    calls: list[str] = []

    def paynet(self, **kwargs):
        calls.append("paynet")
        return PaynetClient(
            None, environment="sandbox", transport=SandboxTransport(_sandbox()), **kwargs
        )

    def payofin(self, **kwargs):
        calls.append("payofin")
        return PayofinClient(
            None, None, environment="sandbox", transport=SandboxTransport(_sandbox()), **kwargs
        )

    monkeypatch.setattr(Runtime, "paynet", paynet)
    monkeypatch.setattr(Runtime, "payofin", payofin)
    return calls


@pytest.fixture
def test_mode_without_login(demo, monkeypatch):
    """The demo data is in the cache; then the server restarts in test mode with keys, no [auth]."""
    monkeypatch.setenv("PAYNET_OPS_MODE", "test")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_test_x")
    monkeypatch.setenv("PAYOFIN_API_KEY", "pk_test_x")
    monkeypatch.setenv("PAYOFIN_SECRET_KEY", "ps_test_x")
    fresh_caches()
    from dashboard import services

    yield services.runtime()
    fresh_caches()


def test_anonymous_in_test_mode_cannot_refresh_on_lookup(test_mode_without_login, provider_calls):
    rt = test_mode_without_login
    store = rt.store
    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    _sandbox().set_invoice_status(no, InvoiceStatus.CANCEL)  # Paynet says 5, the cache 0
    audit_before = len(store.audit_rows(limit=100_000))

    at = open_page(new_app(), "views/lookup.py")
    at.text_input(key="lookup_invoice").input(no).run()
    at.button(key="refresh_invoice").click().run()

    assert not at.exception
    assert any("login is not configured" in e for e in texts(at.error)), texts(at.error)
    assert provider_calls == []
    assert int(store.get_invoice(invoice_no=no)["status"]) == 0
    assert len(store.audit_rows(limit=100_000)) == audit_before


def test_anonymous_in_test_mode_cannot_fetch_a_payment_on_lookup(
    test_mode_without_login, provider_calls
):
    at = open_page(new_app(), "views/lookup.py")
    at.text_input(key="lookup_payment").input("987654321").run()  # not cached: would ask Payofin
    assert not at.exception
    assert any("login is not configured" in e for e in texts(at.error)), texts(at.error)
    assert provider_calls == []
    assert test_mode_without_login.store.get_payment(987654321) is None


def test_a_viewer_is_refused_inside_each_action(demo, provider_calls):
    from dashboard import services

    rt = services.runtime()
    no = rt.store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    pid = int(rt.store.query("SELECT invoice_payment_id FROM bill_payments LIMIT 1").iloc[0, 0])
    draft = issue.draft_invoice(amount=1000, val_date=date(2027, 1, 15), subscription_id="S1")
    for user in (VIEWER, anonymous_user(), None):
        for call in (
            lambda u: lookup.refresh_invoice(rt, invoice_no=no, user=u),
            lambda u: lookup.lookup_payment(rt, pid, refresh=True, user=u),
            lambda u: issue.change_invoice_status(rt, no, InvoiceStatus.CANCEL, user=u),
            lambda u: issue.issue_invoice(rt, draft, user=u),
            lambda u: services.start_sync(u),
        ):
            with pytest.raises(PermissionDenied):
                call(user)
    assert provider_calls == []
    assert not services.sync_task().running
    # a viewer may still read a cached payment: that is a view, not a provider call
    assert lookup.lookup_payment(rt, pid, user=VIEWER)["invoice_payment_id"] == pid
    assert int(rt.store.get_invoice(invoice_no=no)["status"]) == 0


def test_an_operator_may_refresh(demo, provider_calls):
    from dashboard import services

    rt = services.runtime()
    no = rt.store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    assert lookup.refresh_invoice(rt, invoice_no=no, user=OPERATOR)["invoice_no"] == no
    assert provider_calls == ["paynet"]


def test_the_sandbox_demo_user_is_an_operator_not_an_admin():
    user = demo_user()
    assert user.role is Role.OPERATOR and user.demo
    assert user.can("run_job") and not user.can("view_audit") and not user.can("settings")
    assert require_role(user, Role.OPERATOR, action="x") is user
    with pytest.raises(PermissionDenied, match="admin"):
        require_role(user, Role.ADMIN, action="read the audit log")


def test_the_demo_operator_sees_no_admin_pages(demo, media):
    at = new_app()
    assert_clean(at)
    sidebar = "\n".join(str(getattr(e, "value", "")) for e in at.sidebar)
    assert "Demo operator (operator)" in sidebar
