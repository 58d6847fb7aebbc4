"""Typed client for Paynet's subscription API.

Every call is ``POST <base>/v1/subscription/<operation>`` with JSON and the header
``Authorization: Basic <secret key>`` (the raw key, as Paynet's own pages show; not base64).
Amounts go out as kuruş digit strings, ``val_date`` as ``dd.MM.yyyy HH:mm:ss`` Istanbul time.

Replies: HTTP 200 carries the business result in ``code`` (an int, or a digit string as the
tables type it); 0 and 100 are success. Anything else becomes a typed error from
:mod:`paynet_core.errors`.

``create_invoice`` always sends an ``invoice_no`` (generated when the caller gives none) because
Paynet returns no id: the number is our idempotency handle. After an ambiguous failure (no reply,
a 5xx, a garbled body) the client looks the number up with ``invoice_list``: found means done,
absent means send again (with no tries left it still looks once, so the error says whether the
invoice is there). It never blindly repeats a creation.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from ..config import Secret
from ..dates import format_paynet_date, format_paynet_datetime, now, to_istanbul
from ..errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    ContractError,
    DuplicateError,
    InputError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
    SubscriptionStateError,
    TransportError,
    clip,
)
from ..http import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    AsyncSender,
    Call,
    Sender,
    bounded_transport,
    needs_transport,
    next_wait,
    read_json,
    reply_code,
    reply_text,
    shown,
)
from ..money import to_wire
from ..http.retry import RetryPolicy, parse_retry_after, should_retry
from .models import (
    RETURN_CODE_TABLE,
    SUBSCRIPTION_STATE_CODES,
    SUCCESS_CODES,
    Invoice,
    InvoiceStatus,
    ListPage,
    PaynetModel,
    PaynetReply,
    Subscription,
)

PROVIDER = "Paynet"
BASE_URLS = {
    "sandbox": "http://paynet.sandbox",
    "test": "https://pts-api.paynet.com.tr",
    "live": "https://api.paynet.com.tr",
}
#: INFERRED: the largest page the list endpoints are asked for (default is 10).
PAGE_SIZE = 100
#: A walk through a list stops with a ContractError after this many pages (a million invoices
#: at PAGE_SIZE): a server that makes up new items forever must not keep us busy forever.
MAX_PAGES = 10_000

# Business codes that say "try again later" and codes that say "who are you?".
_RETRYABLE_CODES = {8, 10}
# 24 (InvoiceNoNotFound) is only in an independent client's list, and means what 12 does for us.
_CODE_ERRORS: dict[int, type[APIError]] = {
    5: DuplicateError,
    7: AuthenticationError,
    12: NotFoundError,
    24: NotFoundError,
}
_TYPE_ERRORS: dict[str, type[APIError]] = {
    "authorization_error": AuthenticationError,
    "no_data_error": NotFoundError,
    "404 Not Found": NotFoundError,
    "api_error": ServerError,
}


@dataclass(frozen=True)
class CreatedInvoice:
    """What ``create_invoice`` knows after success. ``recovered`` means an earlier, ambiguous
    attempt had in fact created it (found by ``invoice_list``), so nothing was sent twice."""

    invoice_no: str
    amount: int
    val_date: datetime
    subscription_id: str | None
    reference_no: str | None
    code: int
    message: str | None
    attempts: int = 1
    recovered: bool = False


def generate_invoice_no() -> str:
    """A unique invoice number: ``PO`` + yymmdd + 10 random hex digits (18 characters)."""
    return f"PO{now():%y%m%d}{_secrets.token_hex(5).upper()}"


# -- building requests ----------------------------------------------------------------------


def _one_of(field_a: str, a: Any, field_b: str, b: Any) -> dict[str, str]:
    """Paynet's "at least one of" rule; the unused one is sent as "" like the documented samples."""
    a = "" if a is None else str(a).strip()
    b = "" if b is None else str(b).strip()
    if not a and not b:
        raise InputError(f"give {field_a} or {field_b}", field=field_a)
    return {field_a: a, field_b: b}


def _kurus_arg(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"must be int kuruş, got {type(value).__name__}", field=field)
    if value <= 0:
        raise InputError("must be positive", field=field)
    return value


