from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.sandbox import PAYOFIN_BASE_URL, Sandbox, SandboxTransport
from paynet_core.sandbox.core import encode_json

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)
KEYS = {"ApiKey": "11111111-api", "SecretKey": "22222222-secret"}


@pytest.fixture
def clock():
    return lambda: NOW


@pytest.fixture
def client(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox), base_url=PAYOFIN_BASE_URL, headers=KEYS
    ) as c:
        yield c


def post(client, op, body):
    r = client.post(f"/invoices/{op}", json=body)
    assert r.status_code == 200, r.text
    return r.json(parse_float=Decimal)


def pay(sandbox, day, amount=12345, **kw):
    return sandbox.add_payment(
        subscriber_no="01345677000", invoice_amount=amount, payment_date=day, **kw
    )


def test_sootlist_is_a_get_with_the_documented_fields(client):
    r = client.get("/invoices/sootlist")
    body = r.json()
    assert (r.status_code, body["result"], body["resultCode"], body["resultMessage"]) == (
        200,
        True,
        1,
        "İşlem Başarılı",
    )
    first = body["sootList"][0]
    assert (first["sootCode"], first["sootName"], first["invoiceType"]) == (
        1,
        "İSKİ",
        "Su Faturası",
    )
    assert set(first["fields"]) == {
        "title",
        "description",
        "mask",
        "required",
        "additionalNoRequired",
        "partialAmount",
    }
    names = {(s["sootName"], s["invoiceType"]) for s in body["sootList"]}
    assert {
        ("BEDAŞ", "Elektrik Faturası"),
        ("İGDAŞ", "Doğalgaz Faturası"),
        ("Türk Telekom", "Telefon Faturası"),
    } <= names
    assert client.post("/invoices/sootlist", json={}).status_code == 405


def test_invoicecheck_finds_a_payment_with_exact_decimals(sandbox, client):
    p = pay(sandbox, date(2026, 4, 20), amount=110_074, profit=175, customer_name="AY** YI****")
    r = client.post("/invoices/invoicecheck", json={"invoicePaymentId": p.invoice_payment_id})
    detail = r.json(parse_float=Decimal)["invoiceDetail"]
    assert detail["invoiceAmount"] == Decimal("1100.74") and detail["profit"] == Decimal("1.75")
    assert b'"invoiceAmount":1100.74' in r.content and b'"profit":1.75' in r.content
    assert (detail["paymentDate"], detail["status"], detail["customerName"]) == (
        "20.04.2026",
        "Paid",
        "AY** YI****",
    )


def test_invoicecheck_reads_field_names_case_insensitively_and_digit_strings(sandbox, client):
    p = pay(sandbox, date(2026, 4, 20))
    assert (
        post(client, "invoicecheck", {"InvoicePaymentId": str(p.invoice_payment_id)})["resultCode"]
        == 1
    )


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, -21),
        ({"invoicePaymentId": ""}, -21),
        ({"invoicePaymentId": "abc"}, -21),
        ({"invoicePaymentId": 999999}, -11),
    ],
)
def test_invoicecheck_failures(client, body, code):
    reply = post(client, "invoicecheck", body)
    assert (reply["result"], reply["resultCode"]) == (False, code)
    assert reply["resultMessage"] and "invoiceDetail" not in reply


def test_late_cancellation_shows_in_check_and_list(sandbox, client):
    p = pay(sandbox, date(2026, 4, 20))
    sandbox.cancel_payment(p.invoice_payment_id)
    assert (
        post(client, "invoicecheck", {"invoicePaymentId": p.invoice_payment_id})["invoiceDetail"][
            "status"
        ]
        == "Cancelled"
    )
    listed = post(client, "invoicelist", {"firstDate": "2026-04-20", "lastDate": "2026-04-20"})[
        "invoiceList"
    ]
    assert [(i["invoicePaymentId"], i["status"]) for i in listed] == [
        (p.invoice_payment_id, "Cancelled")
    ]


