"""Typed client for Paynet's subscription API.

Every call is ``POST <base>/v1/subscription/<operation>`` with JSON and the header
``Authorization: Basic <secret key>`` (the raw key, as Paynet's own pages show; not base64).
The requests are built in :mod:`.calls`, the replies read in :mod:`.replies`; this module holds
the clients, their keys and transports, and creating an invoice exactly once.

``create_invoice`` always sends an ``invoice_no`` (generated when the caller gives none) because
Paynet returns no id: the number is our idempotency handle. After an ambiguous failure (no reply,
a 5xx, a garbled body) the client looks the number up with ``invoice_list``: found means done,
absent means send again (with no tries left it still looks once, so the error says whether the
invoice is there). It never blindly repeats a creation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from ..config import Secret
from ..errors import (
    ConfigError,
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
)
from ..http.retry import RetryPolicy
from . import exactly_once
from .calls import (
    BASE_URLS,
    PAGE_SIZE,
    PROVIDER,
    _val_date_arg,
    create_invoice_call,
    generate_invoice_no,
    invoice_amount_update_call,
    invoice_list_call,
    status_update_all_call,
    status_update_call,
    subscription_detail_call,
    subscription_list_call,
)
from .models import Invoice, InvoiceStatus, PaynetReply, Subscription
from .replies import _model, _reply, _Walk, interpret


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
    #: The invoice as Paynet listed it, when recovered.
    found: Invoice | None = None


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
            raise ConfigError(
                f"environment must be one of {', '.join(BASE_URLS)}, got {environment!r}"
            )
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

    def _creation(
        self,
        call: Call,
        in_doubt: bool,
        claim_taken: bool,
        send_if_absent: bool,
        policy: RetryPolicy | None,
    ) -> exactly_once.Creation:
        p = call.payload or {}
        return exactly_once.Creation(
            invoice_no=p["invoice_no"],
            amount=int(p["amount"]),
            policy=policy or self.policy,
            lookup_cost=self.policy.max_retries + 1,
            claim_taken=claim_taken,
            in_doubt=in_doubt,
            send_if_absent=send_if_absent,
        )

    def _default_transport(self, transport):
        return needs_transport(
            PROVIDER, self.environment, self.base_url, BASE_URLS["sandbox"], transport
        )

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
            secret_key,
            environment=environment,
            base_url=base_url,
            max_retries=max_retries,
            sleep=sleep,
            max_retry_wait=max_retry_wait,
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=bounded_transport(self._default_transport(transport)),
        )
        kwargs = {"sleep": sleep} if sleep else {}
        self._sender = Sender(
            self._http,
            self._headers,
            interpret,
            self.policy,
            secrets=(self._key,),
            deadline=deadline,
            max_reply_bytes=max_reply_bytes,
            **kwargs,
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
        in_doubt: bool = False,
        claim_taken: bool = False,
        send_if_absent: bool = True,
        policy: RetryPolicy | None = None,
    ) -> CreatedInvoice | None:
        """Create an invoice exactly once, whatever the network does (:mod:`.exactly_once`).

        ``in_doubt``: an earlier attempt may have been applied, so look first; ``claim_taken``:
        a taken number with our amount is ours; ``send_if_absent`` False: only look (None when
        absent); ``policy``: the budget of this creation (default: the client's).
        """
        invoice_no = (invoice_no or "").strip() or generate_invoice_no()
        when = _val_date_arg(val_date).replace(microsecond=0)
        call = create_invoice_call(
            amount=amount,
            val_date=when,
            invoice_no=invoice_no,
            subscription_id=subscription_id,
            reference_no=reference_no,
            agent_amount=agent_amount,
            company_amount=company_amount,
            currency=currency,
        )
        creation = self._creation(call, in_doubt, claim_taken, send_if_absent, policy)
        creation, end = exactly_once.run(
            creation,
            send=lambda: self._sender.send_once(call),
            lookup=lambda: self.find_invoice(**_lookup_args(call)),
            sleep=self._sleep or _sync_sleep,
        )
        return _finished(call, when, end, creation.sends)

    def find_invoice(
        self,
        *,
        invoice_no: str,
        subscription_id: str | None = None,
        reference_no: str | None = None,
    ) -> Invoice | None:
        """Look an invoice up by our ``invoice_no`` within its subscription (None when absent)."""
        for inv in self.iter_invoices(subscription_id=subscription_id, reference_no=reference_no):
            if inv.invoice_no == invoice_no:
                return inv
        return None

    def update_invoice_status(
        self,
        *,
        status: InvoiceStatus | int | str,
        invoice_no: str | None = None,
        invoice_id: str | int | None = None,
    ) -> PaynetReply:
        call = status_update_call(status=status, invoice_no=invoice_no, invoice_id=invoice_id)
        return _reply(self._sender.send(call), call)

    def update_all_invoice_statuses(
        self,
        *,
        status: InvoiceStatus | int | str,
        subscription_id: str | None = None,
        reference_no: str | None = None,
    ) -> PaynetReply:
        """Set the status of every invoice of one subscription (``invoices_status_update_all``)."""
        call = status_update_all_call(
            status=status, subscription_id=subscription_id, reference_no=reference_no
        )
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
        call = invoice_amount_update_call(
            amount=amount,
            invoice_no=invoice_no,
            invoice_id=invoice_id,
            agent_amount=agent_amount,
            company_amount=company_amount,
        )
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
                subscription_id=subscription_id,
                reference_no=reference_no,
                status=status,
                limit=page_size,
                starting_after=walk.offset,
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
            call = subscription_list_call(
                start=start, end=end, agent_id=agent_id, limit=page_size, starting_after=walk.offset
            )
            yield from walk.take(self._sender.send(call), call)

    def list_subscriptions(
        self, start: date, end: date, *, agent_id: str | None = None
    ) -> list[Subscription]:
        """Subscriptions created between ``start`` and ``end`` inclusive (walks every page)."""
        return list(self.iter_subscriptions(start, end, agent_id=agent_id))

    def subscription_detail(
        self, *, subscription_id: str | None = None, reference_no: str | None = None
    ) -> Subscription:
        call = subscription_detail_call(subscription_id=subscription_id, reference_no=reference_no)
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
            secret_key,
            environment=environment,
            base_url=base_url,
            max_retries=max_retries,
            sleep=sleep,
            max_retry_wait=max_retry_wait,
        )
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        transport = self._default_transport(transport)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, limits=limits
        )
        kwargs = {"sleep": sleep} if sleep else {}
        self._sender = AsyncSender(
            self._http,
            self._headers,
            interpret,
            self.policy,
            secrets=(self._key,),
            transport=transport,  # requests go straight to it (see AsyncSender)
            deadline=deadline,
            max_reply_bytes=max_reply_bytes,
            **kwargs,
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
        in_doubt: bool = False,
        claim_taken: bool = False,
        send_if_absent: bool = True,
        policy: RetryPolicy | None = None,
    ) -> CreatedInvoice | None:
        invoice_no = (invoice_no or "").strip() or generate_invoice_no()
        when = _val_date_arg(val_date).replace(microsecond=0)
        call = create_invoice_call(
            amount=amount,
            val_date=when,
            invoice_no=invoice_no,
            subscription_id=subscription_id,
            reference_no=reference_no,
            agent_amount=agent_amount,
            company_amount=company_amount,
            currency=currency,
        )
        creation = self._creation(call, in_doubt, claim_taken, send_if_absent, policy)
        creation, end = await exactly_once.arun(
            creation,
            send=lambda: self._sender.send_once(call),
            lookup=lambda: self.find_invoice(**_lookup_args(call)),
            sleep=self._sleep or _async_sleep,
        )
        return _finished(call, when, end, creation.sends)

    async def find_invoice(
        self,
        *,
        invoice_no: str,
        subscription_id: str | None = None,
        reference_no: str | None = None,
    ) -> Invoice | None:
        walk = _Walk(Invoice)
        while not walk.done:
            call = invoice_list_call(
                subscription_id=subscription_id,
                reference_no=reference_no,
                starting_after=walk.offset,
            )
            for inv in walk.take(await self._sender.send(call), call):
                if inv.invoice_no == invoice_no:
                    return inv
        return None

    async def update_invoice_status(
        self,
        *,
        status: InvoiceStatus | int | str,
        invoice_no: str | None = None,
        invoice_id: str | int | None = None,
    ) -> PaynetReply:
        call = status_update_call(status=status, invoice_no=invoice_no, invoice_id=invoice_id)
        return _reply(await self._sender.send(call), call)

    async def update_all_invoice_statuses(
        self,
        *,
        status: InvoiceStatus | int | str,
        subscription_id: str | None = None,
        reference_no: str | None = None,
    ) -> PaynetReply:
        call = status_update_all_call(
            status=status, subscription_id=subscription_id, reference_no=reference_no
        )
        return _reply(await self._sender.send(call), call)


# -- create_invoice helpers shared by both clients -------------------------------------------


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


def _lookup_args(call: Call) -> dict[str, Any]:
    p = call.payload or {}
    return {
        "invoice_no": p["invoice_no"],
        "subscription_id": p.get("subscription_id"),
        "reference_no": p.get("reference_no"),
    }


def _finished(
    call: Call, when: datetime, end: exactly_once.Step, attempts: int
) -> CreatedInvoice | None:
    if isinstance(end, exactly_once.Created):
        return _created(call, when, end.body, attempts)
    if isinstance(end, exactly_once.Recovered):
        return _recovered(call, when, end.found, attempts)
    return None  # Absent: only asked to look


def _recovered(call: Call, when: datetime, found: Invoice, attempts: int) -> CreatedInvoice:
    # exactly_once checked the amount: a taken number with another amount never gets here
    p = call.payload or {}
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
        found=found,
    )


def _sync_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


async def _async_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
