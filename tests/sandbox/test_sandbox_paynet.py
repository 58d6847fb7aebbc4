import threading
from datetime import datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paynet_core.dates import ISTANBUL
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.sandbox import PAYNET_BASE_URL, Sandbox, SandboxTransport

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)
AUTH = {"Authorization": "Basic sck_test_key"}
S = InvoiceStatus


@pytest.fixture
def clock():
    return lambda: NOW


# Written out independently of the sandbox's own table, so a change there shows up here.
ALLOWED = {
    (S.WAITING, S.EXTERNAL_CHARGED),
    (S.WAITING, S.DONE_SUCCEED),
    (S.WAITING, S.DONE_UNSUCCEED),
    (S.WAITING, S.CANCEL),
    (S.WAITING, S.DELETED),
    (S.DONE_UNSUCCEED, S.WAITING),
    (S.DONE_UNSUCCEED, S.EXTERNAL_CHARGED),
    (S.DONE_UNSUCCEED, S.CANCEL),
    (S.DONE_UNSUCCEED, S.DELETED),
    (S.CANCEL, S.DELETED),
}


@pytest.fixture
def client(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL, headers=AUTH
    ) as c:
        yield c


@pytest.fixture
def sub(sandbox):
    return sandbox.add_subscription(
        reference_no="90001234", name_surname="Derya Öztürk", amount=28898
    )


def call(client, op, body, **kwargs):
    response = client.post(f"/v1/subscription/{op}", json=body, **kwargs)
    return response.status_code, response.json()


def new_invoice(client, sub, invoice_no, amount="1000", **extra):
    body = {"reference_no": sub.reference_no, "amount": amount, "val_date": "10.05.2026 09:00:00"}
    if invoice_no is not None:
        body["invoice_no"] = invoice_no
    return call(client, "create_invoice", {**body, **extra})


# -- create_invoice ---------------------------------------------------------------------------
def test_created_invoice_is_listed_as_waiting(client, sub):
    status, reply = new_invoice(
        client, sub, "INV-1", amount=28898, agent_amount=2926, company_amount=25972
    )
    assert (status, reply) == (
        200,
        {"object_name": "subscription_invoice", "code": 0, "message": "Başarılı Islem"},
    )
    status, page = call(client, "invoice_list", {"reference_no": sub.reference_no})
    assert status == 200 and page["code"] == 0 and page["total"] == 1
    (item,) = page["data"]
    assert item["invoice_no"] == "INV-1"
    assert isinstance(item["invoice_id"], int)
    assert item["subscription_id"] == sub.subscription_id
    assert (item["amount"], item["agent_amount"], item["company_amount"]) == (
        "28898",
        "2926",
        "25972",
    )
    assert item["val_date"] == "10.05.2026 09:00:00"
    assert item["status"] == 0 and item["currency"] == "TRY"


def test_invoice_ids_are_sequential_and_not_returned_by_create(client, sub, sandbox):
    replies = [new_invoice(client, sub, f"N{i}")[1] for i in range(3)]
    assert all("invoice_id" not in r for r in replies)
    ids = [i.invoice_id for i in sandbox.invoices(reference_no=sub.reference_no)]
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]


def test_create_without_invoice_no_generates_a_unique_one(client, sub, sandbox):
    assert new_invoice(client, sub, None)[1]["code"] == 0
    assert new_invoice(client, sub, "")[1]["code"] == 0
    numbers = [i.invoice_no for i in sandbox.invoices()]
    assert len(numbers) == 2 and len(set(numbers)) == 2 and all(numbers)


def test_duplicate_invoice_no_is_refused_with_code_5_merchant_wide(client, sub, sandbox):
    other = sandbox.add_subscription(reference_no="90009999")
    assert new_invoice(client, sub, "DUP-1")[1]["code"] == 0
    for target in (sub, other):
        status, reply = new_invoice(client, target, "DUP-1", amount="5000")
        assert status == 200
        assert reply["code"] == 5 and reply["object_name"] == "subscription_invoice"
        assert "duplicatedata" in reply["message"]
    assert [i.amount for i in sandbox.invoices()] == [1000]