def test_invoicelist_is_inclusive_and_limited_to_15_days(sandbox, client):
    ids = {d: pay(sandbox, date(2026, 4, d)).invoice_payment_id for d in (1, 2, 15, 16)}
    reply = post(
        client, "invoicelist", {"firstDate": "2026-04-02", "lastDate": "2026-04-16"}
    )  # 15 days
    assert [i["invoicePaymentId"] for i in reply["invoiceList"]] == [ids[2], ids[15], ids[16]]
    assert set(reply["invoiceList"][0]) == {
        "invoicePaymentId",
        "invoiceType",
        "sootName",
        "subscriberNo",
        "customerName",
        "invoiceNo",
        "expDate",
        "invoiceAmount",
        "profit",
        "paymentDate",
        "status",
    }
    too_long = post(
        client, "invoicelist", {"firstDate": "2026-04-01", "lastDate": "2026-04-16"}
    )  # 16 days
    assert (too_long["result"], too_long["resultCode"]) == (False, -9)
    assert (
        post(client, "invoicelist", {"firstDate": "2026-03-01", "lastDate": "2026-03-05"})[
            "invoiceList"
        ]
        == []
    )


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, None),
        ({"firstDate": "2026-04-01"}, None),
        ({"firstDate": "01.04.2026", "lastDate": "2026-04-02"}, "firstDate"),
        ({"firstDate": "2026-04-01", "lastDate": "2026-13-01"}, "lastDate"),
        ({"firstDate": "2026-04-05", "lastDate": "2026-04-01"}, "lastDate"),
    ],
)
def test_invoicelist_date_errors(client, body, fragment):
    reply = post(client, "invoicelist", body)
    assert (reply["result"], reply["resultCode"]) == (False, -26)
    if fragment:
        assert fragment in reply["resultMessage"]


def test_auth_failures_are_minus_22_with_http_200(sandbox):
    with httpx.Client(transport=SandboxTransport(sandbox), base_url=PAYOFIN_BASE_URL) as c:
        for headers in ({}, {"ApiKey": "a"}, {"SecretKey": "b"}, {"ApiKey": "", "SecretKey": "b"}):
            r = c.post("/invoices/invoicecheck", json={"invoicePaymentId": 1}, headers=headers)
            assert r.status_code == 200
            assert r.json() == {
                "result": False,
                "resultCode": -22,
                "resultMessage": "Kullanıcı bilgileri hatalı",
            }


def test_restricted_key_pairs():
    strict = Sandbox(payofin_keys={("api-1", "secret-1")})
    try:
        with httpx.Client(transport=SandboxTransport(strict), base_url=PAYOFIN_BASE_URL) as c:
            assert (
                c.get(
                    "/invoices/sootlist", headers={"ApiKey": "api-1", "SecretKey": "other"}
                ).json()["resultCode"]
                == -22
            )
            assert (
                c.get(
                    "/invoices/sootlist", headers={"apikey": "api-1", "secretkey": "secret-1"}
                ).json()["resultCode"]
                == 1
            )
    finally:
        strict.close()


def test_query_pay_check_flow(sandbox, client):
    query = post(
        client,
        "invoicequery",
        {"sootCode": 1, "subscriberNo": "01345677000", "additionalNo": "", "firmRefNo": "REF1"},
    )
    assert query["resultCode"] == 1 and query["invoiceList"]
    bill = query["invoiceList"][0]
    assert set(bill) >= {
        "invoiceQueryId",
        "subscriberNo",
        "customerName",
        "invoiceNo",
        "expDate",
        "invoiceAmount",
        "merchantProfit",
    }
    paid = post(client, "invoicepayment", {"invoiceQueryId": bill["invoiceQueryId"]})
    details = paid["payofinPaymentDetails"]
    assert paid["resultCode"] == 1 and details["paymentAmount"] == bill["invoiceAmount"]
    assert details["profit"] == bill["merchantProfit"] and details["paymentDate"] == "01.05.2026"
    assert isinstance(details["balance"], Decimal)
    again = post(client, "invoicepayment", {"invoiceQueryId": bill["invoiceQueryId"]})
    assert (again["result"], again["resultCode"]) == (False, -10)
    check = post(client, "invoicecheck", {"invoicePaymentId": details["invoicePaymentId"]})[
        "invoiceDetail"
    ]
    assert (check["invoiceNo"], check["invoiceAmount"], check["status"]) == (
        bill["invoiceNo"],
        bill["invoiceAmount"],
        "Paid",
    )
    listed = post(client, "invoicelist", {"firstDate": "2026-05-01", "lastDate": "2026-05-01"})[
        "invoiceList"
    ]
    assert [i["invoicePaymentId"] for i in listed] == [details["invoicePaymentId"]]