def _status_arg(status: InvoiceStatus | int | str) -> InvoiceStatus:
    try:
        return InvoiceStatus.parse(status)
    except ValueError as exc:
        raise InputError(str(exc), field="status") from None


def _split_args(amount: int, agent_amount: int | None, company_amount: int | None) -> dict[str, str]:
    out = {}
    if agent_amount is not None:
        out["agent_amount"] = to_wire(_kurus_arg(agent_amount, "agent_amount"))
    if company_amount is not None:
        out["company_amount"] = to_wire(_kurus_arg(company_amount, "company_amount"))
    if agent_amount is not None and company_amount is not None and agent_amount + company_amount != amount:
        raise InputError("agent_amount + company_amount must equal amount", field="company_amount")
    for name in ("agent_amount", "company_amount"):
        part = {"agent_amount": agent_amount, "company_amount": company_amount}[name]
        if part is not None and part > amount:
            raise InputError("cannot be larger than amount", field=name)
    return out


def _val_date_arg(val_date: datetime | date) -> datetime:
    if isinstance(val_date, datetime):
        return to_istanbul(val_date)
    if isinstance(val_date, date):
        return to_istanbul(datetime(val_date.year, val_date.month, val_date.day))
    raise InputError("must be a date or datetime", field="val_date")


def create_invoice_call(
    *,
    amount: int,
    val_date: datetime,
    invoice_no: str,
    subscription_id: str | None,
    reference_no: str | None,
    agent_amount: int | None,
    company_amount: int | None,
    currency: str,
) -> Call:
    payload = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "amount": to_wire(_kurus_arg(amount, "amount")),
        **_split_args(amount, agent_amount, company_amount),
        "currency": currency,
        "val_date": format_paynet_datetime(val_date),
        "invoice_no": invoice_no,
    }
    return Call(PROVIDER, "create_invoice", "/v1/subscription/create_invoice", payload, idempotent=False)


def status_update_call(*, status: Any, invoice_no: str | None, invoice_id: str | int | None) -> Call:
    payload = {
        **_one_of("invoice_id", invoice_id, "invoice_no", invoice_no),
        "status": int(_status_arg(status)),
    }
    # Setting a status is idempotent: the same request twice leaves the same state.
    return Call(PROVIDER, "invoice_status_update", "/v1/subscription/invoice_status_update", payload, True)


def status_update_all_call(*, status: Any, subscription_id: str | None, reference_no: str | None) -> Call:
    payload = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "status": int(_status_arg(status)),
    }
    return Call(
        PROVIDER, "invoices_status_update_all", "/v1/subscription/invoices_status_update_all", payload, True
    )


def invoice_list_call(
    *,
    subscription_id: str | None,
    reference_no: str | None,
    status: Any = None,
    limit: int = PAGE_SIZE,
    starting_after: int = 0,
) -> Call:
    payload: dict[str, Any] = {
        **_one_of("subscription_id", subscription_id, "reference_no", reference_no),
        "limit": limit,
        "starting_after": starting_after,
    }
    if status is not None:
        payload["invoice_status"] = str(int(_status_arg(status)))  # typed string in the docs
    return Call(PROVIDER, "invoice_list", "/v1/subscription/invoice_list", payload, True)


# -- reading replies ------------------------------------------------------------------------


def _code(value: Any, call: Call, request_id: str, http_status: int) -> int:
    """``code`` is typed string in the tables and int in every sample: accept both."""
    code = reply_code(value)
    if code is not None:
        return code
    raise ContractError(
        f"reply has no usable 'code': {shown(value)} is not an int or a digit string",
        provider=PROVIDER,
        operation=call.operation,
        http_status=http_status,
        request_id=request_id,
    )


