"""Bad provider replies (issue #6): HTML error pages, empty bodies, truncated JSON, wrong types,
unknown codes, a 200 with an error inside, dropped connections. Every public client operation
gets a drawn sequence of replies (served in order, the last one repeated) and must:

1. return a well-typed result or raise a ``ProviderError`` (nothing else leaks out);
2. raise errors whose text names the provider and the operation and never holds a key;
3. send a bounded number of requests (per page or lookup, at most ``max_retries + 1``) and never
   sleep for real (the sleeps are recorded and checked against the reply that caused them);
4. return amounts as int kuruş;
5. never resend ``create_invoice`` without an ``invoice_list`` lookup in between, unless the
   failure proves the request never left (connect error) or was refused before processing (429);
6. repeat a request only after a reply that allows it (never after a definite "no"), and not
   give up on a reply that is surely passing while retries are left.

The faults this suite found when it was written have a pinned test each at the end of the file.
Run with ``-s`` to see how many bad replies of each kind a run served.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import os
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paynet_core.errors import ContractError, ProviderError, RateLimitError, ServerError
from paynet_core.paynet import (
    AsyncPaynetClient,
    Invoice,
    InvoiceStatus,
    PaynetClient,
    PaynetReply,
    Subscription,
)
from paynet_core.paynet.client import CreatedInvoice
from paynet_core.paynet.models import RETURN_CODES
from paynet_core.payofin import RESULT_CODES, BillPayment, Institution, PayofinClient

FUZZ = settings(
    max_examples=int(os.environ.get("PAYNET_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

PAYNET_KEY = "sck_FUZZ_paynet_Qz7Wm3Rk9Xv2Lp8N"
PAYOFIN_API_KEY = "FUZZ-payofin-api-5e1c8a0f93b2d7"
PAYOFIN_SECRET_KEY = "FUZZ-payofin-secret-b7d4e2a61c09f3"
PAYNET = "Paynet"
PAYOFIN = "Payofin"

INVOICE_NO = "PO-FUZZ-000042"
AMOUNT = 28898
SUBSCRIPTION = "SUB-FUZZ-1"
#: beyond this many requests in one call the handler stops the client (endless paging)
CAP = 40
MAX_INT64 = 2**63 - 1

#: bad replies served, by kind (printed when the module ends: run with -s to see it)
SERVED: Counter[str] = Counter()
EXAMPLES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    bad = sum(n for kind, n in SERVED.items() if kind != "valid")
    lines = [f"  {kind}: {n}" for kind, n in sorted(SERVED.items())]
    print(
        f"\nbad-reply fuzz: {sum(EXAMPLES.values())} calls, {bad} bad replies served "
        f"(+{SERVED['valid']} valid)\n" + "\n".join(lines)
    )


# -- replies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (``NaN``, ``1e5000``, ``10.005``): json.dumps cannot write these."""

    text: str


def dumps(value: Any) -> str:
    raws: list[str] = []

    def swap(v):
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value), ensure_ascii=False)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw)
    return text


@dataclass(frozen=True)
class Reply:
    kind: str
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    exc: type[httpx.HTTPError] | None = None
    #: for a 429: "must" when the client should wait and retry, "never" when it should give up
    retry_after_class: str | None = None
    #: for a 429 whose Retry-After is a usable number of seconds
    retry_after: float | None = None

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, content=self.body, headers=list(self.headers))

    @property
    def decodable(self) -> bool:
        """Whether httpx can decode the body with the charset its Content-Type names."""
        try:
            self.response().text  # noqa: B018
        except Exception:
            return False
        return True

    def parsed(self) -> tuple[bool, Any]:
        """The body as the clients read it (httpx's decoding, decimals exact)."""
        if self.exc is not None:
            return False, None
        try:
            text = self.response().text
        except Exception:  # a charset httpx cannot use: read the bytes as JSON does
            text = self.body.decode("utf-8", "replace")
        if not text.strip():
            return False, None
        try:
            return True, json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError):
            return False, None


NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
EXCEPTIONS = [
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
]
PAYNET_TYPES = {
    "authorization_error": "never",
    "no_data_error": "never",
    "404 Not Found": "never",
    "api_error": "must",
}
PAYOFIN_TRANSIENT = {-6, -18, -24}


def retry_class(provider: str, reply: Reply) -> str | None:
    """What the documented contract says about asking again after this reply: "must" (a passing
    fault), "never" (a definite answer) or None (no rule: a success, or a broken contract)."""
    if reply.exc is not None:
        return "must"
    if reply.status == 429:
        return reply.retry_after_class
    if not reply.decodable:  # an unusable charset: reading the bytes as UTF-8 or refusing both fit
        return None
    ok, body = reply.parsed()
    if provider == PAYOFIN:
        if reply.status >= 500:
            return "must"
        if reply.status != 200:
            return "never"
        if not ok:
            return "must"
        code = body.get("resultCode", body.get("ResultCode")) if isinstance(body, dict) else None
        if type(code) is int and code != 1:
            return "must" if code in PAYOFIN_TRANSIENT else "never"
        return None
    if not ok:
        return "must" if reply.status == 200 or reply.status >= 500 else "never"
    if reply.status != 200:
        etype = body.get("type") if isinstance(body, dict) else None
        if isinstance(etype, str) and etype in PAYNET_TYPES:
            return PAYNET_TYPES[etype]
        return "must" if reply.status >= 500 else "never"
    code = body.get("code") if isinstance(body, dict) else None
    if type(code) is int and code not in (0, 100):
        return "must" if code in (8, 10) else "never"
    return None


# -- strategies: good replies -------------------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """``one_of`` with weights, so the replies that test meaning (mutated fields, codes) dominate."""
    return st.sampled_from([s for w, s in choices for _ in range(w)]).flatmap(lambda s: s)


names = st.text(alphabet="ABCDEFGHJKMNPRSTXYZ0123456789-", min_size=1, max_size=10)
kurus = st.integers(1, 10**9)
paynet_ok = st.fixed_dictionaries(
    {"code": st.sampled_from([0, "0", 100])},
    optional={"message": st.sampled_from(["Başarılı Islem", "ok", None])},
)


def paynet_envelope(object_name: str) -> st.SearchStrategy[dict]:
    return paynet_ok.map(lambda d: {"object_name": object_name, **d})


@st.composite
def paynet_invoice(draw, *, target: bool = False) -> dict:
    amount = AMOUNT if target and draw(st.booleans()) else draw(kurus)
    return {
        "invoice_id": str(draw(st.integers(1, 10**7))),
        "invoice_no": INVOICE_NO if target else draw(names),
        "subscription_id": SUBSCRIPTION,
        "reference_no": draw(names),
        "amount": draw(st.sampled_from([str(amount), amount])),
        "currency": "TRY",
        "val_date": draw(st.sampled_from(["03.10.2017 10:32:24", "2026-12-01T10:00:00", None])),
        "status": draw(st.sampled_from([int(s) for s in InvoiceStatus])),
    }