def test_amount_as_int_or_digit_string(client, sub, sandbox):
    assert new_invoice(client, sub, "A1", amount=1050)[1]["code"] == 0
    assert new_invoice(client, sub, "A2", amount="1050")[1]["code"] == 0
    assert [i.amount for i in sandbox.invoices()] == [1050, 1050]


@pytest.mark.parametrize(
    "amount", ["10.50", "10,50", 10.5, 100.0, "-100", -100, "1e3", "", None, "abc", 0, "0", True]
)
def test_bad_amount_is_a_400_naming_the_field(client, sub, sandbox, amount):
    status, reply = new_invoice(client, sub, "BAD", amount=amount)
    assert status == 400
    assert (
        reply["type"] == "invalid_request_error"
        and reply["code"] == 400
        and reply["result_code"] == 11
    )
    assert "amount" in reply["message"]
    assert sandbox.invoices() == []


@pytest.mark.parametrize(
    "val_date", ["2017-10-03 10:32:24", "03.10.2017", "03/10/2017 10:32:24", "31.02.2017 10:00:00"]
)
def test_bad_val_date_is_a_400_naming_the_field(client, sub, val_date):
    status, reply = new_invoice(client, sub, "V", val_date=val_date)
    assert status == 400 and "val_date" in reply["message"]


def test_missing_val_date(client, sub):
    status, reply = call(
        client, "create_invoice", {"reference_no": sub.reference_no, "amount": "100"}
    )
    assert status == 400 and "val_date" in reply["message"]


def test_split_must_add_up_to_amount(client, sub, sandbox):
    status, reply = new_invoice(
        client, sub, "S1", amount=1000, agent_amount=100, company_amount=800
    )
    assert (
        status == 400
        and "agent_amount" in reply["message"]
        and "company_amount" in reply["message"]
    )
    status, reply = new_invoice(client, sub, "S2", amount=1000, agent_amount=1100)
    assert status == 400 and "agent_amount" in reply["message"]
    assert (
        new_invoice(client, sub, "S3", amount=1000, agent_amount=0, company_amount=1000)[1]["code"]
        == 0
    )


def test_unsupported_currency(client, sub):
    status, reply = new_invoice(client, sub, "C1", currency="USD")
    assert status == 400 and "currency" in reply["message"]


def test_unknown_subscription_is_404_no_data(client):
    status, reply = call(
        client,
        "create_invoice",
        {"reference_no": "99999999", "amount": "100", "val_date": "10.05.2026 09:00:00"},
    )
    assert status == 404
    assert reply == {
        "type": "no_data_error",
        "message": reply["message"],
        "code": 404,
        "result_code": 12,
    }
    assert "99999999" in reply["message"]


def test_subscription_one_of_rules(client, sub, sandbox):
    body = {"amount": "100", "val_date": "10.05.2026 09:00:00"}
    status, reply = call(
        client, "create_invoice", {**body, "subscription_id": "", "reference_no": ""}
    )
    assert (
        status == 400
        and "subscription_id" in reply["message"]
        and "reference_no" in reply["message"]
    )
    # the docs' misspelling is accepted as an alias, and "" counts as not sent
    status, reply = call(
        client,
        "create_invoice",
        {**body, "subcription_id": sub.subscription_id, "reference_no": ""},
    )
    assert (status, reply["code"]) == (200, 0)
    status, reply = call(
        client,
        "create_invoice",
        {**body, "subscription_id": sub.subscription_id, "reference_no": "1"},
    )
    assert status == 404
    assert len(sandbox.invoices()) == 1


# -- invoice_status_update --------------------------------------------------------------------
def test_status_change_sticks_and_a_resend_succeeds(client, sub, sandbox):
    new_invoice(client, sub, "ST-1")
    for _ in range(2):
        status, reply = call(
            client, "invoice_status_update", {"invoice_id": "", "invoice_no": "ST-1", "status": 5}
        )
        assert (status, reply["code"], reply["object_name"]) == (
            200,
            0,
            "subscription_invoice_status_update",
        )
    page = call(client, "invoice_list", {"reference_no": sub.reference_no})[1]
    assert page["data"][0]["status"] == 5
    assert sandbox.get_invoice("ST-1").status is S.CANCEL


