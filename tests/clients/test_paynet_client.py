import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    ContractError,
    DuplicateError,
    InputError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from paynet_core.paynet import InvoiceStatus, PaynetClient

KEY = "sck_pcs_jECRyoZq0khnsV9elaF/SIBVvxQI+bIW"


class Recorder:
    """A MockTransport handler that answers from a queue and keeps every request."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def bodies(self):
        return [json.loads(r.content) for r in self.requests]


def ok(**extra):
    return httpx.Response(
        200, json={"object_name": "x", "code": 0, "message": "Başarılı Islem", **extra}
    )


def client(recorder, **kw) -> PaynetClient:
    sleeps = kw.pop("sleeps", [])
    return PaynetClient(
        KEY, environment="test", transport=httpx.MockTransport(recorder), sleep=sleeps.append, **kw
    )


def test_status_update_wire_format_matches_the_documented_sample():
    rec = Recorder(ok())
    reply = client(rec).update_invoice_status(
        invoice_no="11400505", status=InvoiceStatus.DONE_UNSUCCEED
    )
    req = rec.requests[0]
    assert req.method == "POST"
    assert str(req.url) == "https://pts-api.paynet.com.tr/v1/subscription/invoice_status_update"
    assert req.headers["Authorization"] == f"Basic {KEY}"  # the raw key, not base64
    assert json.loads(req.content) == {"invoice_id": "", "invoice_no": "11400505", "status": 4}
    assert reply.code == 0


def test_create_invoice_sends_kurus_digit_strings_istanbul_date_and_an_invoice_no():
    rec = Recorder(ok())
    created = client(rec).create_invoice(
        reference_no="90000600",
        amount=28898,
        agent_amount=2926,
        company_amount=25972,
        val_date=datetime(2017, 10, 3, 10, 32, 24),
        invoice_no="11400556",
    )
    assert rec.bodies()[0] == {
        "subscription_id": "",
        "reference_no": "90000600",
        "amount": "28898",
        "agent_amount": "2926",
        "company_amount": "25972",
        "currency": "TRY",
        "val_date": "03.10.2017 10:32:24",
        "invoice_no": "11400556",
    }
    assert created.invoice_no == "11400556" and created.amount == 28898 and not created.recovered


def test_create_invoice_converts_aware_datetimes_to_istanbul():

    rec = Recorder(ok())
    client(rec).create_invoice(
        subscription_id="s", amount=100, val_date=datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
    )
    assert rec.bodies()[0]["val_date"] == "01.01.2026 10:00:00"


def test_create_invoice_generates_a_unique_invoice_no_when_none_is_given():
    rec = Recorder(ok())
    c = client(rec)
    numbers = {
        c.create_invoice(subscription_id="s", amount=100, val_date=datetime(2026, 1, 1)).invoice_no
        for _ in range(50)
    }
    assert len(numbers) == 50
    assert all(b["invoice_no"] in numbers for b in rec.bodies())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(amount=100), "subscription_id"),
        (dict(subscription_id="s", amount=10.5), "amount"),
        (dict(subscription_id="s", amount=0), "amount"),
        (dict(subscription_id="s", amount=True), "amount"),
        (dict(subscription_id="s", amount=100, agent_amount=60, company_amount=50), "agent_amount"),
        (dict(subscription_id="s", amount=100, agent_amount=150), "agent_amount"),
    ],
)
def test_create_invoice_rejects_bad_arguments_before_sending(kwargs, field):
    rec = Recorder(ok())
    with pytest.raises(InputError) as exc:
        client(rec).create_invoice(val_date=datetime(2026, 1, 1), **kwargs)
    assert exc.value.field == field
    assert rec.requests == []


@pytest.mark.parametrize("code", [0, "0", 100, "100"])
def test_success_codes_as_int_or_string(code):
    rec = Recorder(httpx.Response(200, json={"object_name": "x", "code": code, "message": "ok"}))
    assert client(rec).update_invoice_status(invoice_no="1", status=5).code == int(code)


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (httpx.Response(200, json={"code": 1, "message": "olmadı"}), APIError, 1),
        (httpx.Response(200, json={"code": "5", "message": "dup"}), DuplicateError, 5),
        (httpx.Response(200, json={"code": 7, "message": "yetkisiz"}), AuthenticationError, 7),
        (httpx.Response(200, json={"code": 12, "message": "yok"}), NotFoundError, 12),
        (httpx.Response(200, json={"code": 8, "message": "sunucu"}), ServerError, 8),
        (
            httpx.Response(
                401,
                json={
                    "type": "authorization_error",
                    "message": "bad key",
                    "code": 401,
                    "result_code": 7,
                },
            ),
            AuthenticationError,
            7,
        ),
        (
            httpx.Response(
                404,
                json={"type": "no_data_error", "message": "none", "code": 404, "result_code": 12},
            ),
            NotFoundError,
            12,
        ),
        (
            httpx.Response(
                400,
                json={
                    "type": "invalid_request_error",
                    "message": "bad",
                    "code": 400,
                    "result_code": 11,
                },
            ),
            APIError,
            11,
        ),
        (httpx.Response(403, text="Forbidden"), AuthenticationError, None),
    ],
)
def test_error_mapping(response, error, code):
    rec = Recorder(response)
    with pytest.raises(error) as exc:
        client(rec, max_retries=0).update_invoice_status(invoice_no="1", status=5)
    err = exc.value
    assert err.code == code
    assert err.operation == "invoice_status_update"
    assert err.http_status == response.status_code
    assert err.request_id and err.request_id.startswith("req_")
    assert "Paynet invoice_status_update" in str(err)


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (httpx.Response(200, text="<html>502 Bad Gateway</html>"), "HTML"),
        (httpx.Response(200, text=""), "empty"),
        (httpx.Response(200, text='{"code": 0, "mess'), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "not an object"),
        (httpx.Response(200, json={"message": "no code"}), "code"),
        (httpx.Response(200, json={"code": [0]}), "code"),
    ],
)
def test_contract_breaks_raise_contract_error(response, why):
    rec = Recorder(response)
    with pytest.raises(ContractError) as exc:
        client(rec, max_retries=0).update_invoice_status(invoice_no="1", status=5)
    assert why in str(exc.value)


def test_safe_operations_retry_5xx_and_timeouts_with_backoff():
    sleeps = []
    rec = Recorder(
        httpx.Response(503, text="<html>busy</html>"),
        httpx.ReadTimeout("slow"),
        ok(),
    )
    reply = client(rec, sleeps=sleeps).update_invoice_status(invoice_no="1", status=5)
    assert reply.code == 0
    assert len(rec.requests) == 3
    assert len(sleeps) == 2 and sleeps[0] <= 0.5 and sleeps[1] <= 1.0


def test_429_honours_retry_after():
    sleeps = []
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "3"}), ok())
    client(rec, sleeps=sleeps).update_invoice_status(invoice_no="1", status=5)
    assert sleeps == [3.0]


def test_retries_give_up_after_max_retries():
    rec = Recorder(httpx.Response(500, json={"type": "api_error", "message": "boom", "code": 500}))
    with pytest.raises(ServerError):
        client(rec, max_retries=2).update_invoice_status(invoice_no="1", status=5)
    assert len(rec.requests) == 3


def test_business_refusals_are_not_retried():
    rec = Recorder(httpx.Response(200, json={"code": 6, "message": "noprocess"}))
    with pytest.raises(APIError):
        client(rec).update_invoice_status(invoice_no="1", status=5)
    assert len(rec.requests) == 1


def _invoice_list(*invoices, total=None):
    return httpx.Response(
        200,
        json={
            "object_name": "subscription_invoice_list",
            "code": 0,
            "message": "ok",
            "total": len(invoices) if total is None else total,
            "total_count": len(invoices),
            "limit": 100,
            "has_more": False,
            "data": list(invoices),
        },
    )


def _route(create_replies, list_reply):
    """Answer create_invoice from a queue and invoice_list with a fixed page."""

    def handler(request):
        if request.url.path.endswith("/invoice_list"):
            return list_reply(request) if callable(list_reply) else list_reply
        reply = create_replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return handler


def test_create_invoice_after_lost_reply_finds_it_and_does_not_send_again():
    item = {
        "invoice_id": 7,
        "invoice_no": "INV-1",
        "subscription_id": "s",
        "amount": "1000",
        "status": 0,
    }
    rec = Recorder(_route([httpx.ReadTimeout("lost")], _invoice_list(item)))
    created = client(rec).create_invoice(
        subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="INV-1"
    )
    creates = [r for r in rec.requests if r.url.path.endswith("/create_invoice")]
    assert len(creates) == 1
    assert created.recovered and created.invoice_no == "INV-1"


def test_create_invoice_after_failure_not_found_sends_again_once():
    rec = Recorder(
        _route([httpx.Response(502, text="<html>bad gateway</html>"), ok()], _invoice_list())
    )
    created = client(rec).create_invoice(
        subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="INV-2"
    )
    creates = [r for r in rec.requests if r.url.path.endswith("/create_invoice")]
    lists = [r for r in rec.requests if r.url.path.endswith("/invoice_list")]
    assert len(creates) == 2 and len(lists) == 1
    assert not created.recovered and created.attempts == 2
    assert json.loads(creates[0].content) == json.loads(
        creates[1].content
    )  # same invoice_no both times


def test_create_invoice_connect_error_resends_without_lookup():
    rec = Recorder(_route([httpx.ConnectError("refused"), ok()], _invoice_list()))
    client(rec).create_invoice(subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1))
    assert [r.url.path.rsplit("/", 1)[1] for r in rec.requests] == [
        "create_invoice",
        "create_invoice",
    ]


def test_create_invoice_business_refusal_is_never_resent():
    rec = Recorder(
        _route([httpx.Response(200, json={"code": 1, "message": "no"})], _invoice_list())
    )
    with pytest.raises(APIError):
        client(rec).create_invoice(subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1))
    assert len(rec.requests) == 1


def test_create_invoice_duplicate_on_first_try_is_an_error():
    rec = Recorder(
        _route([httpx.Response(200, json={"code": 5, "message": "duplicatedata"})], _invoice_list())
    )
    with pytest.raises(DuplicateError):
        client(rec).create_invoice(
            subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="X"
        )


def test_create_invoice_lookup_finding_a_different_amount_is_a_conflict():
    item = {"invoice_no": "INV-3", "amount": "999", "status": 0}
    rec = Recorder(_route([httpx.ReadTimeout("lost")], _invoice_list(item)))
    with pytest.raises(DuplicateError, match="another amount"):
        client(rec).create_invoice(
            subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="INV-3"
        )


def test_create_invoice_stops_when_the_lookup_fails_too():
    rec = Recorder(
        _route(
            [httpx.ReadTimeout("lost")],
            httpx.Response(401, json={"type": "authorization_error", "message": "x"}),
        )
    )
    with pytest.raises(TransportError, match="not sent again"):
        client(rec).create_invoice(subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1))
    assert sum(r.url.path.endswith("/create_invoice") for r in rec.requests) == 1


def test_list_invoices_walks_every_page():
    pages_seen = []

    def handler(request):
        body = json.loads(request.content)
        offset, limit = body["starting_after"], body["limit"]
        pages_seen.append(offset)
        rows = [
            {
                "invoice_id": i,
                "invoice_no": f"N{i}",
                "amount": str(100 + i),
                "status": 3,
                "val_date": "03.10.2017 10:32:24",
            }
            for i in range(offset, min(offset + limit, 25))
        ]
        return httpx.Response(
            200,
            json={
                "code": 0,
                "total": 25,
                "total_count": len(rows),
                "limit": limit,
                "has_more": offset + limit < 25,
                "data": rows,
            },
        )

    invoices = PaynetClient(
        KEY, environment="test", transport=httpx.MockTransport(handler)
    ).list_invoices(subscription_id="s", page_size=10)
    assert [i.invoice_no for i in invoices] == [f"N{i}" for i in range(25)]
    assert pages_seen == [0, 10, 20]
    assert invoices[0].amount == 100 and invoices[0].status is InvoiceStatus.DONE_SUCCEED
    assert invoices[0].val_date == datetime(2017, 10, 3, 10, 32, 24, tzinfo=ISTANBUL)


def test_list_reply_with_a_bad_amount_is_a_contract_error():
    rec = Recorder(_invoice_list({"invoice_no": "N", "amount": "10.5", "status": 0}))
    with pytest.raises(ContractError, match="amount"):
        client(rec).list_invoices(subscription_id="s")


def test_live_without_a_key_fails_fast_with_the_fix():
    with pytest.raises(ConfigError, match="PAYNET_SECRET_KEY"):
        PaynetClient(None, environment="live")


def test_the_key_never_shows_in_repr_errors_or_logs(caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    rec = Recorder(httpx.Response(401, json={"type": "authorization_error", "message": "bad"}))
    c = client(rec)
    assert KEY not in repr(c) and "sck_…+bIW" in repr(c)
    with pytest.raises(AuthenticationError) as exc:
        c.update_invoice_status(invoice_no="1", status=5)
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)
    assert KEY not in caplog.text


def test_rate_limit_error_keeps_retry_after_and_pickles():
    import pickle

    err = RateLimitError(
        "slow down", retry_after=2.0, provider="Paynet", operation="op", http_status=429
    )
    copy = pickle.loads(pickle.dumps(err))
    assert copy.retry_after == 2.0 and str(copy) == str(err) and copy.is_retryable


def test_create_invoice_looks_up_after_an_ambiguous_failure_on_the_last_try():
    item = {"invoice_no": "INV-4", "subscription_id": "s", "amount": "1000", "status": 0}
    rec = Recorder(_route([httpx.ReadTimeout("lost")], _invoice_list(item)))
    created = client(rec, max_retries=0).create_invoice(
        subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="INV-4"
    )
    assert created.recovered and created.attempts == 1

    rec = Recorder(_route([httpx.ReadTimeout("lost")], _invoice_list()))
    with pytest.raises(TransportError, match="did not find invoice_no INV-5") as exc:
        client(rec, max_retries=0).create_invoice(
            subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1), invoice_no="INV-5"
        )
    assert exc.value.operation == "create_invoice"
    assert [r.url.path.rsplit("/", 1)[1] for r in rec.requests] == [
        "create_invoice",
        "invoice_list",
    ]


def test_create_invoice_does_not_wait_out_a_retry_after_beyond_the_policy():
    sleeps = []
    rec = Recorder(
        _route([httpx.Response(429, headers={"Retry-After": "120"}), ok()], _invoice_list())
    )
    with pytest.raises(RateLimitError):
        client(rec, sleeps=sleeps).create_invoice(
            subscription_id="s", amount=1000, val_date=datetime(2026, 1, 1)
        )
    assert len(rec.requests) == 1 and sleeps == []


def test_a_page_repeated_until_total_is_a_contract_error_not_duplicates():
    page = _invoice_list({"invoice_no": "N1", "amount": "1", "status": 0}, total=3)
    page = httpx.Response(200, json={**page.json(), "has_more": True})
    with pytest.raises(ContractError, match="starting_after=1 only repeats items already read"):
        client(Recorder(page)).list_invoices(subscription_id="s")


def test_a_key_cut_short_in_an_error_snippet_does_not_show_its_head():
    # the snippet keeps 80 characters: the key starts at 67, so it is cut after 13
    page = "<html>" + "a" * 60 + " " + KEY + "</html>"
    rec = Recorder(httpx.Response(400, text=page))
    with pytest.raises(APIError) as exc:
        client(rec).update_invoice_status(invoice_no="1", status=5)
    assert KEY[:12] not in str(exc.value) and "sck_…+bIW" in str(exc.value)


def test_async_client_wraps_a_failed_lookup_and_stops_an_endless_walk():
    from paynet_core.paynet import AsyncPaynetClient

    async def go(handler, action):
        async with AsyncPaynetClient(
            KEY, environment="test", transport=httpx.MockTransport(handler), sleep=_no_sleep
        ) as c:
            return await action(c)

    async def create(c):
        return await c.create_invoice(
            subscription_id="s", amount=100, val_date=datetime(2026, 1, 1), invoice_no="D"
        )

    creates = [
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json={"code": 5}),
    ]
    lists = [_invoice_list(), httpx.Response(401, text="<html>down</html>")]
    handler = _route(creates, lambda request: lists.pop(0))
    with pytest.raises(DuplicateError, match="not sent again") as exc:
        asyncio.run(go(handler, create))
    assert exc.value.operation == "create_invoice"

    endless = Recorder(
        httpx.Response(
            200,
            json={
                "code": 0,
                "has_more": True,
                "data": [{"invoice_no": "N", "amount": "1", "status": 0}],
            },
        )
    )
    with pytest.raises(ContractError, match="ignore 'starting_after'"):
        asyncio.run(go(endless, lambda c: c.find_invoice(invoice_no="X", subscription_id="s")))
    assert len(endless.requests) == 2


async def _no_sleep(seconds):
    return None


@pytest.mark.parametrize("message", ["\r", "   ", ["x"], None])
def test_a_refusal_with_a_blank_or_odd_message_reads_the_code_meaning(message):
    rec = Recorder(httpx.Response(200, json={"code": 1, "message": message}))
    with pytest.raises(APIError) as exc:
        client(rec, max_retries=0).update_invoice_status(invoice_no="1", status=5)
    assert exc.value.message.strip() and exc.value.message != str(message)