@st.composite
def paynet_subscription(draw) -> dict:
    return {
        "subscription_id": draw(names),
        "reference_no": draw(names),
        "name_surname": "Ayşe Yılmaz",
        "amount": str(draw(kurus)),
        "agent_id": "A1",
        "interval": 1,
        "interval_count": 12,
        "begin_date": "01.02.2016",
        "is_fixed_price": draw(st.booleans()),
        "status": 1,
        "group_reference_no": "",
        "created_at": "01.02.2016 10:00:00",
    }


@st.composite
def paynet_page(draw, item: st.SearchStrategy[dict], object_name: str) -> dict:
    data = draw(st.lists(item, max_size=3))
    page = {**draw(paynet_envelope(object_name)), "total_count": len(data), "limit": 100}
    page["has_more"] = draw(st.booleans())
    if draw(st.booleans()):
        page["total"] = draw(st.integers(0, 8))
    page["data"] = data
    return page


def invoice_page(target: bool = False) -> st.SearchStrategy[dict]:
    item = st.one_of(paynet_invoice(), paynet_invoice(target=True)) if target else paynet_invoice()
    return paynet_page(item, "subscription_invoice_list")


def tl(kurus_value: int) -> Raw:
    return Raw(f"{kurus_value // 100}.{kurus_value % 100:02d}")


@st.composite
def bill(draw) -> dict:
    item = {
        "invoicePaymentId": draw(st.integers(1, 10**6)),
        "invoiceType": "Su Faturası",
        "sootName": "İSKİ",
        "subscriberNo": "01345677000",
        "customerName": "DE*** ÖZ****",
        "invoiceNo": "0000000",
        "expDate": "10.05.2022",
        "invoiceAmount": tl(draw(st.integers(1, 10**8))),
        "profit": tl(draw(st.integers(0, 500))),
        "paymentDate": draw(st.sampled_from(["10.05.2022", "2022-05-10 14:30:00"])),
        "status": draw(st.sampled_from(["Paid", "Cancelled"])),
    }
    return item


payofin_ok = {"result": True, "resultCode": 1, "resultMessage": "İşlem Başarılı"}
invoicecheck_reply = bill().map(lambda b: {"invoiceDetail": b, **payofin_ok})
invoicelist_reply = st.lists(bill(), max_size=3).map(
    lambda items: {"invoiceList": items, **payofin_ok}
)
sootlist_reply = st.lists(
    st.fixed_dictionaries(
        {"sootCode": st.integers(1, 999), "sootName": st.sampled_from(["İSKİ", "BEDAŞ", "İGDAŞ"])},
        optional={"invoiceType": st.just("Su Faturası"), "description": st.text(max_size=5)},
    ),
    max_size=3,
).map(lambda items: {"sootList": items, **payofin_ok})


# -- strategies: bad replies --------------------------------------------------------------------

HTML_PAGES = [
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>",
    '<!DOCTYPE html><html lang="tr"><body><h1>Bakım çalışması</h1><p>Lütfen daha sonra deneyin.</p></body></html>',
    "<html><body>Request Rejected. Your support ID is: 1234567890</body></html>",
    '<?xml version="1.0"?><error><code>500</code></error>',
    "  \n<html>",
]
html = st.one_of(
    st.sampled_from(HTML_PAGES),
    st.text(max_size=30).map(lambda t: f"<html><body>{t}</body></html>"),
).map(lambda t: ("html", t.encode()))

RETRY_AFTER = [
    # (header, what the client must do, the seconds it must wait when it retries)
    (None, "must", None),
    ("0", "must", 0.0),
    ("1", "must", 1.0),
    ("2.5", "must", 2.5),
    (" 7 ", "must", 7.0),
    ("60", "must", 60.0),
    ("61", "never", None),
    ("3600", "never", None),
    ("1e9", "never", None),
    ("inf", "never", None),
    ("-5", "must", None),
    ("soon", "must", None),
    ("", "must", None),
    ("nan", "must", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", "must", None),
]

CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "text/html; charset=utf-8",
    "application/json; charset=iso-8859-9",
    "text/plain; charset=windows-1254",
]
#: charsets httpx cannot apply to these bodies (they once leaked UnicodeError): drawn less often
ODD_CONTENT_TYPES = [
    "text/plain; charset=utf-16",
    "application/json; charset=utf-32",
    "application/json; charset=idna",
    "application/json; charset=rot13",
]
content_types = st.sampled_from(CONTENT_TYPES * 6 + ODD_CONTENT_TYPES)


def _bad_values(provider: str) -> st.SearchStrategy[Any]:
    raws = [
        "NaN",
        "Infinity",
        "-Infinity",
        "10.005",
        "1.5",
        "-0",
        "1E2",
        "-5.00",
        "1e400",
        "1e5000",
    ]
    raws += ["1" + "0" * 5000, "1e999999"]  # 1e999999 once cost ~30 s of CPU to read
    nasty = ["NaN", "Infinity", "-1", "1e5", "10.005", "1.234,56", "²", "--5", "٣", "0x10", "1_000"]
    nasty += ["", " ", "9" * 5000]
    return weighted(
        (1, st.lists(st.integers(-3, 3), max_size=2)),
        (
            1,
            st.dictionaries(
                st.sampled_from(["a", "code", "amount"]), st.integers(0, 9), max_size=2
            ),
        ),
        (1, st.floats(allow_nan=False, allow_infinity=False, width=32)),
        (1, st.integers(-(10**6), 10**6)),
        (1, st.sampled_from([10**18, 2**63, 2**64 + 1, -1, -100, 0])),
        (1, st.text(alphabet="abcçğıöşüXYZ", min_size=1, max_size=6)),
        (3, st.sampled_from(nasty)),
        (3, st.sampled_from([Raw(r) for r in raws])),
        (1, st.booleans()),
        (1, st.none()),
    )


BAD_VALUES = {PAYNET: _bad_values(PAYNET), PAYOFIN: _bad_values(PAYOFIN)}


def _paths(value: Any, prefix: tuple = ()):
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for k, v in items:
        yield prefix + (k,)
        if len(prefix) < 3:
            yield from _paths(v, prefix + (k,))


