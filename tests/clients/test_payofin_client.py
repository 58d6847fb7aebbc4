import json
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from paynet_core.errors import (
    APIError,
    AuthenticationError,
    ContractError,
    NotFoundError,
    ServerError,
)
from paynet_core.outcomes import Outcome
from paynet_core.payofin import PayofinClient

SEED_REPLY = (
    '{ "invoiceDetail": { "invoicePaymentId": 1786, "invoiceType": "Su Faturası", "sootName": "İSKİ", '
    '"subscriberNo": "01345677000", "customerName": "DE*** ÖZ****", "invoiceNo": "0000000", '
    '"expDate": "10.05.2022", "invoiceAmount": 1.00, "profit": 0.50, "paymentDate": "10.05.2022", '
    '"status": "Paid" }, "result": true, "resultCode": 1, "resultMessage": "İşlem Başarılı" }'
)


def payofin(handler, **kw):
    return PayofinClient(
        "api-guid",
        "secret-guid",
        environment="test",
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        **kw,
    )


def test_invoice_check_reads_the_documented_sample_exactly():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, text=SEED_REPLY, headers={"content-type": "application/json"})

    p = payofin(handler).invoice_check(1786)
    req = seen[0]
    assert str(req.url) == "https://api-test.payofin.com/invoices/invoicecheck"
    assert req.headers["ApiKey"] == "api-guid" and req.headers["SecretKey"] == "secret-guid"
    assert json.loads(req.content) == {"invoicePaymentId": 1786}
    assert p.amount_kurus == 100 and p.fee_kurus == 50  # 1.00 TL and 0.50 TL, exactly
    assert p.institution == "İSKİ" and p.invoice_type == "Su Faturası"
    assert p.customer_name == "DE*** ÖZ****"
    assert p.due_date == date(2022, 5, 10) and p.paid_day == date(2022, 5, 10)
    assert p.status == "Paid" and p.outcome is Outcome.PAID


@pytest.mark.parametrize("amount", ["110740.99", "0.01", "19999.99", "1"])
def test_amounts_convert_exactly_without_float(amount):
    body = json.loads(SEED_REPLY)
    body["invoiceDetail"]["invoiceAmount"] = "__AMOUNT__"
    text = json.dumps(body).replace('"__AMOUNT__"', amount)
    p = payofin(lambda r: httpx.Response(200, text=text)).invoice_check(1)
    assert p.amount_kurus == int(Decimal(amount) * 100)


def test_an_amount_with_three_decimals_breaks_the_contract():
    text = SEED_REPLY.replace('"invoiceAmount": 1.00', '"invoiceAmount": 1.005')
    with pytest.raises(ContractError, match="invoiceAmount"):
        payofin(lambda r: httpx.Response(200, text=text)).invoice_check(1)


def test_an_unknown_status_breaks_the_contract():
    text = SEED_REPLY.replace('"Paid"', '"Refunded"')
    with pytest.raises(ContractError, match="status"):
        payofin(lambda r: httpx.Response(200, text=text)).invoice_check(1)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-22, AuthenticationError),
        (-11, NotFoundError),
        (-19, NotFoundError),
        (-9, APIError),
        (-10, APIError),
    ],
)
def test_negative_codes_raise_typed_errors_with_meaning(code, error):
    reply = httpx.Response(200, json={"result": False, "resultCode": code, "resultMessage": "Hata"})
    with pytest.raises(error) as exc:
        payofin(lambda r: reply).invoice_check(5)
    assert exc.value.code == code
    assert "Hata" in str(exc.value)


@pytest.mark.parametrize("message", ["\r\n", 7, None])
def test_a_blank_or_odd_result_message_reads_the_code_meaning(message):
    reply = httpx.Response(200, json={"result": False, "resultCode": -11, "resultMessage": message})
    with pytest.raises(NotFoundError) as exc:
        payofin(lambda r: reply).invoice_check(5)
    assert exc.value.message.strip() and exc.value.message != str(message)


def test_transient_codes_are_retried():
    replies = [
        httpx.Response(
            200, json={"result": False, "resultCode": -6, "resultMessage": "Kurum bağlantı hatası"}
        ),
        httpx.Response(
            200, json={"result": False, "resultCode": -18, "resultMessage": "Sunucu hatası"}
        ),
        httpx.Response(200, text=SEED_REPLY),
    ]
    calls = []

    def handler(request):
        calls.append(request)
        return replies.pop(0)

    assert payofin(handler).invoice_check(1786).invoice_payment_id == 1786
    assert len(calls) == 3