def test_status_update_by_invoice_id_int_or_string(client, sub, sandbox):
    new_invoice(client, sub, "ID-1")
    invoice_id = sandbox.get_invoice("ID-1").invoice_id
    assert (
        call(client, "invoice_status_update", {"invoice_id": invoice_id, "status": 4})[1]["code"]
        == 0
    )
    assert (
        call(client, "invoice_status_update", {"invoice_id": str(invoice_id), "status": "0"})[1][
            "code"
        ]
        == 0
    )
    assert sandbox.get_invoice("ID-1").status is S.WAITING


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(client, sub, sandbox, current, target):
    sandbox.add_invoice(reference_no=sub.reference_no, invoice_no="T", amount=100, status=current)
    status, reply = call(
        client, "invoice_status_update", {"invoice_no": "T", "status": int(target)}
    )
    assert status == 200
    if current == target or (current, target) in ALLOWED:
        assert reply["code"] == 0
        assert sandbox.get_invoice("T").status == target
    else:
        assert reply["code"] == 6
        assert reply["object_name"] == "subscription_invoice_status_update"
        assert str(int(current)) in reply["message"] and str(int(target)) in reply["message"]
        assert current.label in reply["message"] and target.label in reply["message"]
        assert sandbox.get_invoice("T").status == current


@pytest.mark.parametrize("value", [1, 7, -1, "x", "Cancel", None, 2.5, True])
def test_status_must_be_a_documented_code(client, sub, value):
    new_invoice(client, sub, "SV")
    status, reply = call(client, "invoice_status_update", {"invoice_no": "SV", "status": value})
    assert status == 400 and "status" in reply["message"]


def test_status_update_needs_an_invoice(client, sub):
    status, reply = call(
        client, "invoice_status_update", {"invoice_id": "", "invoice_no": "", "status": 5}
    )
    assert status == 400 and "invoice_id" in reply["message"] and "invoice_no" in reply["message"]
    status, reply = call(client, "invoice_status_update", {"invoice_no": "NOPE", "status": 5})
    assert (status, reply["type"], reply["result_code"]) == (404, "no_data_error", 12)
    status, reply = call(client, "invoice_status_update", {"invoice_id": "abc", "status": 5})
    assert status == 400 and "invoice_id" in reply["message"]