HUGE = ["1e400", "1e5000"]
# fmt: off
#: per kind of field, the values of another type (or out of range) that replies have been seen to carry
FIELD_VALUES: dict[str, list[Any]] = {
    "money": [
        Raw("10.005"), Raw("1.5"), Raw("-5.00"), Raw("NaN"), Raw("Infinity"), *map(Raw, HUGE),
        "10.005", "-100", "1e5", "1.234,56", "abc", "١٢٣", "9" * 5000, 10**30, -1, [], {}, True, None,
    ],
    "code": [
        "²", "--5", "9" * 5000, "٣", " 0 ", "0.0", Raw("0.0"), Raw("1e3"), -1, 10**30, True, None,
        [], {}, "", "abc",
    ],
    "text": [5, Raw("1.5"), [], ["x"], {}, {"tr": "Hata"}, True, None, ""],
    "list": [5, "abc", {}, None, True, Raw("Infinity"), [1, 2], ["x"], [None], [[]]],
    "date": ["31.02.2026", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "", "dün", 5, [], Raw("1e10")],
    "number": ["true", "yes", "7", 1, 2, -1, 10**30, Raw("Infinity"), Raw("NaN"), Raw("1.5"), None, [], {}],
}
FIELD_KINDS = {
    **dict.fromkeys(["amount", "agent_amount", "company_amount", "invoiceAmount", "profit"], "money"),
    **dict.fromkeys(["code", "resultCode", "result_code"], "code"),
    **dict.fromkeys(
        ["message", "object_name", "resultMessage", "invoice_no", "invoice_id", "subscription_id",
         "sootName", "invoiceType", "subscriberNo", "reference_no", "currency"],
        "text",
    ),
    **dict.fromkeys(["data", "invoiceList", "sootList", "invoiceDetail"], "list"),
    **dict.fromkeys(["paymentDate", "expDate", "val_date", "begin_date", "created_at"], "date"),
    **dict.fromkeys(
        ["has_more", "total", "status", "invoicePaymentId", "sootCode", "interval", "is_fixed_price"], "number"
    ),
}
# fmt: on


def _field_values(provider: str) -> dict[str, st.SearchStrategy[Any]]:
    out = {kind: st.sampled_from(values) for kind, values in FIELD_VALUES.items()}
    out["money"] = st.sampled_from([*FIELD_VALUES["money"], Raw("1e999999")])
    return out


TYPED_VALUES = {PAYNET: _field_values(PAYNET), PAYOFIN: _field_values(PAYOFIN)}


def _pick(draw, items: list) -> Any:
    return items[draw(st.integers(0, len(items) - 1))]


@st.composite
def mutated(draw, valid: st.SearchStrategy[dict], provider: str) -> dict:
    """A good reply with one to three fields (at any depth) removed or given a value of another type:
    mostly a field the clients read (its kind drawn first), with a value chosen for that kind."""
    body = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(body))
        if not paths:
            break
        by_kind: dict[str, list[tuple]] = {}
        for p in paths:
            if p[-1] in FIELD_KINDS:
                by_kind.setdefault(FIELD_KINDS[p[-1]], []).append(p)
        use_typed = bool(by_kind) and draw(st.integers(0, 3)) > 0
        path = _pick(draw, by_kind[_pick(draw, sorted(by_kind))] if use_typed else paths)
        parent = body
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.integers(0, 3)) == 0:
            del parent[path[-1]]
        else:  # a copy: sampled values are shared, and a later mutation may reach inside this one
            values = (
                TYPED_VALUES[provider][FIELD_KINDS[path[-1]]] if use_typed else BAD_VALUES[provider]
            )
            parent[path[-1]] = copy.deepcopy(draw(values))
    return body


@st.composite
def truncated(draw, valid: st.SearchStrategy[dict]) -> bytes:
    data = dumps(draw(valid)).encode()
    return data[: draw(st.integers(0, len(data) - 1))]


@st.composite
def recoded(draw, valid: st.SearchStrategy[dict]) -> bytes:
    text = dumps(draw(valid))
    how = draw(st.sampled_from(["cp1254", "utf-16", "latin-1", "bad-bytes"]))
    if how == "bad-bytes":
        data = text.encode()
        at = draw(st.integers(0, len(data)))
        return (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
            + data[at:]
        )
    return text.encode(how, errors="replace")


@st.composite
def with_code(draw, valid: st.SearchStrategy[dict], provider: str) -> dict:
    """A good reply whose result code says "no" (documented or unknown), maybe without a message."""
    body = dict(draw(valid))
    if provider == PAYNET:
        known_codes = sorted(set(RETURN_CODES) - {0, 100})
        code = draw(
            st.one_of(
                st.sampled_from(known_codes),
                st.integers(-(10**4), 10**4).filter(lambda c: c not in RETURN_CODES),
            )
        )
        body["code"] = draw(st.sampled_from([code, str(code)]))
        key = "message"
    else:
        code = draw(
            st.one_of(
                st.sampled_from(sorted(set(RESULT_CODES) - {1})),
                st.integers(-999, 999).filter(lambda c: c not in RESULT_CODES),
            )
        )
        body.update(result=False, resultCode=draw(st.sampled_from([code, str(code)])))
        key = "resultMessage"
    message = draw(st.one_of(st.none(), st.text(max_size=20), st.just("Hata")))
    if message is None:
        body.pop(key, None)
    else:
        body[key] = message
    return body


paynet_error_envelope = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from([*PAYNET_TYPES, "invalid_request_error", "rate_limit_error", ""]),
            st.text(max_size=8),
        ),
        "message": st.one_of(st.text(max_size=20), st.none(), st.integers()),
        "code": st.integers(400, 599),
        "result_code": st.one_of(st.integers(0, 21), st.text(max_size=3), st.none()),
    },
)
payofin_error_envelope = st.fixed_dictionaries(
    {"result": st.just(False), "resultCode": st.sampled_from([-22, -18, -11, 0, -99])},
    optional={"resultMessage": st.text(max_size=20)},
)


def echo_bodies(provider: str) -> st.SearchStrategy[tuple[str, bytes]]:
    """Replies that echo the request's key back (a debug page, a helpful error message)."""
    if provider == PAYNET:
        pages = [
            f"<html><body><h1>401 Unauthorized</h1><pre>Authorization: Basic {PAYNET_KEY}</pre></body></html>",
            json.dumps({"code": 7, "message": f"unauthorized key {PAYNET_KEY}"}),
            json.dumps({"type": "authorization_error", "message": f"invalid key {PAYNET_KEY}"}),
            f"Basic {PAYNET_KEY} is not a valid key",
        ]
    else:
        pages = [
            json.dumps(
                {
                    "result": False,
                    "resultCode": -22,
                    "resultMessage": f"ApiKey {PAYOFIN_API_KEY} hatalı",
                }
            ),
            f"<html><pre>ApiKey: {PAYOFIN_API_KEY}\nSecretKey: {PAYOFIN_SECRET_KEY}</pre></html>",
            json.dumps(
                {"resultCode": -7, "resultMessage": f"SecretKey {PAYOFIN_SECRET_KEY} not permitted"}
            ),
        ]
    return st.sampled_from(pages).map(lambda t: ("echo", t.encode()))


statuses = st.one_of(
    st.just(200),
    st.sampled_from([400, 401, 403, 404, 405, 409, 413, 422, 500, 502, 503, 504]),
    st.integers(300, 599).filter(lambda s: s != 429),
)
#: a reply whose meaning is in its body mostly comes with a 200
mostly_200 = st.sampled_from([200, 200, 200, 200, 400, 404, 500, 503])