def test_transient_codes_give_up_with_a_server_error():
    reply = httpx.Response(
        200, json={"result": False, "resultCode": -24, "resultMessage": "Başka bankada işlemde"}
    )
    with pytest.raises(ServerError) as exc:
        payofin(lambda r: reply, max_retries=1).invoice_check(1)
    assert exc.value.code == -24 and exc.value.is_retryable


def test_list_payments_over_40_days_uses_windows_of_at_most_15_days_without_gaps_or_overlaps():
    windows = []

    def handler(request):
        body = json.loads(request.content)
        first, last = date.fromisoformat(body["firstDate"]), date.fromisoformat(body["lastDate"])
        windows.append((first, last))
        assert (last - first).days + 1 <= 15
        items = []
        day = first
        while day <= last:
            detail = json.loads(SEED_REPLY)["invoiceDetail"]
            detail.update(invoicePaymentId=day.toordinal(), paymentDate=day.strftime("%d.%m.%Y"))
            items.append(detail)
            day += timedelta(days=1)
        text = json.dumps({"invoiceList": items, "result": True, "resultCode": 1}).replace(
            '"1.00"', "1.00"
        )
        return httpx.Response(
            200, text=text.replace('"invoiceAmount": 1.0', '"invoiceAmount": 1.00')
        )

    start = date(2026, 1, 1)
    end = start + timedelta(days=39)
    payments = payofin(handler).list_payments(start, end)
    assert len(windows) == 3
    covered = [w[0] + timedelta(days=i) for w in windows for i in range((w[1] - w[0]).days + 1)]
    assert covered == [start + timedelta(days=i) for i in range(40)]  # every day once, in order
    assert [p.paid_day for p in payments] == covered


def test_list_institutions():
    reply = httpx.Response(
        200,
        json={
            "sootList": [
                {
                    "sootCode": 1,
                    "sootName": "İSKİ",
                    "invoiceType": "Su Faturası",
                    "description": "x",
                    "fields": {},
                }
            ],
            "result": True,
            "resultCode": 1,
        },
    )
    (inst,) = payofin(lambda r: reply).list_institutions()
    assert inst.soot_code == 1 and inst.name == "İSKİ"


def test_keys_never_show_in_repr():
    c = PayofinClient(
        "api-guid-1234567890",
        "secret-guid-abcdefgh",
        environment="test",
        transport=httpx.MockTransport(lambda r: None),
    )
    assert "secret-guid" not in repr(c) and "api-guid-1234567890" not in repr(c)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"sootCode": 1.5, "sootName": "İSKİ"}, "sootCode"),
        ({"sootCode": True, "sootName": "İSKİ"}, "sootCode"),
        ({"sootCode": 1, "sootName": ["İSKİ"]}, "sootName"),
        ({"sootCode": 1}, "sootName"),
        ({"sootCode": 1, "sootName": "İSKİ", "invoiceType": {"tr": "Su"}}, "invoiceType"),
        ("İSKİ", "not an object"),
    ],
)
def test_a_malformed_soot_list_item_names_the_field(item, field):
    reply = httpx.Response(200, json={"sootList": [item], "result": True, "resultCode": 1})
    with pytest.raises(ContractError, match=field):
        payofin(lambda r: reply).list_institutions()


def test_a_reply_that_echoes_either_key_does_not_put_it_in_the_error():
    api_key, secret_key = "api-guid-0123456789", "secret-guid-abcdefghij"
    reply = httpx.Response(
        200,
        json={
            "resultCode": -22,
            "resultMessage": f"ApiKey {api_key} / SecretKey {secret_key} hatalı",
        },
    )
    client = PayofinClient(
        api_key, secret_key, environment="test", transport=httpx.MockTransport(lambda r: reply)
    )
    with pytest.raises(AuthenticationError) as exc:
        client.invoice_check(1)
    assert api_key not in str(exc.value) and secret_key not in str(exc.value)
    assert "…6789" in str(exc.value) and "hatalı" in str(exc.value)
