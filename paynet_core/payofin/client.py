"""Typed client for Payofin's bill-payment API.

JSON over POST (``sootlist`` is a GET) with the headers ``ApiKey`` and ``SecretKey``. Replies
carry ``result``/``resultCode``/``resultMessage``; code 1 is success, negative codes are typed
errors with the documented meaning. Amounts arrive as decimal TL and are converted exactly to
kuruş (JSON is parsed with ``Decimal``, never float).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx

from ..config import Secret
from ..dates import date_windows, format_payofin_date
from ..errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    ContractError,
    NotFoundError,
    RateLimitError,
    ServerError,
    http_explanation,
)
from ..http import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Call,
    Sender,
    bounded_transport,
    needs_transport,
    read_json,
    reply_code,
    reply_text,
    shown,
)
from ..http.retry import RetryPolicy, parse_retry_after
from ..i18n import Message
from .models import (
    AUTH_CODES,
    NOT_FOUND_CODES,
    RESULT_CODES,
    TRANSIENT_CODES,
    BillPayment,
    Institution,
    wire_problem,
)

PROVIDER = "Payofin"
BASE_URLS = {
    "sandbox": "http://payofin.sandbox",
    "test": "https://api-test.payofin.com",
    "live": "https://api.payofin.com",
}
#: InvoiceList refuses ranges longer than this (code -9).
MAX_LIST_DAYS = 15
#: INFERRED: an InvoiceList window (15 days, unpaged) of a busy merchant can hold thousands of
#: payments at ~500 bytes each, so Payofin replies may be larger than Paynet's pages.
DEFAULT_MAX_REPLY_BYTES = 8 * 1024 * 1024


def _result_code(body: dict, call: Call, request_id: str) -> int:
    # Tables write ResultCode, samples resultCode: read either.
    value = body.get("resultCode", body.get("ResultCode"))
    code = reply_code(value)
    if code is None:
        raise ContractError(
            Message(
                "reply has no usable 'resultCode': {value} is not an int or a digit string",
                value=shown(value),
            ),
            provider=PROVIDER,
            operation=call.operation,
            http_status=200,
            request_id=request_id,
        )
    return code


def interpret(call: Call, response: httpx.Response, request_id: str) -> dict[str, Any]:
    status = response.status_code
    ctx: dict[str, Any] = dict(
        provider=PROVIDER, operation=call.operation, http_status=status, request_id=request_id
    )
    if status == 429:
        raise RateLimitError(
            Message("too many requests; wait a moment and try again"),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **ctx,
        )
    if status >= 500:
        raise ServerError(http_explanation(ServerError), **ctx)
    if status in (401, 403):
        raise AuthenticationError(
            Message("the API key or secret key was refused, or this IP is not registered"),
            **ctx,
        )
    if status != 200:
        raise APIError(http_explanation(APIError), **ctx)
    body = read_json(response, provider=PROVIDER, operation=call.operation, request_id=request_id)
    if not isinstance(body, dict):
        raise ContractError(
            Message("reply is a JSON {kind}, not an object", kind=type(body).__name__), **ctx
        )
    code = _result_code(body, call, request_id)
    if code == 1:
        return body
    said = reply_text(body.get("resultMessage")) or reply_text(body.get("ResultMessage"))
    cls: type[APIError]
    if code in AUTH_CODES:
        cls = AuthenticationError
    elif code in NOT_FOUND_CODES:
        cls = NotFoundError
    elif code in TRANSIENT_CODES:
        cls = ServerError
    else:
        cls = APIError
    meaning = RESULT_CODES.get(code)
    text = Message(meaning) if meaning else Message("unknown result code {code}", code=code)
    raise cls(text, said=said, code=code, **ctx)


class PayofinClient:
    """Read-side Payofin client: invoice status, payment lists, institutions."""

    def __init__(
        self,
        api_key: str | Secret | None = None,
        secret_key: str | Secret | None = None,
        *,
        environment: str = "sandbox",
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_retry_wait: float = RetryPolicy.max_retry_wait,
    ):
        if environment not in BASE_URLS:
            raise ConfigError(
                f"environment must be one of {', '.join(BASE_URLS)}, got {environment!r}"
            )
        api_key = _secret(api_key)
        secret_key = _secret(secret_key)
        if api_key is None or secret_key is None:
            if environment != "sandbox":
                raise ConfigError(
                    f"Payofin {environment} needs PAYOFIN_API_KEY and PAYOFIN_SECRET_KEY "
                    "(environment or .streamlit/secrets.toml)"
                )
            api_key, secret_key = Secret("sandbox-api-key"), Secret("sandbox-secret-key")
        self.environment = environment
        self.base_url = base_url or BASE_URLS[environment]
        self._api_key, self._secret_key = api_key, secret_key
        transport = needs_transport(
            PROVIDER, environment, self.base_url, BASE_URLS["sandbox"], transport
        )
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=bounded_transport(transport)
        )
        kwargs = {"sleep": sleep} if sleep else {}
        self._sender = Sender(
            self._http,
            self._headers,
            interpret,
            RetryPolicy(max_retries=max_retries, max_retry_wait=max_retry_wait),
            secrets=(api_key, secret_key),
            deadline=deadline,
            max_reply_bytes=max_reply_bytes,
            **kwargs,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "ApiKey": self._api_key.reveal(),
            "SecretKey": self._secret_key.reveal(),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return f"PayofinClient(environment={self.environment!r}, api_key={self._api_key.masked!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PayofinClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def invoice_check(self, invoice_payment_id: int) -> BillPayment:
        """Status of one collected bill (``InvoiceCheck``)."""
        if (
            isinstance(invoice_payment_id, bool)
            or not isinstance(invoice_payment_id, int)
            or invoice_payment_id <= 0
        ):
            from ..errors import InputError

            raise InputError("must be a positive whole number", field="invoicePaymentId")
        call = Call(
            PROVIDER,
            "invoicecheck",
            "/invoices/invoicecheck",
            {"invoicePaymentId": invoice_payment_id},
            True,
        )
        body = self._sender.send(call)
        detail = body.get("invoiceDetail")
        if not isinstance(detail, dict):
            raise ContractError(
                Message("reply has no 'invoiceDetail' object"),
                provider=PROVIDER,
                operation=call.operation,
                http_status=200,
            )
        return _payment(detail, call)

    def list_payments_window(self, first_day: date, last_day: date) -> list[BillPayment]:
        """One ``InvoiceList`` call; the range must be at most 15 days (use :meth:`list_payments`)."""
        if (last_day - first_day).days + 1 > MAX_LIST_DAYS:
            raise ValueError(f"a window is at most {MAX_LIST_DAYS} days")
        payload = {
            "firstDate": format_payofin_date(first_day),
            "lastDate": format_payofin_date(last_day),
        }
        call = Call(PROVIDER, "invoicelist", "/invoices/invoicelist", payload, True)
        body = self._sender.send(call)
        items = body.get("invoiceList")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ContractError(
                Message("'invoiceList' is not a list"),
                provider=PROVIDER,
                operation=call.operation,
                http_status=200,
            )
        return [_payment(item, call) for item in items]

    def iter_payment_windows(
        self, first_day: date, last_day: date
    ) -> Iterator[tuple[date, date, list[BillPayment]]]:
        """Each window of at most 15 days with its payments, in order."""
        for start, end in date_windows(first_day, last_day, MAX_LIST_DAYS):
            yield start, end, self.list_payments_window(start, end)

    def list_payments(self, first_day: date, last_day: date) -> list[BillPayment]:
        """Every payment in ``first_day..last_day`` inclusive, any length of range: split into
        windows of at most 15 days that cover each day exactly once, merged by payment id."""
        merged: dict[int, BillPayment] = {}
        for _start, _end, payments in self.iter_payment_windows(first_day, last_day):
            for p in payments:
                merged[p.invoice_payment_id] = p
        # by day (a paid_at datetime and a due_date date do not compare), then by id
        return sorted(
            merged.values(),
            key=lambda p: (p.paid_day or p.due_date or date.min, p.invoice_payment_id),
        )

    def list_institutions(self) -> list[Institution]:
        """Institutions (``sootlist``) the merchant may collect for."""
        call = Call(PROVIDER, "sootlist", "/invoices/sootlist", None, True, method="GET")
        body = self._sender.send(call)
        items = body.get("sootList")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ContractError(
                Message("'sootList' is not a list"),
                provider=PROVIDER,
                operation=call.operation,
                http_status=200,
            )
        out = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise ContractError(
                    Message("sootList item {n} is not an object", n=n),
                    provider=PROVIDER,
                    operation=call.operation,
                    http_status=200,
                )
            try:
                out.append(Institution.from_wire(item))
            except ValueError as exc:
                raise ContractError(
                    Message("sootList item {n}: {problem}", n=n, problem=wire_problem(exc)),
                    provider=PROVIDER,
                    operation=call.operation,
                    http_status=200,
                ) from exc
        return out


def _secret(value: str | Secret | None) -> Secret | None:
    if isinstance(value, str):
        return Secret(value) if value.strip() else None
    return value


def _payment(item: Any, call: Call) -> BillPayment:
    if not isinstance(item, dict):
        raise ContractError(
            Message("payment item is not an object"),
            provider=PROVIDER,
            operation=call.operation,
            http_status=200,
        )
    try:
        return BillPayment.from_wire(item)
    except (ValueError, TypeError, KeyError) as exc:
        problem = wire_problem(exc)
        raise ContractError(
            problem if isinstance(problem, Message) else str(exc),
            provider=PROVIDER,
            operation=call.operation,
            http_status=200,
        ) from exc