def bad_bodies(
    provider: str, valid: st.SearchStrategy[dict]
) -> st.SearchStrategy[tuple[str, int, bytes]]:
    def enc(kind):
        return lambda v: (kind, dumps(v).encode())

    def at(status_strategy, body_strategy):
        return st.tuples(body_strategy, status_strategy).map(lambda t: (t[0][0], t[1], t[0][1]))

    envelope = paynet_error_envelope if provider == PAYNET else payofin_error_envelope
    wrong_shape = st.one_of(
        st.lists(st.integers(), max_size=3),
        st.text(max_size=10),
        st.integers(),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    return weighted(
        (1, at(statuses, st.binary(max_size=48).map(lambda b: ("random bytes", b)))),
        (1, at(statuses, recoded(valid).map(lambda b: ("not utf-8", b)))),
        (2, at(statuses, html)),
        (
            1,
            at(
                statuses, st.sampled_from([b"", b" ", b"\r\n", b"\x00"]).map(lambda b: ("empty", b))
            ),
        ),
        (2, at(statuses, truncated(valid).map(lambda b: ("truncated", b)))),
        (1, at(statuses, wrong_shape.map(enc("wrong shape")))),
        (8, at(mostly_200, mutated(valid, provider).map(enc("mutated")))),
        (3, at(mostly_200, with_code(valid, provider).map(enc("error code")))),
        (1, at(statuses, envelope.map(enc("error envelope")))),
        (
            1,
            at(
                statuses,
                st.sampled_from([b"[" * 5000, b'{"a":' * 5000, b"[" * 100_000]).map(
                    lambda b: ("deep json", b)
                ),
            ),
        ),
        (1, at(statuses, valid.map(enc("good body")))),
        (1, at(mostly_200, echo_bodies(provider))),
    )


@st.composite
def body_reply(draw, provider: str, valid: st.SearchStrategy[dict]) -> Reply:
    kind, status, body = draw(bad_bodies(provider, valid))
    if kind == "good body" and status == 200:
        kind = "valid"
    ctype = draw(content_types)
    headers = (("Content-Type", ctype),) if ctype else ()
    return Reply(
        f"{kind} @{status if status < 300 else str(status)[0] + 'xx'}", status, body, headers
    )


@st.composite
def rate_limited(draw, provider: str) -> Reply:
    header, cls, seconds = draw(st.sampled_from(RETRY_AFTER))
    body = draw(
        st.sampled_from([b"", b"<html>Too Many Requests</html>", b'{"message": "slow down"}'])
    )
    headers = (("Retry-After", header),) if header is not None else ()
    return Reply("429", 429, body, headers, retry_after_class=cls, retry_after=seconds)


def replies(provider: str, valid: st.SearchStrategy[dict]) -> st.SearchStrategy[Reply]:
    return weighted(
        (
            2,
            valid.map(
                lambda v: Reply(
                    "valid", 200, dumps(v).encode(), (("Content-Type", "application/json"),)
                )
            ),
        ),
        (2, st.sampled_from(EXCEPTIONS).map(lambda e: Reply(e.__name__, exc=e))),
        (1, rate_limited(provider)),
        (6, body_reply(provider, valid)),
    )


# -- running one call ---------------------------------------------------------------------------


class Runaway(Exception):
    """Raised by the handler when a call goes on past CAP requests (or asks for an unknown path)."""


@dataclass
class Entry:
    path: str
    payload: Any
    reply: Reply


class Handler:
    """Serves each path's replies in order, repeating the last one, and logs every request."""

    def __init__(self, scripts: dict[str, list[Reply]], *, count: bool = False):
        self.scripts = {path: list(queue) for path, queue in scripts.items()}
        self.log: list[Entry] = []
        self.count = count

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.rsplit("/", 1)[-1]
        if len(self.log) >= CAP or path not in self.scripts:
            raise Runaway(f"request {len(self.log) + 1} to {path}")
        queue = self.scripts[path]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        self.log.append(
            Entry(path, json.loads(request.content) if request.content else None, reply)
        )
        if self.count:
            SERVED[reply.kind.split(" @")[0]] += 1
        if reply.exc is not None:
            raise reply.exc(f"fuzz: {reply.kind}", request=request)
        return reply.response()


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    log: list[Entry] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Op:
    name: str
    provider: str
    operations: frozenset[str]
    #: path → strategy for the good reply of that path
    paths: dict[str, st.SearchStrategy[dict]]
    call: Callable[[Any], Any]
    check: Callable[[Any, Outcome], str | None]
    client: str = "sync"  # "sync" | "async" | "payofin"
    page_key: str | None = None
    creates: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return (PAYNET_KEY,) if self.provider == PAYNET else (PAYOFIN_API_KEY, PAYOFIN_SECRET_KEY)


#: The drawn replies test each reply's own rule (wait out Retry-After up to 60 s); the cap on the
#: total wait of one call is tested in test_hostile_server.py, so it is lifted here.
NO_BUDGET = math.inf


def run(op: Op, scripts: dict[str, list[Reply]], max_retries: int) -> Outcome:
    handler = Handler(scripts, count=True)
    out = Outcome(log=handler.log)
    transport = httpx.MockTransport(handler)
    try:
        if op.client == "async":

            async def asleep(seconds: float) -> None:
                out.sleeps.append(seconds)

            async def go():
                async with AsyncPaynetClient(
                    PAYNET_KEY,
                    environment="test",
                    transport=transport,
                    sleep=asleep,
                    max_retries=max_retries,
                    max_retry_wait=NO_BUDGET,
                ) as c:
                    return await op.call(c)

            out.result = asyncio.run(go())
        elif op.client == "payofin":
            with PayofinClient(
                PAYOFIN_API_KEY,
                PAYOFIN_SECRET_KEY,
                environment="test",
                transport=transport,
                sleep=out.sleeps.append,
                max_retries=max_retries,
                max_retry_wait=NO_BUDGET,
            ) as c:
                out.result = op.call(c)
        else:
            with PaynetClient(
                PAYNET_KEY,
                environment="test",
                transport=transport,
                sleep=out.sleeps.append,
                max_retries=max_retries,
                max_retry_wait=NO_BUDGET,
            ) as c:
                out.result = op.call(c)
    except Exception as exc:  # judged below: only ProviderError is allowed out
        out.error = exc
    return out


# -- judging one call ---------------------------------------------------------------------------


def _innermost(err: BaseException) -> str | None:
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if "/paynet_core/" in f.filename.replace("\\", "/")
    ]
    return frames[-1].name if frames else None


def _describe(out: Outcome) -> str:
    lines = [f"  {e.path} {e.payload} <- {e.reply.kind}: {e.reply.body[:120]!r}" for e in out.log]
    return "\n".join(lines) + f"\n  sleeps: {out.sleeps}"


def _groups(log: list[Entry], page_key: str | None) -> list[list[Entry]]:
    """Consecutive requests for the same page (same path and cursor): one request and its retries."""

    def key(entry: Entry) -> tuple:
        return entry.path, (entry.payload or {}).get(page_key) if page_key else None

    groups: list[list[Entry]] = []
    for entry in log:
        if groups and key(groups[-1][0]) == key(entry):
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


def _accepted(out: Outcome, op: Op) -> list[Any]:
    """Bodies of the replies the client took (the last of each page's tries; not a failed last)."""
    groups = _groups(out.log, op.page_key)
    taken = groups if out.error is None else groups[:-1]
    return [g[-1].reply.parsed()[1] for g in taken]


