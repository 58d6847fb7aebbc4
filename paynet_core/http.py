"""What both provider clients share: sending a POST with retries, and reading JSON safely.

Each client supplies two things: how to build its headers, and how to turn an ``httpx.Response``
into a result or a typed error (``interpret``). Everything else (timeouts, transport errors,
the retry loop, logging without secrets) lives here once, in a sync and an async flavour.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from .errors import ContractError, ProviderError, TransportError
from .retry import RetryPolicy, retry_delay, should_retry

log = logging.getLogger("paynet_core.http")

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
USER_AGENT = "paynet-ops/0.1"


@dataclass(frozen=True)
class Call:
    """One API call: where it goes, what it sends, and whether it may be repeated."""

    provider: str
    operation: str
    path: str
    payload: dict[str, Any] | None
    idempotent: bool
    method: str = "POST"


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex[:16]


def read_json(response: httpx.Response, *, provider: str, operation: str, request_id: str) -> Any:
    """Parse a reply body as JSON, decimals kept exact; a body that is not JSON is a ContractError."""
    text = response.text
    if not text.strip():
        raise ContractError(
            f"empty reply body (HTTP {response.status_code})",
            provider=provider,
            operation=operation,
            http_status=response.status_code,
            request_id=request_id,
            transient=True,
        )
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        kind = "an HTML page" if text.lstrip().startswith("<") else "not JSON"
        raise ContractError(
            f"reply is {kind} (HTTP {response.status_code}): {_snippet(text)}",
            provider=provider,
            operation=operation,
            http_status=response.status_code,
            request_id=request_id,
            # a proxy's error page or a cut-off body is usually a passing fault
            transient=True,
        ) from None


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


def transport_error(exc: httpx.HTTPError, call: Call, request_id: str) -> TransportError:
    """Map an httpx failure; only connect-phase failures prove the request never left."""
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    kind = type(exc).__name__
    return TransportError(
        f"no reply ({kind})" + ("" if never_sent else "; the request may have been processed"),
        provider=call.provider,
        operation=call.operation,
        request_id=request_id,
        maybe_applied=not never_sent,
    )


class Sender:
    """Sends calls over one ``httpx.Client`` with the retry policy."""

    def __init__(
        self,
        http: httpx.Client,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.http, self.headers, self.interpret, self.policy, self.sleep = (
            http,
            headers,
            interpret,
            policy,
            sleep,
        )

    def send(self, call: Call, *, retry: bool = True) -> Any:
        attempt = 0
        while True:
            try:
                return self.send_once(call)
            except ProviderError as err:
                if not retry or not should_retry(
                    err, attempt=attempt, policy=self.policy, idempotent=call.idempotent
                ):
                    raise
                delay = retry_delay(attempt, policy=self.policy, retry_after=getattr(err, "retry_after", None))
                log.info("retrying %s %s in %.2fs after: %s", call.provider, call.operation, delay, err)
                self.sleep(delay)
                attempt += 1

    def send_once(self, call: Call) -> Any:
        request_id = new_request_id()
        started = time.perf_counter()
        try:
            response = self.http.request(
                call.method,
                call.path,
                json=call.payload,
                headers={**self.headers(), "X-Request-Id": request_id},
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, call, request_id) from None
        _log_reply(call, response, started)
        return self.interpret(call, response, request_id)


class AsyncSender:
    """The async twin of :class:`Sender`, for the bulk engine."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        self.http, self.headers, self.interpret, self.policy, self.sleep = (
            http,
            headers,
            interpret,
            policy,
            sleep,
        )

    async def send(self, call: Call, *, retry: bool = True) -> Any:
        attempt = 0
        while True:
            try:
                return await self.send_once(call)
            except ProviderError as err:
                if not retry or not should_retry(
                    err, attempt=attempt, policy=self.policy, idempotent=call.idempotent
                ):
                    raise
                delay = retry_delay(attempt, policy=self.policy, retry_after=getattr(err, "retry_after", None))
                log.info("retrying %s %s in %.2fs after: %s", call.provider, call.operation, delay, err)
                await self.sleep(delay)
                attempt += 1

    async def send_once(self, call: Call) -> Any:
        request_id = new_request_id()
        started = time.perf_counter()
        try:
            response = await self.http.request(
                call.method,
                call.path,
                json=call.payload,
                headers={**self.headers(), "X-Request-Id": request_id},
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, call, request_id) from None
        _log_reply(call, response, started)
        return self.interpret(call, response, request_id)


def _log_reply(call: Call, response: httpx.Response, started: float) -> None:
    # Never log headers or bodies: they may carry keys and personal data.
    log.debug(
        "%s %s -> HTTP %s in %.0f ms",
        call.provider,
        call.operation,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