@settings(
    max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(targets=st.lists(st.sampled_from(list(S)), min_size=1, max_size=12))
def test_any_sequence_of_updates_follows_the_table(client, sub, sandbox, targets):
    sandbox.reset()
    sandbox.add_subscription(reference_no=sub.reference_no)
    sandbox.add_invoice(reference_no=sub.reference_no, invoice_no="P", amount=100)
    expected = S.WAITING
    for target in targets:
        code = call(client, "invoice_status_update", {"invoice_no": "P", "status": int(target)})[1][
            "code"
        ]
        if expected == target or (expected, target) in ALLOWED:
            assert code == 0
            expected = target
        else:
            assert code == 6
        assert sandbox.get_invoice("P").status == expected


# -- invoices_status_update_all ----------------------------------------------------------------
def test_bulk_status_update_applies_where_allowed_and_skips_the_rest(client, sub, sandbox):
    for no, st_ in [
        ("B0", S.WAITING),
        ("B4", S.DONE_UNSUCCEED),
        ("B3", S.DONE_SUCCEED),
        ("B5", S.CANCEL),
    ]:
        sandbox.add_invoice(reference_no=sub.reference_no, invoice_no=no, amount=100, status=st_)
    other = sandbox.add_subscription(reference_no="90005555")
    sandbox.add_invoice(reference_no=other.reference_no, invoice_no="OTHER", amount=100)
    status, reply = call(
        client, "invoices_status_update_all", {"subscription_id": sub.subscription_id, "status": 5}
    )
    assert (status, reply["code"], reply["object_name"]) == (
        200,
        0,
        "subscription_invoices_status_update_all",
    )
    got = {i.invoice_no: i.status for i in sandbox.invoices()}
    assert got == {
        "B0": S.CANCEL,
        "B4": S.CANCEL,
        "B3": S.DONE_SUCCEED,
        "B5": S.CANCEL,
        "OTHER": S.WAITING,
    }


def test_bulk_status_update_unknown_subscription(client):
    status, reply = call(client, "invoices_status_update_all", {"reference_no": "123", "status": 5})
    assert (status, reply["result_code"]) == (404, 12)


# -- invoice_amount_update --------------------------------------------------------------------
def test_amount_update_changes_amount_of_open_invoices_only(client, sub, sandbox):
    new_invoice(client, sub, "AM-1", amount=1000, agent_amount=100, company_amount=900)
    status, reply = call(
        client, "invoice_amount_update", {"invoice_id": "", "invoice_no": "AM-1", "amount": "2000"}
    )
    assert (status, reply["code"], reply["object_name"]) == (
        200,
        0,
        "subscription_invoice_amount_update",
    )
    invoice = sandbox.get_invoice("AM-1")
    assert (
        invoice.amount == 2000 and invoice.agent_amount is None
    )  # the old split no longer adds up
    sandbox.set_invoice_status("AM-1", S.DONE_SUCCEED)
    status, reply = call(client, "invoice_amount_update", {"invoice_no": "AM-1", "amount": "3000"})
    assert (status, reply["code"]) == (200, 6)
    assert sandbox.get_invoice("AM-1").amount == 2000


def test_amount_update_validates_amount_and_split(client, sub):
    new_invoice(client, sub, "AM-2")
    status, reply = call(client, "invoice_amount_update", {"invoice_no": "AM-2", "amount": "10,50"})
    assert status == 400 and "amount" in reply["message"]
    status, reply = call(
        client,
        "invoice_amount_update",
        {"invoice_no": "AM-2", "amount": "1000", "agent_amount": "1", "company_amount": "1"},
    )
    assert status == 400 and "agent_amount" in reply["message"]


# -- invoice_list -----------------------------------------------------------------------------
@pytest.fixture
def many(sandbox, sub):
    for n in range(25):
        status = S.DONE_SUCCEED if n % 5 == 0 else S.WAITING
        sandbox.add_invoice(
            reference_no=sub.reference_no, invoice_no=f"L{n:02d}", amount=100 + n, status=status
        )
    return sub


def test_invoice_list_pages_by_index(client, many):
    def page(**kw):
        return call(client, "invoice_list", {"reference_no": many.reference_no, **kw})[1]

    first = page()
    assert (first["total"], first["total_count"], first["limit"], first["has_more"]) == (
        25,
        10,
        10,
        True,
    )
    assert [d["invoice_no"] for d in first["data"]] == [f"L{n:02d}" for n in range(10)]
    second = page(starting_after=10, limit=10)
    assert [d["invoice_no"] for d in second["data"]] == [f"L{n:02d}" for n in range(10, 20)]
    last = page(starting_after=20, limit=10)
    assert (last["total_count"], last["has_more"]) == (5, False)
    assert page(starting_after=30)["data"] == []
    before = page(ending_before=15, limit=5)
    assert [d["invoice_no"] for d in before["data"]] == [f"L{n:02d}" for n in range(10, 15)]
    assert before["has_more"] is True
    assert page(limit=100)["total_count"] == 25
    ids = [d["invoice_id"] for d in page(limit=100)["data"]]
    assert ids == sorted(ids)


def test_invoice_list_filters_by_status_as_string_or_int(client, many):
    for value in ("3", 3):
        reply = call(
            client,
            "invoice_list",
            {"reference_no": many.reference_no, "invoice_status": value, "limit": 100},
        )[1]
        assert reply["total"] == 5 and {d["status"] for d in reply["data"]} == {3}


def test_invoice_list_by_subscription_id_and_agent(client, sandbox):
    agent_sub = sandbox.add_subscription(reference_no="90007777", agent_id="AG1")
    sandbox.add_invoice(reference_no="90007777", invoice_no="AGI", amount=100)
    body = {"subscription_id": agent_sub.subscription_id}
    assert call(client, "invoice_list", {**body, "agent_id": "AG1"})[1]["total"] == 1
    assert call(client, "invoice_list", {**body, "agent_id": "AG2"})[1]["total"] == 0


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"starting_after": -1}, "starting_after"),
        ({"invoice_status": "9"}, "invoice_status"),
        ({"starting_after": 1, "ending_before": 5}, "ending_before"),
    ],
)
def test_invoice_list_validation(client, many, extra, field):
    status, reply = call(client, "invoice_list", {"reference_no": many.reference_no, **extra})
    assert status == 400 and field in reply["message"]