def _money(value: Any, provider: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    assert type(value) is int, f"amount {value!r} is {type(value).__name__}, not int kuruş"
    if value < 0:
        return f"negative amount {value}"
    if value > MAX_INT64:
        return f"amount {value} does not fit SQLite's int64"
    return None


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def judge(op: Op, out: Outcome, max_retries: int) -> None:
    err = out.error
    if isinstance(err, Runaway):
        pytest.fail(f"{op.name} did not stop: {err}\n{_describe(out)}")
    if err is not None and not isinstance(err, ProviderError):
        origin = _innermost(err)
        raise AssertionError(
            f"{op.name} leaked {type(err).__name__} (from {origin}): {err!r}\n{_describe(out)}"
        ) from err
    if err is not None:
        _judge_error(op, err, out)
    else:
        bug = op.check(out.result, out)
        assert bug is None, f"{op.name}: {bug}\n{_describe(out)}"
    if op.creates:
        _judge_creates(op, out, max_retries)
    else:
        _judge_retries(op, out, max_retries)


def _judge_error(op: Op, err: ProviderError, out: Outcome) -> None:
    """Property 2."""
    text = str(err)
    assert err.provider == op.provider, text
    assert err.operation in op.operations, (
        f"{op.name} raised an error for {err.operation!r}: {text}"
    )
    assert text.startswith(f"{op.provider} {err.operation}"), text
    assert isinstance(err.message, str) and err.message.strip(), repr(err)
    chain = [err, err.__cause__, err.__context__]
    shown = " ".join(
        str(x) + repr(x) + " ".join(map(str, getattr(x, "args", ())))
        for x in chain
        if x is not None
    )
    if any(k in shown for k in op.keys):
        pytest.fail(f"{op.name}: a key shows in the error: {text}\n{_describe(out)}")


def _expected_sleep(reply: Reply, attempt: int, sleep: float) -> None:
    """Retry-After when the 429 gave a usable one, else backoff: half to all of 0.5 s × 2^attempt."""
    assert math.isfinite(sleep) and sleep >= 0, sleep
    if reply.status == 429 and reply.retry_after is not None:
        assert sleep == reply.retry_after, (reply.headers, sleep)
    else:
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= sleep <= ceiling, (attempt, sleep)


def _judge_retries(op: Op, out: Outcome, max_retries: int) -> None:
    """Properties 3 and 6 for calls that go through the sender (every page retried alone)."""
    groups = _groups(out.log, op.page_key)
    assert groups, f"{op.name} sent nothing"
    retried: list[tuple[Reply, int]] = []
    for n, group in enumerate(groups):
        assert len(group) <= max_retries + 1, f"{len(group)} tries of one request\n{_describe(out)}"
        for attempt, entry in enumerate(group[:-1]):
            cls = retry_class(op.provider, entry.reply)
            assert cls != "never", (
                f"asked again after a definite answer ({entry.reply.kind})\n{_describe(out)}"
            )
            retried.append((entry.reply, attempt))
        last = group[-1].reply
        cls = retry_class(op.provider, last)
        if n < len(groups) - 1 or out.error is None:
            assert last.exc is None and last.status == 200 and cls is None, (
                f"{op.name} took {last.kind} as an answer\n{_describe(out)}"
            )
        elif cls == "must" and len(group) <= max_retries:
            pytest.fail(f"{op.name} gave up on {last.kind} with retries left\n{_describe(out)}")
    assert len(out.sleeps) == len(retried), _describe(out)
    for (reply, attempt), sleep in zip(retried, out.sleeps, strict=True):
        _expected_sleep(reply, attempt, sleep)


def _judge_creates(op: Op, out: Outcome, max_retries: int) -> None:
    """Properties 3, 5 and 6 for create_invoice: no blind resend, bounded tries and lookups."""
    log = out.log
    creates = [i for i, e in enumerate(log) if e.path == "create_invoice"]
    assert creates and creates[0] == 0, _describe(out)
    assert len(creates) <= max_retries + 1, f"{len(creates)} creations sent\n{_describe(out)}"
    first = log[0].payload
    assert first["invoice_no"] == INVOICE_NO and first["amount"] == str(AMOUNT)
    assert all(log[i].payload == first for i in creates), "a resend changed the request"
    for a, b in zip(creates, creates[1:], strict=False):
        reply = log[a].reply
        looked_up = any(e.path == "invoice_list" for e in log[a + 1 : b])
        if reply.status == 429 and reply.retry_after_class == "never":
            pytest.fail(f"create_invoice resent after {reply.headers}\n{_describe(out)}")
        assert retry_class(PAYNET, reply) != "never", f"resent after {reply.kind}\n{_describe(out)}"
        never_left = reply.exc in NEVER_SENT or reply.status == 429
        assert looked_up or never_left, (
            f"blind resend of create_invoice after {reply.kind}\n{_describe(out)}"
        )
    # lookups: each page asked at most max_retries + 1 times, never again after a definite answer
    lookup_tries = 0
    for group in _groups(log, "starting_after"):
        if group[0].path != "invoice_list":
            continue
        assert len(group) <= max_retries + 1, _describe(out)
        for entry in group[:-1]:
            assert retry_class(PAYNET, entry.reply) != "never", _describe(out)
        lookup_tries += len(group) - 1
    assert len(out.sleeps) == len(creates) - 1 + lookup_tries, _describe(out)
    assert all(math.isfinite(s) and 0 <= s <= 60 for s in out.sleeps), out.sleeps
    last = log[creates[-1]].reply
    body = last.parsed()[1]
    duplicate = isinstance(body, dict) and body.get("code") in (5, "5")
    if retry_class(PAYNET, last) == "never" and not duplicate:
        assert creates[-1] == len(log) - 1, f"requests after a definite answer\n{_describe(out)}"


# -- result checks ------------------------------------------------------------------------------


def check_reply(result: Any, out: Outcome) -> str | None:
    assert isinstance(result, PaynetReply), result
    assert type(result.code) is int and result.code in (0, 100), result
    assert _text_or_none(result.message) and _text_or_none(result.object_name), result
    return None


def check_created(result: Any, out: Outcome) -> str | None:
    assert isinstance(result, CreatedInvoice), result
    assert (
        result.invoice_no == INVOICE_NO and result.amount == AMOUNT and type(result.amount) is int
    )
    assert result.code in (0, 100), result
    creates = sum(e.path == "create_invoice" for e in out.log)
    assert result.attempts == creates, (result, creates)
    if result.recovered:
        pages = [e.reply.parsed()[1] for e in out.log if e.path == "invoice_list"]
        assert any(
            isinstance(p, dict)
            and isinstance(p.get("data"), list)
            and any(isinstance(i, dict) and i.get("invoice_no") == INVOICE_NO for i in p["data"])
            for p in pages
        ), "recovered without a lookup that found it"
    if not _text_or_none(result.message):
        return "created-message-type"
    return None


def _invoice(inv: Any) -> str | None:
    assert isinstance(inv, Invoice), inv
    assert isinstance(inv.status, InvoiceStatus)
    assert all(
        _text_or_none(v)
        for v in (inv.invoice_no, inv.invoice_id, inv.subscription_id, inv.reference_no)
    )
    assert inv.val_date is None or isinstance(inv.val_date, datetime)
    return (
        _money(inv.amount, PAYNET)
        or _money(inv.agent_amount, PAYNET, optional=True)
        or _money(inv.company_amount, PAYNET, optional=True)
    )


def _page_items(bodies: list[Any]) -> list[Any]:
    return [item for body in bodies for item in (body.get("data") or [])]


def check_invoices(result: Any, out: Outcome) -> str | None:
    assert isinstance(result, list)
    bugs = [_invoice(inv) for inv in result]
    # nothing lost, nothing made up: exactly the items of the pages it took
    items = _page_items(_accepted(out, OPS_BY_NAME["list_invoices"]))
    assert len(result) == len(items), (len(result), len(items), _describe(out))
    return next((b for b in bugs if b), None)


def check_found(result: Any, out: Outcome) -> str | None:
    items = _page_items(_accepted(out, OPS_BY_NAME["find_invoice"]))
    present = [i for i in items if i.get("invoice_no") == INVOICE_NO]
    if result is None:
        assert not present, f"find_invoice missed it\n{_describe(out)}"
        return None
    assert result.invoice_no == INVOICE_NO
    return _invoice(result)


def _subscription(sub: Any) -> str | None:
    assert isinstance(sub, Subscription), sub
    assert isinstance(sub.subscription_id, str)
    return _money(sub.amount, PAYNET, optional=True)


def check_subscriptions(result: Any, out: Outcome) -> str | None:
    assert isinstance(result, list)
    bugs = [_subscription(s) for s in result]
    items = _page_items(_accepted(out, OPS_BY_NAME["list_subscriptions"]))
    assert len(result) == len(items), _describe(out)
    return next((b for b in bugs if b), None)


def check_detail(result: Any, out: Outcome) -> str | None:
    return _subscription(result)


def _bill(p: Any) -> str | None:
    assert isinstance(p, BillPayment), p
    assert type(p.invoice_payment_id) is int and p.status in ("Paid", "Cancelled")
    assert all(
        isinstance(v, str)
        for v in (p.invoice_type, p.institution, p.subscriber_no, p.customer_name)
    )
    assert p.paid_at is None or isinstance(p.paid_at, datetime)
    assert p.due_date is None or isinstance(p.due_date, date)
    return _money(p.amount_kurus, PAYOFIN) or _money(p.fee_kurus, PAYOFIN)


def check_bill(result: Any, out: Outcome) -> str | None:
    bug = _bill(result)
    (body,) = _accepted(out, OPS_BY_NAME["invoice_check"])
    assert result.invoice_payment_id == body["invoiceDetail"]["invoicePaymentId"]
    return bug


def check_bills(name: str) -> Callable[[Any, Outcome], str | None]:
    def check(result: Any, out: Outcome) -> str | None:
        assert isinstance(result, list)
        bugs = [_bill(p) for p in result]
        ids = [
            i["invoicePaymentId"]
            for b in _accepted(out, OPS_BY_NAME[name])
            for i in (b.get("invoiceList") or [])
        ]
        assert sorted(p.invoice_payment_id for p in result) == sorted(
            set(ids) if name == "list_payments" else ids
        )
        return next((b for b in bugs if b), None)

    return check


def check_institutions(result: Any, out: Outcome) -> str | None:
    assert isinstance(result, list)
    for inst in result:
        assert (
            isinstance(inst, Institution)
            and type(inst.soot_code) is int
            and isinstance(inst.name, str)
        )
    (body,) = _accepted(out, OPS_BY_NAME["list_institutions"])
    assert len(result) == len(body.get("sootList") or [])
    return None


# -- the operations -----------------------------------------------------------------------------


def create(c):
    return c.create_invoice(
        subscription_id=SUBSCRIPTION,
        amount=AMOUNT,
        val_date=date(2026, 12, 1),
        invoice_no=INVOICE_NO,
    )


async def acreate(c):
    return await create(c)


async def astatus(c):
    return await c.update_invoice_status(invoice_no=INVOICE_NO, status=InvoiceStatus.CANCEL)


STATUS_OK = paynet_envelope("subscription_invoice_status_update")
OPS = [
    Op(
        "create_invoice",
        PAYNET,
        frozenset({"create_invoice"}),
        {
            "create_invoice": paynet_envelope("subscription_invoice"),
            "invoice_list": invoice_page(target=True),
        },
        create,
        check_created,
        creates=True,
    ),
    Op(
        "find_invoice",
        PAYNET,
        frozenset({"invoice_list"}),
        {"invoice_list": invoice_page(target=True)},
        lambda c: c.find_invoice(invoice_no=INVOICE_NO, subscription_id=SUBSCRIPTION),
        check_found,
        page_key="starting_after",
    ),
    Op(
        "update_invoice_status",
        PAYNET,
        frozenset({"invoice_status_update"}),
        {"invoice_status_update": STATUS_OK},
        lambda c: c.update_invoice_status(invoice_no=INVOICE_NO, status=InvoiceStatus.CANCEL),
        check_reply,
    ),
    Op(
        "update_all_invoice_statuses",
        PAYNET,
        frozenset({"invoices_status_update_all"}),
        {"invoices_status_update_all": paynet_envelope("subscription_invoices_status_update_all")},
        lambda c: c.update_all_invoice_statuses(subscription_id=SUBSCRIPTION, status=5),
        check_reply,
    ),
    Op(
        "update_invoice_amount",
        PAYNET,
        frozenset({"invoice_amount_update"}),
        {"invoice_amount_update": paynet_envelope("subscription_invoice_amount_update")},
        lambda c: c.update_invoice_amount(invoice_no=INVOICE_NO, amount=10220),
        check_reply,
    ),
    Op(
        "list_invoices",
        PAYNET,
        frozenset({"invoice_list"}),
        {"invoice_list": invoice_page()},
        lambda c: c.list_invoices(subscription_id=SUBSCRIPTION),
        check_invoices,
        page_key="starting_after",
    ),
    Op(
        "list_subscriptions",
        PAYNET,
        frozenset({"list"}),
        {"list": paynet_page(paynet_subscription(), "subscription_list")},
        lambda c: c.list_subscriptions(date(2026, 1, 1), date(2026, 12, 31)),
        check_subscriptions,
        page_key="starting_after",
    ),
    Op(
        "subscription_detail",
        PAYNET,
        frozenset({"subscription_detail"}),
        {
            "subscription_detail": st.one_of(
                st.builds(
                    lambda e, s: {**e, "data": s},
                    paynet_envelope("subscription_detail"),
                    paynet_subscription(),
                ),
                st.builds(
                    lambda e, s: {**e, **s},
                    paynet_envelope("subscription_detail"),
                    paynet_subscription(),
                ),
            )
        },
        lambda c: c.subscription_detail(subscription_id=SUBSCRIPTION),
        check_detail,
    ),
    Op(
        "async_create_invoice",
        PAYNET,
        frozenset({"create_invoice"}),
        {
            "create_invoice": paynet_envelope("subscription_invoice"),
            "invoice_list": invoice_page(target=True),
        },
        acreate,
        check_created,
        client="async",
        creates=True,
    ),
    Op(
        "async_update_invoice_status",
        PAYNET,
        frozenset({"invoice_status_update"}),
        {"invoice_status_update": STATUS_OK},
        astatus,
        check_reply,
        client="async",
    ),
    Op(
        "invoice_check",
        PAYOFIN,
        frozenset({"invoicecheck"}),
        {"invoicecheck": invoicecheck_reply},
        lambda c: c.invoice_check(1786),
        check_bill,
        client="payofin",
    ),
    Op(
        "list_payments_window",
        PAYOFIN,
        frozenset({"invoicelist"}),
        {"invoicelist": invoicelist_reply},
        lambda c: c.list_payments_window(date(2026, 11, 1), date(2026, 11, 15)),
        check_bills("list_payments_window"),
        client="payofin",
        page_key="firstDate",
    ),
    Op(
        "list_payments",
        PAYOFIN,
        frozenset({"invoicelist"}),
        {"invoicelist": invoicelist_reply},
        lambda c: c.list_payments(date(2026, 10, 1), date(2026, 11, 9)),
        check_bills("list_payments"),
        client="payofin",
        page_key="firstDate",
    ),
    Op(
        "list_institutions",
        PAYOFIN,
        frozenset({"sootlist"}),
        {"sootlist": sootlist_reply},
        lambda c: c.list_institutions(),
        check_institutions,
        client="payofin",
    ),
]
OPS_BY_NAME = {op.name: op for op in OPS}
#: per operation and path: the list of replies served to one call
SCRIPTS = {
    op.name: {
        path: st.lists(replies(op.provider, valid), min_size=1, max_size=5)
        for path, valid in op.paths.items()
    }
    for op in OPS
}
#: the last page of a walk, so a mutated page is judged on its own rather than repeated
LAST_PAGE = Reply("valid", 200, b'{"code": 0, "data": [], "has_more": false}')


def _field_scripts(op: Op) -> dict[str, st.SearchStrategy[list[Reply]]]:
    """The other half of the examples: one to three 200 replies, each a good reply with one to three
    fields removed or retyped (the operation's first path), good replies elsewhere."""
    out = {}
    for n, (path, valid) in enumerate(op.paths.items()):
        if n == 0:
            one = mutated(valid, op.provider).map(
                lambda b: Reply(
                    "mutated field", 200, dumps(b).encode(), (("Content-Type", "application/json"),)
                )
            )
            tail = [LAST_PAGE] if op.page_key == "starting_after" else []
            out[path] = st.lists(one, min_size=1, max_size=3).map(lambda rs, tail=tail: rs + tail)
        else:
            out[path] = st.lists(replies(op.provider, valid), min_size=1, max_size=3)
    return out


FIELD_SCRIPTS = {op.name: _field_scripts(op) for op in OPS}


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@FUZZ
@given(data=st.data(), max_retries=st.integers(0, 3), one_bad_field=st.booleans())
def test_bad_replies_give_a_clear_error_a_safe_retry_and_lose_nothing(
    op, data, max_retries, one_bad_field
):
    chosen = FIELD_SCRIPTS if one_bad_field else SCRIPTS
    scripts = {path: data.draw(strategy, label=path) for path, strategy in chosen[op.name].items()}
    EXAMPLES[op.name] += 1
    judge(op, run(op, scripts, max_retries), max_retries)


# -- the assertions can fail: each property caught on a client that breaks it -------------------


def test_the_judge_catches_a_blind_resend_and_an_untyped_leak():
    timeout = Reply("ReadTimeout", exc=httpx.ReadTimeout)
    ok = Reply("valid", 200, b'{"code": 0}')
    op = OPS_BY_NAME["create_invoice"]
    blind = Outcome(
        result=CreatedInvoice(
            INVOICE_NO, AMOUNT, datetime(2026, 12, 1), SUBSCRIPTION, None, 0, None, attempts=2
        ),
        log=[
            Entry("create_invoice", {"invoice_no": INVOICE_NO, "amount": str(AMOUNT)}, r)
            for r in (timeout, ok)
        ],
        sleeps=[0.3],
    )
    with pytest.raises(AssertionError, match="blind resend"):
        judge(op, blind, 3)
    leak = Outcome(error=KeyError("code"), log=[Entry("invoice_status_update", {}, ok)])
    with pytest.raises(AssertionError, match="leaked KeyError"):
        judge(OPS_BY_NAME["update_invoice_status"], leak, 3)
    secret = Outcome(
        error=ServerError(f"boom {PAYNET_KEY}", provider=PAYNET, operation="invoice_status_update"),
        log=[Entry("invoice_status_update", {}, Reply("5xx", 500, b"<html>boom</html>"))],
    )
    with pytest.raises(BaseException, match="key shows"):
        judge(OPS_BY_NAME["update_invoice_status"], secret, 0)


def test_the_judge_catches_retrying_a_refusal_and_giving_up_on_a_passing_fault():
    refusal = Reply("error code", 200, b'{"code": 6, "message": "noprocess"}')
    ok = Reply("valid", 200, b'{"code": 0}')
    op = OPS_BY_NAME["update_invoice_status"]
    again = Outcome(
        result=PaynetReply(code=0),
        log=[Entry("invoice_status_update", {}, r) for r in (refusal, ok)],
        sleeps=[0.3],
    )
    with pytest.raises(AssertionError, match="definite answer"):
        judge(op, again, 3)
    busy = Reply("5xx", 503, b"<html>busy</html>")
    gave_up = Outcome(
        error=ServerError(
            "busy", provider=PAYNET, operation="invoice_status_update", http_status=503
        ),
        log=[Entry("invoice_status_update", {}, busy)],
    )
    with pytest.raises(BaseException, match="gave up"):
        judge(op, gave_up, 3)
    float_money = Outcome(
        result=[Invoice.model_construct(amount=10.5, status=InvoiceStatus.WAITING)]
    )
    with pytest.raises(AssertionError, match="not int"):
        _invoice(float_money.result[0])


# -- each fault this suite found, pinned with the reply that showed it ---------------------------


def paynet(*replies_in_order, max_retries=0, sleeps=None):
    handler = Handler(
        {
            p: list(replies_in_order)
            for p in ("invoice_status_update", "invoice_list", "create_invoice")
        }
    )
    client = PaynetClient(
        PAYNET_KEY,
        environment="test",
        transport=httpx.MockTransport(handler),
        sleep=(sleeps if sleeps is not None else []).append,
        max_retries=max_retries,
    )
    return client, handler


def payofin(body: str, **kw):
    handler = Handler(
        {p: [Reply("x", 200, body.encode())] for p in ("invoicecheck", "invoicelist", "sootlist")}
    )
    client = PayofinClient(
        PAYOFIN_API_KEY,
        PAYOFIN_SECRET_KEY,
        environment="test",
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        max_retries=0,
        **kw,
    )
    return client, handler


def text_reply(body: str, status: int = 200, **kw) -> Reply:
    return Reply("pinned", status, body.encode(), **kw)


BILL = {
    "invoicePaymentId": 1786,
    "invoiceType": "Su Faturası",
    "sootName": "İSKİ",
    "subscriberNo": "01345677000",
    "invoiceAmount": Raw("1.00"),
    "status": "Paid",
}


@pytest.mark.parametrize("code", ["²", "--5", "9" * 5000])
def test_a_code_that_only_looks_like_digits_is_a_contract_error(code):
    c, _ = paynet(text_reply(json.dumps({"code": code})))
    with pytest.raises(ContractError):
        c.update_invoice_status(invoice_no="1", status=5)
    p, _ = payofin(json.dumps({"resultCode": code}))
    with pytest.raises(ContractError):
        p.invoice_check(1)


@pytest.mark.parametrize("body", ['{"code": 0, "message": 5}', '{"code": 0, "object_name": []}'])
def test_a_success_with_wrong_typed_envelope_fields_is_a_contract_error(body):
    c, _ = paynet(text_reply(body))
    with pytest.raises(ContractError):
        c.update_invoice_status(invoice_no="1", status=5)


def test_create_invoice_never_returns_a_message_that_is_not_text():
    c, _ = paynet(text_reply('{"code": 0, "message": ["Başarılı"]}'))
    try:
        created = c.create_invoice(subscription_id="s", amount=100, val_date=date(2026, 12, 1))
    except ContractError:
        return
    assert created.message is None or isinstance(created.message, str)


@pytest.mark.parametrize("body", ["[" * 5000, '{"a":' * 5000])
def test_a_deeply_nested_body_is_a_contract_error(body):
    c, _ = paynet(text_reply(body))
    with pytest.raises(ContractError):
        c.update_invoice_status(invoice_no="1", status=5)


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "idna", "rot13"])
def test_a_body_in_another_charset_than_its_header_says_is_read_or_refused_cleanly(charset):
    reply = text_reply(
        '{"code": 0}', headers=(("Content-Type", f"application/json; charset={charset}"),)
    )
    c, _ = paynet(reply)
    with contextlib.suppress(ContractError):
        assert c.update_invoice_status(invoice_no="1", status=5).code == 0