def interpret(call: Call, response: httpx.Response, request_id: str) -> dict[str, Any]:
    """Turn a reply into its JSON body, or raise the matching typed error."""
    status = response.status_code
    ctx = dict(provider=PROVIDER, operation=call.operation, http_status=status, request_id=request_id)
    if status == 429:
        raise RateLimitError(
            "too many requests", retry_after=parse_retry_after(response.headers.get("Retry-After")), **ctx
        )
    try:
        body = read_json(response, provider=PROVIDER, operation=call.operation, request_id=request_id)
    except ContractError as exc:
        if status >= 500:
            raise ServerError(exc.message, **ctx) from None
        if status != 200:
            raise _http_error(status, None, exc.message, None, ctx) from None
        raise
    if status != 200:
        # the status decides (a 5xx stays a retryable ServerError); the body only adds detail
        detail = body if isinstance(body, dict) else {}
        result_code = detail.get("result_code")
        result_code = result_code if isinstance(result_code, int) and not isinstance(result_code, bool) else None
        raise _http_error(status, detail.get("type"), detail.get("message"), result_code, ctx)
    if not isinstance(body, dict):
        raise ContractError(f"reply is a JSON {type(body).__name__}, not an object", **ctx)
    code = _code(body.get("code"), call, request_id, status)
    if code not in SUCCESS_CODES:
        raise code_error(code, reply_text(body.get("message")) or _first_item_message(body), ctx)
    body["code"] = code  # read once, here: the models and create_invoice take the int
    return body


def code_error(code: int, provider_message: str | None, ctx: dict) -> APIError:
    """The typed error for a return code that is not a success: the one place a code picks its
    class. The provider's message is kept; without one, the table's meaning stands in."""
    known = RETURN_CODE_TABLE.get(code)
    if known is None:
        said = provider_message or "no message"
        return APIError(f"{said} (code {code} is not in the return-code table)", code=code, **ctx)
    if code in SUBSCRIPTION_STATE_CODES:
        text = f"Paynet answered with the subscription's state instead of a result: {known.describe()}"
        if provider_message:
            text += f"; Paynet said: {provider_message}"
        return SubscriptionStateError(text, active=SUBSCRIPTION_STATE_CODES[code], code=code, **ctx)
    cls = _CODE_ERRORS.get(code) or (ServerError if code in _RETRYABLE_CODES else APIError)
    return cls(provider_message or known.describe(), code=code, **ctx)


def _first_item_message(body: dict) -> str | None:
    # manuel_charge puts the reason in data[0].message with a null top-level message
    data = body.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return reply_text(data[0].get("message"))
    return None


def _http_error(status: int, etype: Any, message: Any, result_code: int | None, ctx: dict) -> ProviderError:
    text = reply_text(message) or f"HTTP {status}"
    etype = reply_text(etype)
    if etype:
        text = f"{text} ({etype})"
    ctx = {**ctx, "code": result_code, "error_type": etype if isinstance(etype, str) else None}
    cls = _TYPE_ERRORS.get(etype) if isinstance(etype, str) else None
    if cls is None:
        if status in (401, 403):
            cls = AuthenticationError
        elif status == 404:
            cls = NotFoundError
        elif status >= 500:
            cls = ServerError
        else:
            # a plain 4xx: the return code, when it names a class (12/24 not found), decides
            cls = _CODE_ERRORS.get(result_code, APIError) if result_code is not None else APIError
    if result_code is not None and result_code not in RETURN_CODE_TABLE:
        text = f"{text} (code {result_code} is not in the return-code table)"
    return cls(text, **ctx)