def test_invoice_list_needs_a_known_subscription(client):
    assert call(client, "invoice_list", {})[0] == 400
    assert call(client, "invoice_list", {"reference_no": "nope"})[0] == 404


# -- list and subscription_detail -------------------------------------------------------------
def test_subscription_list_filters_on_creation_day_inclusive(client, sandbox):
    for day in (1, 2, 3):
        sandbox.add_subscription(
            reference_no=f"9100000{day}", created_at=datetime(2026, 2, day, 23, 59, tzinfo=ISTANBUL)
        )
    reply = call(client, "list", {"datab": "02.02.2026", "datbi": "03.02.2026"})[1]
    assert reply["object_name"] == "subscription_list" and reply["code"] == 0
    assert [d["reference_no"] for d in reply["data"]] == ["91000002", "91000003"]
    item = reply["data"][0]
    assert item["created_at"] == "02.02.2026 23:59:00" and item["amount"] == "10000"
    assert set(item) >= {
        "subscription_id",
        "name_surname",
        "interval",
        "interval_count",
        "begin_date",
        "is_fixed_price",
        "status",
    }
    paged = call(
        client,
        "list",
        {"datab": "01.01.2026", "datbi": "31.12.2026", "limit": 2, "starting_after": 2},
    )[1]
    assert (paged["total"], [d["reference_no"] for d in paged["data"]], paged["has_more"]) == (
        3,
        ["91000003"],
        False,
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"datbi": "01.02.2016"}, "datab"),
        ({"datab": "01.02.2016"}, "datbi"),
        ({"datab": "2016-02-01", "datbi": "01.02.2016"}, "datab"),
        ({"datab": "02.02.2016", "datbi": "01.02.2016"}, "datbi"),
    ],
)
def test_subscription_list_validation(client, body, field):
    status, reply = call(client, "list", body)
    assert status == 400 and field in reply["message"]


def test_subscription_detail(client, sandbox):
    created = NOW - timedelta(days=3)
    sub = sandbox.add_subscription(
        reference_no="90000573",
        amount=15000,
        agent_id="AG9",
        agent_amount=1500,
        company_amount=13500,
        created_at=created,
    )
    for body in (
        {"reference_no": "90000573"},
        {"subscription_id": sub.subscription_id, "reference_no": ""},
    ):
        status, reply = call(client, "subscription_detail", body)
        assert status == 200
        assert (reply["object_name"], reply["code"], reply["message"]) == (
            "subscription_detail",
            0,
            "Başarılı Islem",
        )
        assert reply["subscription_id"] == sub.subscription_id
        assert (reply["amount"], reply["agent_amount"], reply["company_amount"]) == (
            "15000",
            "1500",
            "13500",
        )
        assert reply["created_at"] == "28.04.2026 12:00:00"
    assert call(client, "subscription_detail", {"reference_no": "x"})[0] == 404