@pytest.mark.parametrize("amount", ["1e400", '"' + "9" * 400 + '"', "1e100000"])
def test_an_amount_no_invoice_can_have_is_a_contract_error(amount):
    page = '{"code": 0, "data": [{"invoice_no": "N", "amount": ' + amount + ', "status": 0}]}'
    c, _ = paynet(text_reply(page))
    try:
        invoices = c.list_invoices(subscription_id="s")
    except ContractError:
        return
    assert all(inv.amount <= MAX_INT64 for inv in invoices)


def test_a_payofin_amount_beyond_decimal_range_is_a_contract_error():
    p, _ = payofin(
        dumps({"invoiceDetail": {**BILL, "invoiceAmount": Raw("1e999999")}, "resultCode": 1})
    )
    with pytest.raises(ContractError):
        p.invoice_check(1786)


def test_a_negative_payofin_amount_is_a_contract_error():
    p, _ = payofin(
        dumps({"invoiceDetail": {**BILL, "invoiceAmount": Raw("-5.00")}, "resultCode": 1})
    )
    with pytest.raises(ContractError):
        p.invoice_check(1786)


@pytest.mark.parametrize(
    "body",
    [
        '{"resultCode": 1, "sootList": 5}',
        '{"resultCode": 1, "sootList": [{"sootCode": Infinity, "sootName": "x"}]}',
    ],
)
def test_a_malformed_soot_list_is_a_contract_error(body):
    p, _ = payofin(body)
    with pytest.raises(ContractError):
        p.list_institutions()