def _model(model: type, data: Any, call: Call, request_id: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        raise ContractError(
            f"reply field {where!r}: {first['msg']}",
            provider=PROVIDER,
            operation=call.operation,
            request_id=request_id,
        ) from None


def _parse_page(body: dict, call: Call) -> ListPage:
    return _model(ListPage, body, call, "")


def _reply(body: dict, call: Call) -> PaynetReply:
    return _model(PaynetReply, body, call, "")


def _identity(item: PaynetModel) -> tuple:
    """What tells two list items apart: every field the model declares."""
    return tuple(getattr(item, name) for name in type(item).model_fields)


class _Walk:
    """Paging by index (``limit`` + ``starting_after``) that always ends.

    A server that ignores ``starting_after`` answers the same page again and again: forever when
    it says ``has_more`` without a ``total``, or until ``total`` with every item repeated. So
    each page must bring an item not read before, and a walk stops after MAX_PAGES pages."""

    def __init__(self, model: type[PaynetModel]):
        self.model = model
        self.offset = 0
        self.done = False
        self._pages = 0
        self._seen: set[tuple] = set()

    def take(self, body: dict, call: Call) -> list:
        """The items of the page ``body``; moves the walk on, or ends it."""
        page = _parse_page(body, call)
        items = [_model(self.model, item, call, "") for item in page.data]
        keys = {_identity(item) for item in items}
        if items and keys <= self._seen:
            raise ContractError(
                f"the page at starting_after={self.offset} only repeats items already read "
                "(the server seems to ignore 'starting_after'), so the walk stopped",
                provider=PROVIDER,
                operation=call.operation,
            )
        self._seen |= keys
        self._pages += 1
        self.offset += len(items)
        self.done = not items or not page.has_more or bool(page.total and self.offset >= page.total)
        if not self.done and self._pages >= MAX_PAGES:
            raise ContractError(
                f"still has_more after {MAX_PAGES} pages ({self.offset} items), so the walk stopped",
                provider=PROVIDER,
                operation=call.operation,
            )
        return items


# -- clients ---------------------------------------------------------------------------------


class _Base:
    def __init__(
        self,
        secret_key: str | Secret | None,
        *,
        environment: str = "sandbox",
        base_url: str | None = None,
        max_retries: int = 3,
        sleep: Callable | None = None,
        max_retry_wait: float = RetryPolicy.max_retry_wait,
    ):
        if environment not in BASE_URLS:
            raise ConfigError(f"environment must be one of {', '.join(BASE_URLS)}, got {environment!r}")
        if isinstance(secret_key, str):
            secret_key = Secret(secret_key) if secret_key.strip() else None
        if secret_key is None:
            if environment != "sandbox":
                raise ConfigError(
                    f"Paynet {environment} needs a secret key: set PAYNET_SECRET_KEY in the "
                    "environment or in .streamlit/secrets.toml"
                )
            secret_key = Secret("sck_sandbox_local")  # the sandbox accepts any sck_ key
        self.environment = environment
        self.base_url = base_url or BASE_URLS[environment]
        self._key = secret_key
        self.policy = RetryPolicy(max_retries=max_retries, max_retry_wait=max_retry_wait)
        self._sleep = sleep

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Basic {self._key.reveal()}",
            "Accept": "application/json; charset=UTF-8",
            "User-Agent": USER_AGENT,
        }

    def _default_transport(self, transport):
        return needs_transport(PROVIDER, self.environment, self.base_url, BASE_URLS["sandbox"], transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(environment={self.environment!r}, key={self._key.masked!r})"


class PaynetClient(_Base):
    """Synchronous Paynet client for pages, the CLI and notebooks. Amounts are kuruş ints."""

    def __init__(
        self,
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
        """``deadline``: seconds a request may take in all; ``max_reply_bytes``: the largest
        reply body read; ``max_retry_wait``: seconds one call may wait between its tries."""
        super().__init__(
            secret_key, environment=environment, base_url=base_url, max_retries=max_retries,
            sleep=sleep, max_retry_wait=max_retry_wait,
        )
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=bounded_transport(self._default_transport(transport))
        )
        kwargs = {"sleep": sleep} if sleep else {}
        self._sender = Sender(
            self._http, self._headers, interpret, self.policy, secrets=(self._key,),
            deadline=deadline, max_reply_bytes=max_reply_bytes, **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PaynetClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- invoices --

    def create_invoice(
        self,
        *,
        amount: int,
        val_date: datetime | date,
        subscription_id: str | None = None,
        reference_no: str | None = None,
        invoice_no: str | None = None,
        agent_amount: int | None = None,
        company_amount: int | None = None,
        currency: str = "TRY",
    ) -> CreatedInvoice:
        """Create an invoice exactly once, whatever the network does (see the module docstring)."""
        invoice_no = (invoice_no or "").strip() or generate_invoice_no()
        when = _val_date_arg(val_date).replace(microsecond=0)
        call = create_invoice_call(
            amount=amount, val_date=when, invoice_no=invoice_no, subscription_id=subscription_id,
            reference_no=reference_no, agent_amount=agent_amount, company_amount=company_amount,
            currency=currency,
        )
        attempts, waited = 0, 0.0
        ambiguous = False
        while True:
            attempts += 1
            try:
                body = self._sender.send_once(call)
                return _created(call, when, body, attempts)
            except DuplicateError as dup:
                if not ambiguous:
                    raise
                # our own earlier attempt landed after all; confirm it is the same invoice
                found = self._lookup_after_failure(call, dup)
                if found is not None:
                    return _recovered(call, when, found, attempts)
                raise
            except ProviderError as err:
                decision = _after_create_failure(err, attempts, self.policy)
                if decision == "raise":
                    raise
                if decision != "resend":
                    ambiguous = True
                    found = self._lookup_after_failure(call, err)
                    if found is not None:
                        return _recovered(call, when, found, attempts)
                    if decision == "last lookup":
                        raise _absent_after_last_try(err, invoice_no) from err
                delay = next_wait(err, attempt=attempts - 1, waited=waited, policy=self.policy)
                (self._sleep or _sync_sleep)(delay)
                waited += delay

    def _lookup_after_failure(self, call: Call, err: ProviderError) -> Invoice | None:
        p = call.payload or {}
        try:
            return self.find_invoice(
                invoice_no=p["invoice_no"], subscription_id=p.get("subscription_id"), reference_no=p.get("reference_no")
            )
        except ProviderError as lookup_err:
            raise _lookup_failed(err, lookup_err, p["invoice_no"]) from lookup_err

    def find_invoice(
        self, *, invoice_no: str, subscription_id: str | None = None, reference_no: str | None = None
    ) -> Invoice | None:
        """Look an invoice up by our ``invoice_no`` within its subscription (None when absent)."""
        for inv in self.iter_invoices(subscription_id=subscription_id, reference_no=reference_no):
            if inv.invoice_no == invoice_no:
                return inv
        return None

    def update_invoice_status(
        self, *, status: InvoiceStatus | int | str, invoice_no: str | None = None, invoice_id: str | int | None = None
    ) -> PaynetReply:
        call = status_update_call(status=status, invoice_no=invoice_no, invoice_id=invoice_id)
        return _reply(self._sender.send(call), call)

    def update_all_invoice_statuses(
        self, *, status: InvoiceStatus | int | str, subscription_id: str | None = None, reference_no: str | None = None
    ) -> PaynetReply:
        """Set the status of every invoice of one subscription (``invoices_status_update_all``)."""
        call = status_update_all_call(status=status, subscription_id=subscription_id, reference_no=reference_no)
        return _reply(self._sender.send(call), call)

    def update_invoice_amount(
        self,
        *,
        amount: int,
        invoice_no: str | None = None,
        invoice_id: str | int | None = None,
        agent_amount: int | None = None,
        company_amount: int | None = None,
    ) -> PaynetReply:
        payload = {
            **_one_of("invoice_id", invoice_id, "invoice_no", invoice_no),
            "amount": to_wire(_kurus_arg(amount, "amount")),
            **_split_args(amount, agent_amount, company_amount),
        }
        call = Call(PROVIDER, "invoice_amount_update", "/v1/subscription/invoice_amount_update", payload, True)
        return _reply(self._sender.send(call), call)

    def iter_invoices(
        self,
        *,
        subscription_id: str | None = None,
        reference_no: str | None = None,
        status: InvoiceStatus | int | str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Invoice]:
        """Every invoice of a subscription, page after page."""
        walk = _Walk(Invoice)
        while not walk.done:
            call = invoice_list_call(
                subscription_id=subscription_id, reference_no=reference_no, status=status,
                limit=page_size, starting_after=walk.offset,
            )
            yield from walk.take(self._sender.send(call), call)

    def list_invoices(self, **filters) -> list[Invoice]:
        """All invoices of a subscription (walks every page). Filters as :meth:`iter_invoices`."""
        return list(self.iter_invoices(**filters))

    # -- subscriptions --

    def iter_subscriptions(
        self, start: date, end: date, *, agent_id: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Subscription]:
        walk = _Walk(Subscription)
        while not walk.done:
            payload: dict[str, Any] = {
                "datab": format_paynet_date(start),
                "datbi": format_paynet_date(end),
                "limit": page_size,
                "starting_after": walk.offset,
            }
            if agent_id:
                payload["agent_id"] = agent_id
            call = Call(PROVIDER, "list", "/v1/subscription/list", payload, True)
            yield from walk.take(self._sender.send(call), call)

    def list_subscriptions(self, start: date, end: date, *, agent_id: str | None = None) -> list[Subscription]:
        """Subscriptions created between ``start`` and ``end`` inclusive (walks every page)."""
        return list(self.iter_subscriptions(start, end, agent_id=agent_id))

    def subscription_detail(self, *, subscription_id: str | None = None, reference_no: str | None = None) -> Subscription:
        payload = _one_of("subscription_id", subscription_id, "reference_no", reference_no)
        call = Call(PROVIDER, "subscription_detail", "/v1/subscription/subscription_detail", payload, True)
        body = self._sender.send(call)
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        return _model(Subscription, data, call, "")


class AsyncPaynetClient(_Base):
    """Async client for the bulk engine: the calls a job makes, with the same guarantees."""

    def __init__(
        self,
        secret_key: str | Secret | None = None,
        *,
        environment: str = "sandbox",
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
        sleep: Callable | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_retry_wait: float = RetryPolicy.max_retry_wait,
    ):
        super().__init__(
            secret_key, environment=environment, base_url=base_url, max_retries=max_retries,
            sleep=sleep, max_retry_wait=max_retry_wait,
        )
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=self._default_transport(transport), limits=limits
        )
        kwargs = {"sleep": sleep} if sleep else {}
        self._sender = AsyncSender(
            self._http, self._headers, interpret, self.policy, secrets=(self._key,),
            deadline=deadline, max_reply_bytes=max_reply_bytes, **kwargs,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPaynetClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def create_invoice(
        self,
        *,
        amount: int,
        val_date: datetime | date,
        subscription_id: str | None = None,
        reference_no: str | None = None,
        invoice_no: str | None = None,
        agent_amount: int | None = None,
        company_amount: int | None = None,
        currency: str = "TRY",
    ) -> CreatedInvoice:
        invoice_no = (invoice_no or "").strip() or generate_invoice_no()
        when = _val_date_arg(val_date).replace(microsecond=0)
        call = create_invoice_call(
            amount=amount, val_date=when, invoice_no=invoice_no, subscription_id=subscription_id,
            reference_no=reference_no, agent_amount=agent_amount, company_amount=company_amount,
            currency=currency,
        )
        attempts, waited = 0, 0.0
        ambiguous = False
        while True:
            attempts += 1
            try:
                return _created(call, when, await self._sender.send_once(call), attempts)
            except DuplicateError as dup:
                if not ambiguous:
                    raise
                found = await self._lookup_after_failure(call, dup)
                if found is not None:
                    return _recovered(call, when, found, attempts)
                raise
            except ProviderError as err:
                decision = _after_create_failure(err, attempts, self.policy)
                if decision == "raise":
                    raise
                if decision != "resend":
                    ambiguous = True
                    found = await self._lookup_after_failure(call, err)
                    if found is not None:
                        return _recovered(call, when, found, attempts)
                    if decision == "last lookup":
                        raise _absent_after_last_try(err, invoice_no) from err
                delay = next_wait(err, attempt=attempts - 1, waited=waited, policy=self.policy)
                await (self._sleep or _async_sleep)(delay)
                waited += delay

    async def _lookup_after_failure(self, call: Call, err: ProviderError) -> Invoice | None:
        p = call.payload or {}
        try:
            return await self.find_invoice(
                invoice_no=p["invoice_no"], subscription_id=p.get("subscription_id"), reference_no=p.get("reference_no")
            )
        except ProviderError as lookup_err:
            raise _lookup_failed(err, lookup_err, p["invoice_no"]) from lookup_err

    async def find_invoice(
        self, *, invoice_no: str, subscription_id: str | None = None, reference_no: str | None = None
    ) -> Invoice | None:
        walk = _Walk(Invoice)
        while not walk.done:
            call = invoice_list_call(
                subscription_id=subscription_id, reference_no=reference_no, starting_after=walk.offset
            )
            for inv in walk.take(await self._sender.send(call), call):
                if inv.invoice_no == invoice_no:
                    return inv
        return None

    async def update_invoice_status(
        self, *, status: InvoiceStatus | int | str, invoice_no: str | None = None, invoice_id: str | int | None = None
    ) -> PaynetReply:
        call = status_update_call(status=status, invoice_no=invoice_no, invoice_id=invoice_id)
        return _reply(await self._sender.send(call), call)

    async def update_all_invoice_statuses(
        self, *, status: InvoiceStatus | int | str, subscription_id: str | None = None, reference_no: str | None = None
    ) -> PaynetReply:
        call = status_update_all_call(status=status, subscription_id=subscription_id, reference_no=reference_no)
        return _reply(await self._sender.send(call), call)


# -- create_invoice helpers shared by both clients -------------------------------------------


def _after_create_failure(err: ProviderError, attempts: int, policy: RetryPolicy) -> str:
    """What to do after a failed create: "raise"; "resend" (surely not applied); "lookup" (maybe
    applied: look the number up, send again if absent); or "last lookup" (maybe applied and no
    tries left: look it up once, so the caller learns whether it exists)."""
    never_applied = isinstance(err, RateLimitError) or (isinstance(err, TransportError) and not err.maybe_applied)
    # The sender's rule (tries left, a Retry-After within the policy, a retryable error); a lookup
    # comes before any resend of a creation that may have been applied, hence idempotent=True.
    if should_retry(err, attempt=attempts - 1, policy=policy, idempotent=True):
        return "resend" if never_applied else "lookup"
    if err.is_retryable and not never_applied:
        return "last lookup"
    return "raise"


def _lookup_failed(err: ProviderError, lookup_err: ProviderError, invoice_no: str) -> ProviderError:
    # We cannot tell whether the invoice exists: stop rather than risk a second one.
    return type(err)(
        f"{err.message}; and the follow-up lookup of invoice_no {invoice_no} failed "
        f"({lookup_err.message}), so it was not sent again",
        **_err_ctx(err),
    )


def _absent_after_last_try(err: ProviderError, invoice_no: str) -> ProviderError:
    return type(err)(
        f"{err.message}; no tries left, and a lookup right after did not find invoice_no {invoice_no}",
        **_err_ctx(err),
    )


def _created(call: Call, when: datetime, body: dict, attempts: int) -> CreatedInvoice:
    p = call.payload or {}
    return CreatedInvoice(
        invoice_no=p["invoice_no"],
        amount=int(p["amount"]),
        val_date=when,
        subscription_id=p.get("subscription_id") or None,
        reference_no=p.get("reference_no") or None,
        code=body["code"],  # an int: interpret read it
        # a success whose message is not text still created the invoice: drop the message only
        message=clip(body["message"]) if isinstance(body.get("message"), str) else None,
        attempts=attempts,
    )


def _recovered(call: Call, when: datetime, found: Invoice, attempts: int) -> CreatedInvoice:
    p = call.payload or {}
    if found.amount != int(p["amount"]):
        raise DuplicateError(
            f"invoice_no {p['invoice_no']} already exists with a different amount ({found.amount} kuruş)",
            provider=PROVIDER,
            operation=call.operation,
            code=5,
        )
    return CreatedInvoice(
        invoice_no=p["invoice_no"],
        amount=found.amount,
        val_date=when,
        subscription_id=found.subscription_id or p.get("subscription_id") or None,
        reference_no=found.reference_no or p.get("reference_no") or None,
        code=0,
        message="created by an earlier attempt whose reply was lost",
        attempts=attempts,
        recovered=True,
    )


def _err_ctx(err: ProviderError) -> dict:
    ctx = dict(
        provider=err.provider, operation=err.operation, http_status=err.http_status, code=err.code,
        request_id=err.request_id, error_type=err.error_type,
    )
    if isinstance(err, TransportError):
        ctx["maybe_applied"] = err.maybe_applied
    if isinstance(err, RateLimitError):
        ctx["retry_after"] = err.retry_after
    if isinstance(err, ContractError):
        ctx["transient"] = err.transient
    return ctx


def _sync_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


async def _async_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