# -- transport-level contract -----------------------------------------------------------------
def test_auth_errors(sandbox):
    with httpx.Client(transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL) as c:
        for headers in (
            {},
            {"Authorization": "sck_x"},
            {"Authorization": "Bearer sck_x"},
            {"Authorization": "Basic "},
            {"Authorization": "Basic c2NrX3Rlc3Q6"},
            {"Authorization": "Basic pk_x"},
        ):
            r = c.post(
                "/v1/subscription/list",
                json={"datab": "01.01.2026", "datbi": "01.01.2026"},
                headers=headers,
            )
            assert r.status_code == 401
            body = r.json()
            assert (body["type"], body["code"], body["result_code"]) == (
                "authorization_error",
                401,
                7,
            )
            assert body["message"]


def test_restricted_keys(client):
    strict = Sandbox(paynet_keys={"sck_only_this"})
    try:
        with httpx.Client(transport=SandboxTransport(strict), base_url=PAYNET_BASE_URL) as c:
            body = {"datab": "01.01.2026", "datbi": "01.01.2026"}
            assert c.post("/v1/subscription/list", json=body, headers=AUTH).status_code == 401
            ok = c.post(
                "/v1/subscription/list", json=body, headers={"Authorization": "Basic sck_only_this"}
            )
            assert ok.status_code == 200
    finally:
        strict.close()


def test_method_path_and_body_errors(client):
    r = client.get("/v1/subscription/list")
    assert r.status_code == 405 and r.json()["code"] == 405
    r = client.post("/v1/subscription/no_such_op", json={})
    assert r.status_code == 404 and r.json()["type"] == "404 Not Found"
    r = client.post("/v1/subscription/list", content=b"{not json")
    assert (
        r.status_code == 400
        and r.json()["type"] == "invalid_request_error"
        and "JSON" in r.json()["message"]
    )
    r = client.post("/v1/subscription/list", json=[1, 2])
    assert r.status_code == 400 and "object" in r.json()["message"]
    # the published bulk sample leaves the GUID unquoted: not JSON, so a 400
    raw = b'{"subscription_id": 68bdfa37-65cd-4481-b14a-90aa731ccf3b, "status":4}'
    assert (
        client.post("/v1/subscription/invoices_status_update_all", content=raw).status_code == 400
    )


def test_request_counts_and_call_log(client, sub, sandbox):
    new_invoice(client, sub, "RC-1")
    new_invoice(client, sub, "RC-1")
    call(client, "invoice_list", {"reference_no": sub.reference_no})
    client.post("/v1/subscription/list", json={})  # a 400 is still a request
    assert sandbox.request_counts == {"create_invoice": 2, "invoice_list": 1, "list": 1}
    assert sandbox.calls[0][0] == "create_invoice" and sandbox.calls[0][1]["invoice_no"] == "RC-1"
    assert len(sandbox.calls) == 4


def test_call_log_is_bounded(sub):
    small = Sandbox(max_calls=3)
    try:
        with httpx.Client(
            transport=SandboxTransport(small), base_url=PAYNET_BASE_URL, headers=AUTH
        ) as c:
            for n in range(5):
                c.post("/v1/subscription/list", json={"n": n})
        assert [body["n"] for _, body in small.calls] == [2, 3, 4]
        assert small.request_counts == {"list": 5}
    finally:
        small.close()


def test_concurrent_creates_of_one_invoice_no_make_one_invoice(sandbox, sub):
    codes = []
    barrier = threading.Barrier(16)

    def worker():
        with httpx.Client(
            transport=SandboxTransport(sandbox), base_url=PAYNET_BASE_URL, headers=AUTH
        ) as c:
            barrier.wait()
            codes.append(new_invoice(c, sub, "RACE")[1]["code"])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(codes) == [0] + [5] * 15
    assert len(sandbox.invoices()) == 1


def test_reset_forgets_everything(client, sub, sandbox):
    new_invoice(client, sub, "R1")
    sandbox.faults.fail_next("*", "http_500")
    sandbox.reset()
    assert sandbox.invoices() == [] and sandbox.subscriptions() == []
    assert sandbox.request_counts == {} and sandbox.calls == [] and sandbox.faults.pending == []
    again = sandbox.add_subscription(reference_no="90001234")
    new_invoice(client, again, "R1")
    assert sandbox.get_invoice("R1").invoice_id == 1  # sequences restart too