def test_list_payments_sorts_payments_with_and_without_a_payment_date():
    unpaid = BILL | {"invoicePaymentId": 2, "expDate": "09.05.2022"}
    paid = BILL | {"paymentDate": "10.05.2022"}
    p, _ = payofin(dumps({"invoiceList": [paid, unpaid], "resultCode": 1}))
    assert len(p.list_payments(date(2026, 11, 1), date(2026, 11, 2))) == 2


@pytest.mark.parametrize(
    "body",
    [
        f"<html><pre>Authorization: Basic {PAYNET_KEY}</pre></html>",
        json.dumps({"code": 7, "message": f"key {PAYNET_KEY}"}),
    ],
)
def test_a_reply_that_echoes_the_key_does_not_put_it_in_the_error(body):
    c, _ = paynet(text_reply(body))
    with pytest.raises(ProviderError) as exc:
        c.update_invoice_status(invoice_no="1", status=5)
    assert PAYNET_KEY not in str(exc.value) and PAYNET_KEY not in repr(exc.value)


def test_create_invoice_gives_up_on_a_retry_after_beyond_the_policy():
    sleeps: list[float] = []
    c, handler = paynet(
        text_reply("", 429, headers=(("Retry-After", "3600"),)),
        text_reply('{"code": 0}'),
        max_retries=3,
        sleeps=sleeps,
    )
    with pytest.raises(RateLimitError):
        c.create_invoice(subscription_id="s", amount=100, val_date=date(2026, 12, 1))
    assert len(handler.log) == 1 and sleeps == []