def test_bills_are_the_same_for_the_same_subscriber_in_any_sandbox():
    def bills():
        with (
            Sandbox(clock=lambda: NOW) as sb,
            httpx.Client(
                transport=SandboxTransport(sb), base_url=PAYOFIN_BASE_URL, headers=KEYS
            ) as c,
        ):
            return [
                c.post(
                    "/invoices/invoicequery",
                    json={"sootCode": code, "subscriberNo": f"1234567{code:04d}", "firmRefNo": "R"},
                ).json()
                for code in (1, 2, 3, 4)
            ]

    assert bills() == bills()


def test_partial_payment_rules(sandbox, client):
    bill = sandbox.state.insert_bill(
        soot_code=1,
        subscriber_no="01345677000",
        customer_name="DE*** ÖZ****",
        invoice_no="77",
        exp_date=date(2026, 5, 10),
        amount=10_000,
    )
    qid = bill.invoice_query_id
    assert (
        post(client, "invoicepayment", {"invoiceQueryId": qid, "partialAmount": 10.5})["resultCode"]
        == -8
    )
    assert (
        post(client, "invoicepayment", {"invoiceQueryId": qid, "partialAmount": 101})["resultCode"]
        == -20
    )
    part = post(client, "invoicepayment", {"invoiceQueryId": qid, "partialAmount": 40})
    assert part["payofinPaymentDetails"]["paymentAmount"] == Decimal("40.00")
    rest = post(
        client, "invoicequery", {"sootCode": 1, "subscriberNo": "01345677000", "firmRefNo": "R2"}
    )
    assert rest["invoiceList"][0]["invoiceAmount"] == Decimal("60.00")
    assert post(client, "invoicepayment", {"invoiceQueryId": qid})["resultCode"] == 1
    assert (
        post(
            client,
            "invoicequery",
            {"sootCode": 1, "subscriberNo": "01345677000", "firmRefNo": "R3"},
        )["resultCode"]
        == -1
    )


@pytest.mark.parametrize(
    "body, code",
    [
        ({"sootCode": 999, "subscriberNo": "0134567700", "firmRefNo": "R"}, -17),
        ({"subscriberNo": "0134567700", "firmRefNo": "R"}, -17),
        ({"sootCode": 1, "subscriberNo": "12AB", "firmRefNo": "R"}, -14),
        ({"sootCode": 1, "subscriberNo": "0134567700", "firmRefNo": ""}, -15),
        ({"sootCode": 1, "subscriberNo": "0134567700", "firmRefNo": "X" * 16}, -15),
        ({"sootCode": 9, "subscriberNo": "0134567700", "firmRefNo": "R"}, -16),
    ],
)
def test_invoicequery_validation(client, body, code):
    reply = post(client, "invoicequery", body)
    assert (reply["result"], reply["resultCode"]) == (False, code)


def test_invoicepayment_unknown_bill(client):
    assert post(client, "invoicepayment", {"invoiceQueryId": 424242})["resultCode"] == -19
    assert post(client, "invoicepayment", {})["resultCode"] == -19


def test_unreadable_body_and_unknown_path(client):
    r = client.post("/invoices/invoicecheck", content=b"{broken")
    assert r.status_code == 400 and r.json()["resultCode"] == -21
    assert client.post("/invoices/nothing", json={}).status_code == 404
    assert (
        client.post("/Invoices/InvoiceCheck", json={"invoicePaymentId": 1}).json()["resultCode"]
        == -11
    )


def test_request_counts_per_payofin_operation(sandbox, client):
    client.get("/invoices/sootlist")
    post(client, "invoicecheck", {"invoicePaymentId": 1})
    post(client, "invoicecheck", {"invoicePaymentId": 2})
    assert sandbox.request_counts == {"sootlist": 1, "invoicecheck": 2}


def test_encode_json_writes_decimals_exactly():
    assert (
        encode_json({"a": Decimal("1.00"), "b": [Decimal("0.5")], "c": "ş"})
        == '{"a":1.00,"b":[0.50],"c":"ş"}'.encode()
    )
    assert encode_json({"a": 1}) == b'{"a": 1}'
