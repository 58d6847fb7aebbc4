"""Audit log (filters, CSV export) and Settings (masked keys only)."""

from __future__ import annotations

import pytest
from apptest_helpers import assert_clean, download_bytes, new_app, open_page

from paynet_core.paynet import InvoiceStatus
from paynet_core.reports import forms
from paynet_core.reports.cells import to_csv_bytes


@pytest.fixture
def audited(store):
    """Two audit lines by two people: a status change and an invoice creation."""
    from dashboard import services
    from paynet_core.auth import Role, User, demo_user
    from paynet_core.ops import issue

    rt = services.runtime()
    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    issue.change_invoice_status(rt, no, InvoiceStatus.CANCEL, user=demo_user())
    store.audit("other@example.com", "sync.run", mode=rt.mode.value, target_type="cache")
    return no, User(email="other@example.com", name="Other", role=Role.OPERATOR)


def test_audit_lists_filters_and_exports(as_admin, app, store, audited):
    no, _ = audited
    at = open_page(app, "views/audit.py")
    assert_clean(at)
    shown = at.dataframe[0].value
    assert {"sync.run"} < set(shown["action"])
    assert download_bytes(at, "audit_csv").startswith(b"\xef\xbb\xbf")

    at.text_input(key="audit_actor").input("other@example.com").run()
    assert_clean(at)
    shown = at.dataframe[0].value
    assert set(shown["actor"]) == {"other@example.com"} and len(shown) == 1
    at.text_input(key="audit_actor").input("").run()

    at.text_input(key="audit_target").input(no).run()
    shown = at.dataframe[0].value
    assert len(shown) >= 1 and "sync.run" not in set(shown["action"])

    at.text_input(key="audit_target").input("").run()
    action = next(a for a in at.multiselect(key="audit_actions").options if a != "sync.run")
    at.multiselect(key="audit_actions").set_value([action]).run()
    assert_clean(at)
    shown = at.dataframe[0].value
    assert set(shown["action"]) == {action}
    # The CSV is exactly the filtered table.
    expected = store.audit_rows(limit=5_000)
    expected = expected[expected["action"].isin([action])]
    assert download_bytes(at, "audit_csv") == to_csv_bytes(expected, delimiter=",")
    # ...and beside it in Turkish Excel's form: Turkish headers, ';'
    turkish = expected.set_axis(forms.headers(expected.columns, "tr"), axis=1)
    assert download_bytes(at, "audit_csv_tr") == to_csv_bytes(turkish, delimiter=";")
    assert download_bytes(at, "audit_csv_tr").decode("utf-8-sig").startswith("No;Zaman;Kişi;")


SECRET = "sck_test_SuperSecretValue0123456789wxyz"
PAYOFIN_KEY = "pof_api_AnotherSecretValue55556666abcd"
PAYOFIN_SECRET = "pof_sec_ThirdSecretValue77778888efgh"


@pytest.fixture
def keyed_sandbox(monkeypatch):
    monkeypatch.setenv("PAYNET_OPS_MODE", "sandbox")
    monkeypatch.setenv("PAYNET_SECRET_KEY", SECRET)
    monkeypatch.setenv("PAYOFIN_API_KEY", PAYOFIN_KEY)
    monkeypatch.setenv("PAYOFIN_SECRET_KEY", PAYOFIN_SECRET)


def _every_value(at) -> str:
    """Every text the page hands the browser: element protos of the whole tree, as text."""
    parts = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        if getattr(node, "type", None) in ("table", "dataframe"):
            parts.append(node.value.to_csv())  # arrow bytes in the proto: decode them
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def test_settings_shows_no_key_and_warns_that_sandbox_ignores_them(keyed_sandbox, demo, as_admin):
    at = new_app()
    at = open_page(at, "views/settings.py")
    assert_clean(at)
    table = at.table[0].value
    values = dict(zip(table["Setting"], table["Value"], strict=True))
    assert values["Mode"] == "sandbox"
    assert values["Paynet endpoint"].startswith("in-process sandbox")
    assert values["Paynet secret key"] == "not set"
    assert any("sandbox mode ignores PAYNET_SECRET_KEY" in w.value for w in at.warning)
    everything = _every_value(at)
    assert "Paynet endpoint" in everything  # the walk does see the table
    for raw in (SECRET, PAYOFIN_KEY, PAYOFIN_SECRET):
        assert raw not in everything
        assert raw[8:20] not in everything
        assert raw[-4:] not in everything


def test_settings_shows_the_effective_endpoints(monkeypatch, as_admin, app):
    monkeypatch.setenv("PAYNET_BASE_URL", "http://127.0.0.1:9/")
    from dashboard import services

    services.runtime.clear()
    at = open_page(new_app(), "views/settings.py")
    values = dict(zip(at.table[0].value["Setting"], at.table[0].value["Value"], strict=True))
    assert values["Paynet endpoint"] == "http://127.0.0.1:9"
    assert values["Payofin endpoint"] == "http://127.0.0.1:9"  # one served sandbox answers both
    services.runtime.clear()


def test_settings_without_keys_says_not_set(as_admin, app):
    at = open_page(app, "views/settings.py")
    table = at.table[0].value
    values = dict(zip(table["Setting"], table["Value"], strict=True))
    assert values["Paynet secret key"] == "not set"
    assert values["Mode"] == "sandbox"