def test_a_page_that_always_says_has_more_does_not_loop_forever():
    page = (
        '{"code": 0, "has_more": true, "data": [{"invoice_no": "N", "amount": "1", "status": 0}]}'
    )
    c, handler = paynet(text_reply(page))
    with contextlib.suppress(ProviderError):
        c.list_invoices(subscription_id="s")
    assert len(handler.log) < CAP


@pytest.mark.parametrize("body", ['"Service Unavailable"', "null", "[]"])
def test_a_5xx_with_a_json_body_that_is_not_an_object_is_retried_as_a_server_error(body):
    c, handler = paynet(text_reply(body, 503), text_reply('{"code": 0}'), max_retries=1)
    assert c.update_invoice_status(invoice_no="1", status=5).code == 0
    assert len(handler.log) == 2


def test_a_failed_lookup_after_an_ambiguous_duplicate_is_reported_as_create_invoice():
    handler = Handler(
        {
            "create_invoice": [
                Reply("5xx", 502, b"<html>bad gateway</html>"),
                text_reply('{"code": 5, "message": "duplicatedata"}'),
            ],
            "invoice_list": [
                text_reply('{"code": 0, "data": []}'),
                text_reply("<html>down</html>", 401),
            ],
        }
    )
    c = PaynetClient(
        PAYNET_KEY, environment="test", transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    with pytest.raises(ProviderError) as exc:
        c.create_invoice(
            subscription_id="s", amount=100, val_date=date(2026, 12, 1), invoice_no="DUP-9"
        )
    assert exc.value.operation == "create_invoice", str(exc.value)
