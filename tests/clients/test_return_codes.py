"""Paynet return codes: the documented ones, the ones only an independent client knows (22-26,
200, 201), and codes nobody knows. 24 (InvoiceNoNotFound) must be "not found" exactly like 12:
in the client, in single actions, in bulk job items, in lookups and in the error banner."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from datetime import datetime

import httpx
import pytest
from job_helpers import factory_for, run, seed, start, statuses

from paynet_core.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    DuplicateError,
    NotFoundError,
    ServerError,
    SubscriptionStateError,
    TransportError,
)
from paynet_core.jobs.planner import plan_status_changes
from paynet_core.paynet import AsyncPaynetClient, PaynetClient
from paynet_core.paynet.models import (
    DOCS,
    INDEPENDENT_CLIENT,
    RETURN_CODE_TABLE,
    RETURN_CODES,
    SUCCESS_CODES,
)
from paynet_core.sandbox import Sandbox, SandboxTransport

KEY = "sck_return_codes_test"
CANCEL, WAITING = 5, 0

#: What each code must raise; every code of the table is here (the first test checks that).
EXPECTED_CLASS: dict[int, type[APIError] | None] = {
    **{code: APIError for code in (1, 2, 3, 4, 6, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21)},
    0: None,
    100: None,
    5: DuplicateError,
    7: AuthenticationError,
    8: ServerError,
    10: ServerError,
    12: NotFoundError,
    22: APIError,
    23: APIError,
    24: NotFoundError,
    25: APIError,
    26: APIError,
    200: SubscriptionStateError,
    201: SubscriptionStateError,
}
SEEN_IN_INDEPENDENT_CLIENT = {22, 23, 24, 25, 26, 200, 201}
#: Letters a Turkish text is written with besides ASCII (no decomposed or look-alike forms).
TURKISH = set("çğıöşüÇĞİÖŞÜ")


def client(handler) -> PaynetClient:
    return PaynetClient(
        KEY, environment="test", transport=httpx.MockTransport(handler), max_retries=0
    )


def reply(code, message="Paynet's own words", object_name=None):
    return lambda request: httpx.Response(
        200, json={"object_name": object_name, "code": code, "message": message}
    )


def status_update(handler):
    return client(handler).update_invoice_status(invoice_no="INV-1", status=5)


# -- the table -----------------------------------------------------------------------------


def test_the_table_holds_the_documented_codes_and_those_seen_in_an_independent_client():
    assert set(RETURN_CODE_TABLE) == set(EXPECTED_CLASS) == set(range(27)) | {100, 200, 201}
    assert {c for c, rc in RETURN_CODE_TABLE.items() if rc.source == INDEPENDENT_CLIENT} == (
        SEEN_IN_INDEPENDENT_CLIENT
    )
    assert {rc.source for rc in RETURN_CODE_TABLE.values()} == {DOCS, INDEPENDENT_CLIENT}
    names = {c: RETURN_CODES[c] for c in SEEN_IN_INDEPENDENT_CLIENT}
    assert names == {
        22: "PaynetjExpireDateError",
        23: "RatioCodeNotFound",
        24: "InvoiceNoNotFound",
        25: "CardNotFound",
        26: "CardKeyUndefined",
        200: "SubscriptionOn",
        201: "SubscriptionOff",
    }
    assert RETURN_CODES[12] == "nodata" and RETURN_CODES[5] == "duplicatedata"


@pytest.mark.parametrize("code", sorted(RETURN_CODE_TABLE))
def test_each_code_has_a_turkish_and_an_english_meaning(code):
    rc = RETURN_CODE_TABLE[code]
    assert rc.code == code and rc.name
    assert rc.meaning_en.strip() and rc.meaning_en.isascii()
    assert rc.meaning_tr.strip() and rc.meaning_tr != rc.meaning_en
    assert unicodedata.normalize("NFC", rc.meaning_tr) == rc.meaning_tr
    assert all(ch.isascii() or ch in TURKISH for ch in rc.meaning_tr), rc.meaning_tr
    assert rc.documented == (code not in SEEN_IN_INDEPENDENT_CLIENT)
    assert ("independent client" in rc.describe()) == (not rc.documented)


def test_turkish_meanings_use_turkish_letters():
    tr = {c: RETURN_CODE_TABLE[c].meaning_tr for c in (4, 12, 24, 25, 201)}
    assert tr == {
        4: "bayi bulunamadı",
        12: "kayıt bulunamadı",
        24: "fatura numarası bulunamadı",
        25: "kart bulunamadı",
        201: "abonelik kapalı (pasif)",
    }


# -- the client, over a mock transport ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(set(RETURN_CODE_TABLE) - SUCCESS_CODES))
@pytest.mark.parametrize("as_text", [False, True])
def test_each_refusal_code_raises_its_class_and_keeps_the_message(code, as_text):
    with pytest.raises(APIError) as exc:
        status_update(reply(str(code) if as_text else code))
    err = exc.value
    assert type(err) is EXPECTED_CLASS[code], (code, type(err))
    assert err.code == code and err.operation == "invoice_status_update"
    assert "Paynet's own words" in err.message
    assert "not in the return-code table" not in err.message


@pytest.mark.parametrize("code", sorted(set(RETURN_CODE_TABLE) - SUCCESS_CODES))
def test_without_a_message_the_error_reads_the_codes_meaning(code):
    rc = RETURN_CODE_TABLE[code]
    with pytest.raises(APIError) as exc:
        status_update(reply(code, message=""))
    assert rc.name in exc.value.message and rc.meaning_en in exc.value.message
    assert ("independent client" in exc.value.message) == (code in SEEN_IN_INDEPENDENT_CLIENT)


@pytest.mark.parametrize("code", sorted(SUCCESS_CODES))
def test_success_codes_are_successes(code):
    result = status_update(reply(code, message="Başarılı Islem", object_name="x"))
    assert result.code == code


def test_24_is_not_found_exactly_like_12():
    errors = {}
    for code in (12, 24):
        with pytest.raises(NotFoundError) as exc:
            status_update(reply(code, "no such invoice"))
        errors[code] = exc.value
    assert errors[24].said == errors[12].said == "no such invoice"
    assert "not found" in errors[24].message and "not found" in errors[12].message
    assert not errors[24].is_retryable and not errors[12].is_retryable


@pytest.mark.parametrize(("code", "active"), [(200, True), (201, False)])
def test_200_and_201_explain_the_subscriptions_state(code, active):
    with pytest.raises(SubscriptionStateError) as exc:
        status_update(reply(code))
    err = exc.value
    assert err.active is active and err.code == code and not err.is_retryable
    assert RETURN_CODE_TABLE[code].meaning_en in err.message  # "the subscription is on (active)"
    assert "subscription's state" in err.message and "Paynet's own words" in err.message
    assert "unknown" not in str(err) and "not in the return-code table" not in str(err)


@pytest.mark.parametrize("message", ["Tanımsız hata", ""])
def test_an_unknown_code_keeps_its_number_and_message_and_says_it_is_not_in_the_table(message):
    with pytest.raises(APIError) as exc:
        status_update(reply(777, message))
    err = exc.value
    assert type(err) is APIError and err.code == 777
    assert "code 777 is not in the return-code table" in err.message
    assert "code 777" in str(err)
    if message:
        assert message in err.message


def test_a_non_200_body_with_result_code_24_is_not_found_and_an_unknown_one_is_named():
    def body(status, result_code):
        return lambda request: httpx.Response(
            status,
            json={
                "type": "invalid_request_error",
                "message": "olmadı",
                "code": status,
                "result_code": result_code,
            },
        )

    for code in (12, 24):
        with pytest.raises(NotFoundError) as exc:
            status_update(body(400, code))
        assert exc.value.code == code and "olmadı" in exc.value.message
    with pytest.raises(APIError) as exc:
        status_update(body(400, 778))
    assert type(exc.value) is APIError and exc.value.code == 778
    assert (
        "olmadı" in exc.value.message
        and "code 778 is not in the return-code table" in exc.value.message
    )


@pytest.mark.parametrize("code", [12, 24])
def test_create_exactly_once_treats_a_24_lookup_like_a_12_one(code):
    """A create whose reply is lost is looked up; a lookup that says "not found" (12 or 24)
    cannot prove absence of an invoice, so the creation is never sent again blindly."""
    seen = []

    def handler(request):
        op = request.url.path.rsplit("/", 1)[1]
        seen.append(op)
        if op == "create_invoice":
            raise httpx.ReadTimeout("reply lost")
        return httpx.Response(200, json={"object_name": None, "code": code, "message": "yok"})

    paynet = PaynetClient(
        KEY,
        environment="test",
        transport=httpx.MockTransport(handler),
        max_retries=2,
        sleep=lambda s: None,
    )
    with pytest.raises(TransportError, match="not sent again") as exc:
        paynet.create_invoice(
            subscription_id="s", amount=1000, val_date=datetime(2027, 1, 1), invoice_no="X"
        )
    assert seen == ["create_invoice", "invoice_list"]
    assert "yok" in exc.value.message


def test_the_async_client_maps_24_to_not_found_too():
    async def go():
        async with AsyncPaynetClient(
            KEY, environment="test", transport=httpx.MockTransport(reply(24)), max_retries=0
        ) as paynet:
            await paynet.update_invoice_status(invoice_no="INV-1", status=5)

    with pytest.raises(NotFoundError) as exc:
        asyncio.run(go())
    assert exc.value.code == 24


# -- the sandbox switch ----------------------------------------------------------------------


def sandbox_status_update(sandbox, invoice_no):
    with PaynetClient(KEY, transport=SandboxTransport(sandbox), max_retries=0) as paynet:
        return paynet.update_invoice_status(invoice_no=invoice_no, status=CANCEL)


@pytest.mark.parametrize(("setting", "http_status"), [(12, 404), (24, 200)])
def test_the_sandbox_answers_an_unknown_invoice_no_with_the_chosen_code(setting, http_status):
    with Sandbox(unknown_invoice_code=setting) as sandbox:
        raw = sandbox.handle(
            "POST",
            "/v1/subscription/invoice_status_update",
            {"Authorization": f"Basic {KEY}"},
            json.dumps({"invoice_no": "NO-SUCH", "status": 5}).encode(),
        )
        assert raw.status == http_status
        body = raw.json()
        assert body.get("result_code", body["code"]) == setting
        with pytest.raises(NotFoundError) as exc:
            sandbox_status_update(sandbox, "NO-SUCH")
        assert exc.value.code == setting and "NO-SUCH" in exc.value.message


def test_the_sandbox_switch_keeps_12_for_other_unknown_records_and_refuses_other_codes():
    with Sandbox(unknown_invoice_code=24) as sandbox:
        with PaynetClient(KEY, transport=SandboxTransport(sandbox), max_retries=0) as paynet:
            with pytest.raises(NotFoundError) as exc:
                paynet.update_all_invoice_statuses(subscription_id="NO-SUCH-SUB", status=CANCEL)
            assert exc.value.code == 12  # no subscription: nodata, as documented
            with pytest.raises(NotFoundError) as exc:
                paynet.update_invoice_status(invoice_id=987654, status=CANCEL)
            assert exc.value.code == 12  # no invoice_no given: not InvoiceNoNotFound
        with pytest.raises(ValueError, match="12 or 24"):
            sandbox.unknown_invoice_code = 25
    with pytest.raises(ValueError, match="12 or 24"):
        Sandbox(unknown_invoice_code=0)


def test_the_env_var_sets_the_sandbox_switch_where_it_is_opened(monkeypatch):
    from paynet_core.runtime import open_runtime

    monkeypatch.setenv("PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE", "24")
    assert open_runtime().sandbox.unknown_invoice_code == 24
    monkeypatch.setenv("PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE", "12")
    assert open_runtime().sandbox.unknown_invoice_code == 12
    monkeypatch.setenv("PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE", "nodata")
    with pytest.raises(ConfigError, match="PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE must be 12"):
        open_runtime()


# -- single actions, lookups and the banner ---------------------------------------------------


@pytest.mark.parametrize("code", [12, 24])
def test_a_single_status_change_of_an_unknown_invoice_is_not_found_and_audited(monkeypatch, code):
    from paynet_core.auth import demo_user
    from paynet_core.ops import issue
    from paynet_core.runtime import open_runtime

    monkeypatch.setenv("PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE", str(code))
    rt = open_runtime()
    with pytest.raises(NotFoundError) as exc:
        issue.change_invoice_status(rt, "NO-SUCH-INV", CANCEL, user=demo_user())
    assert exc.value.code == code
    audit = rt.store.audit_rows(target_id="NO-SUCH-INV").iloc[0]
    assert int(audit["provider_code"]) == code and "NO-SUCH-INV" in audit["provider_message"]


@pytest.mark.parametrize("code", [12, 24])
def test_a_lookup_told_not_found_says_paynet_no_longer_lists_it(monkeypatch, code):
    from paynet_core.auth import demo_user
    from paynet_core.ops import lookup
    from paynet_core.paynet.models import Invoice, InvoiceStatus
    from paynet_core.runtime import open_runtime

    rt = open_runtime()
    rt.store.upsert_invoices(
        [
            Invoice(
                invoice_no="GONE-1",
                subscription_id="SUB-1",
                amount=1000,
                status=InvoiceStatus.WAITING,
                val_date=datetime(2027, 1, 1),
            )
        ],
        source="sync",
    )
    monkeypatch.setattr(rt, "paynet", lambda: client(reply(code, "kayıt yok")))
    with pytest.raises(NotFoundError) as exc:
        lookup.refresh_invoice(rt, invoice_no="GONE-1", user=demo_user())
    assert exc.value.code == code
    assert (
        "Paynet no longer lists invoice GONE-1" in exc.value.message
        and "kayıt yok" in exc.value.message
    )


@pytest.mark.parametrize("code", [12, 24])
def test_the_banner_says_not_found_for_12_and_24_alike(monkeypatch, code):
    from dashboard import components

    shown = []
    monkeypatch.setattr(components.st, "error", lambda text, **kw: shown.append(text))
    with pytest.raises(NotFoundError) as exc:
        status_update(reply(code, "böyle bir fatura yok"))
    components.show_error(exc.value)
    (text,) = shown
    assert text.startswith("**Not found · Paynet invoice_status_update**")
    assert f"code {code} ({RETURN_CODES[code]})" in text and "böyle bir fatura yok" in text


def test_the_banner_for_a_subscription_state_and_an_unknown_code(monkeypatch):
    from dashboard import components

    shown = []
    monkeypatch.setattr(components.st, "error", lambda text, **kw: shown.append(text))
    for code in (201, 777):
        with pytest.raises(APIError) as exc:
            status_update(reply(code))
        components.show_error(exc.value)
    state, unknown = shown
    assert "code 201 (SubscriptionOff)" in state and "the subscription is off" in state
    assert "code 777 · HTTP 200" in unknown  # no name: the table has none for it
    assert "not in the return-code table" in unknown


# -- a bulk status job against the sandbox ------------------------------------------------------


@pytest.mark.parametrize("code", [24, 12])
def test_a_bulk_status_job_marks_unknown_invoices_not_found_and_applies_the_rest(store, code):
    with Sandbox(unknown_invoice_code=code) as sandbox:
        _, nos = seed(sandbox, store, 5)
        unknown = ["NO-SUCH-1", "NO-SUCH-2"]
        plan = plan_status_changes(
            [
                (nos[0], CANCEL),
                (unknown[0], CANCEL),
                *((no, CANCEL) for no in nos[1:]),
                (unknown[1], CANCEL),
            ],
            store=store,
        )
        job_id = start(plan, store)
        summary = run(job_id, store, factory_for(sandbox), concurrency=3)
        assert (summary.state, summary.done, summary.failed, summary.pending) == ("done", 5, 2, 0)
        assert statuses(sandbox, nos) == [CANCEL] * 5
        assert sandbox.request_counts["invoice_status_update"] == 7
    failed = {i["target_key"]: i for i in store.items_in_state(job_id, "failed")}
    assert sorted(failed) == unknown
    for no in unknown:
        assert failed[no]["provider_code"] == code
        assert (
            failed[no]["message"].startswith("not found at Paynet:") and no in failed[no]["message"]
        )
    done = store.items_in_state(job_id, "done")
    assert sorted(i["target_key"] for i in done) == sorted(nos)
    assert all(store.get_invoice(no)["status"] == CANCEL for no in nos)
    assert all(int(a) == code for a in store.audit_rows(target_id=unknown[0])["provider_code"])


def test_a_subscription_state_error_survives_pickling():
    import pickle

    with pytest.raises(SubscriptionStateError) as exc:
        status_update(reply(200))
    copy = pickle.loads(pickle.dumps(exc.value))
    assert type(copy) is SubscriptionStateError and copy.active is True
    assert str(copy) == str(exc.value) and copy.code == 200
