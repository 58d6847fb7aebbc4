"""Sending a provider call: the retry loop, transport errors, and no secrets in what comes back.

Each client supplies how to build its headers, how to turn an ``httpx.Response`` into a result
or a typed error (``interpret``), and its keys. Everything else (timeouts, transport errors, the
retry loop, logging without secrets, masking a key that a reply echoes into an error) lives here
once, in a sync and an async flavour. Reading the reply within its bounds is in
:mod:`.replies`, the overall deadline in :mod:`.deadline`.

The retries of one call wait at most ``RetryPolicy.max_retry_wait`` in all; a Retry-After
beyond what is left goes to the caller as the ``RateLimitError`` (a bulk job pauses on it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..config import Secret
from ..errors import (
    ConfigError,
    DeadlineExceededError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from ..i18n import N_, Message
from ..i18n.formats import Figure
from .deadline import DEFAULT_DEADLINE, async_deadline, sync_deadline
from .replies import ACCEPT_ENCODING, DEFAULT_MAX_REPLY_BYTES, Body, already_read, snippet
from .retry import RetryPolicy, retry_delay, should_retry, within_budget

log = logging.getLogger("paynet_core.http")

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


def _scrub_secrets(err: ProviderError, secrets: Sequence[Secret]) -> None:
    """Mask our own keys in an error built from a reply, in place (and in the errors it wraps).

    Some replies echo the key back (a debug page, "key sck_… refused"); the error text goes to
    logs and pages, so the key is replaced by its masked form (``sck_…abcd``)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while isinstance(current, ProviderError) and id(current) not in seen:
        seen.add(id(current))
        current.rewrite(lambda text: _mask(text, secrets))
        current = current.__cause__ or current.__context__


def _mask(text: str, secrets: Sequence[Secret]) -> str:
    for secret in secrets:
        value = secret.reveal()
        if len(value) < 8:  # too short to tell apart from ordinary words; masking would garble text
            continue
        text = text.replace(value, secret.masked)
        # a snippet cut short ("…") may end inside the key: hide that head too
        for end in range(len(value) - 1, 7, -1):
            if value[:end] + "…" in text:
                text = text.replace(value[:end] + "…", secret.masked)
                break
    return text


def transport_error(
    exc: BaseException, call: Call, request_id: str, *, deadline: float | None = None
) -> TransportError:
    """Map an httpx failure; only connect-phase failures prove the request never left.

    The message names the cause in one line (``ConnectError: [Errno 111] Connection refused``);
    the caller raises it ``from exc`` so the whole chain stays in the traceback. ``deadline``
    (seconds) says the request's overall deadline ended it."""
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    ctx: dict[str, Any] = dict(
        provider=call.provider,
        operation=call.operation,
        request_id=request_id,
        maybe_applied=not never_sent,
    )
    if deadline is not None:
        text = (
            N_("no complete reply within the {seconds} s deadline")
            if never_sent
            else N_(
                "no complete reply within the {seconds} s deadline; "
                "the request may have been processed"
            )
        )
        return DeadlineExceededError(Message(text, seconds=Figure(deadline, "g", 3)), **ctx)
    text = (
        N_("no reply ({reason})")
        if never_sent
        else N_("no reply ({reason}); the request may have been processed")
    )
    return TransportError(Message(text, reason=_reason(exc)), **ctx)


def _reason(exc: BaseException) -> str:
    """``Type: first line of the message``, short (httpx messages can run to several lines)."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    kind = type(exc).__name__
    return f"{kind}: {snippet(first, 120)}" if first else kind


def _over_budget(err: ProviderError, delay: float, policy: RetryPolicy) -> ProviderError:
    """The error a call ends with when the next wait would pass its retry budget."""
    if not isinstance(err, RateLimitError):
        return err
    out = RateLimitError(
        Message(
            "{message}; the provider asks to wait {delay} s, more than this call waits "
            "(at most {most} s in all): try again later",
            message=err.text if err.text is not None else err.message,
            delay=Figure(delay, "g", 1),
            most=Figure(policy.max_retry_wait, "g", 1),
        ),
        retry_after=err.retry_after if err.retry_after is not None else delay,
        provider=err.provider,
        operation=err.operation,
        http_status=err.http_status,
        code=err.code,
        request_id=err.request_id,
        error_type=err.error_type,
    )
    return out


def next_wait(err: ProviderError, *, attempt: int, waited: float, policy: RetryPolicy) -> float:
    """Seconds to wait before the next try, or raise the error that ends the call when the wait
    would pass the call's retry budget (``RetryPolicy.max_retry_wait``)."""
    delay = retry_delay(attempt, policy=policy, retry_after=getattr(err, "retry_after", None))
    if not within_budget(delay, waited=waited, policy=policy):
        final = _over_budget(err, delay, policy)
        if final is err:
            raise err
        raise final from err
    return delay


class _SenderBase:
    def __init__(
        self,
        http: Any,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], Any],
        secrets: Sequence[Secret] = (),
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ):
        self.http, self.headers, self.interpret, self.policy, self.sleep = (
            http,
            headers,
            interpret,
            policy,
            sleep,
        )
        self.secrets = tuple(secrets)
        self.deadline = float(deadline)
        self.max_reply_bytes = int(max_reply_bytes)

    def _request_headers(self, request_id: str) -> dict[str, str]:
        return {**self.headers(), "Accept-Encoding": ACCEPT_ENCODING, "X-Request-Id": request_id}

    def _wait_before_retry(
        self, call: Call, err: ProviderError, attempt: int, waited: float
    ) -> float:
        delay = next_wait(err, attempt=attempt, waited=waited, policy=self.policy)
        log.info("retrying %s %s in %.2fs after: %s", call.provider, call.operation, delay, err)
        return delay

    def _interpret(self, call: Call, response: httpx.Response, request_id: str) -> Any:
        try:
            return self.interpret(call, response, request_id)
        except ProviderError as err:
            _scrub_secrets(err, self.secrets)
            raise

    def _failed(
        self, exc: BaseException, call: Call, request_id: str, timed_out: bool
    ) -> ProviderError:
        err = transport_error(exc, call, request_id, deadline=self.deadline if timed_out else None)
        _scrub_secrets(err, self.secrets)
        return err


class Sender(_SenderBase):
    """Sends calls over one ``httpx.Client`` with the retry policy and the reply bounds."""

    def __init__(
        self,
        http: httpx.Client,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Sequence[Secret] = (),
        **bounds: Any,
    ):
        super().__init__(http, headers, interpret, policy, sleep, secrets, **bounds)

    def send(self, call: Call, *, retry: bool = True) -> Any:
        attempt, waited = 0, 0.0
        while True:
            try:
                return self.send_once(call)
            except ProviderError as err:
                if not retry or not should_retry(
                    err, attempt=attempt, policy=self.policy, idempotent=call.idempotent
                ):
                    raise
                delay = self._wait_before_retry(call, err, attempt, waited)
                self.sleep(delay)
                waited += delay
                attempt += 1

    def send_once(self, call: Call) -> Any:
        request_id = new_request_id()
        started = time.perf_counter()
        deadline = time.monotonic() + self.deadline
        token = sync_deadline.set(deadline)
        try:
            with self.http.stream(
                call.method, call.path, json=call.payload, headers=self._request_headers(request_id)
            ) as streamed:
                response = self._read(streamed, call, request_id, deadline)
        except httpx.HTTPError as exc:
            # a read cut short by the deadline's socket timeout, or one just past it
            timed_out = (
                isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline - 0.05
            )
            raise self._failed(exc, call, request_id, timed_out) from exc
        finally:
            sync_deadline.reset(token)
        _log_reply(call, response, started)
        return self._interpret(call, response, request_id)

    def _read(
        self, streamed: httpx.Response, call: Call, request_id: str, deadline: float
    ) -> httpx.Response:
        if streamed.is_stream_consumed:  # an in-process transport (sandbox, mock) read it already
            return already_read(streamed, self.max_reply_bytes, call, request_id)
        body = Body(streamed, self.max_reply_bytes, call, request_id)
        for chunk in streamed.iter_raw():
            body.feed(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(
                    "the request's deadline has passed", request=streamed.request
                )
        return body.finish()


class AsyncSender(_SenderBase):
    """The async twin of :class:`Sender`, for the bulk engine.

    Given the client's ``transport``, it builds each request itself and hands it straight to
    the transport: the bulk engine sends thousands of small POSTs, and ``httpx.AsyncClient``'s
    own path (URL merging, header merging, cookies, auth and redirect machinery, event hooks)
    costs more CPU than the request. The request is the one the client would send (its URL,
    default headers, JSON body and timeouts; tests/http/test_lean_transport.py compares the bytes):
    the Paynet client sets no hooks, cookies or auth and follows no redirects. Without a
    ``transport`` (httpx builds its own) requests go through ``http``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
        secrets: Sequence[Secret] = (),
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **bounds: Any,
    ):
        super().__init__(http, headers, interpret, policy, sleep, secrets, **bounds)
        self.transport = transport
        self._urls: dict[tuple[str, str], httpx.URL] = {}
        self._timeout = http.timeout.as_dict()
        # the client's defaults (Connection: keep-alive, ...) under ours, as the client merges
        self._defaults = [(k, v) for k, v in http.headers.items() if k.lower() not in _OWN_HEADERS]

    async def send(self, call: Call, *, retry: bool = True) -> Any:
        attempt, waited = 0, 0.0
        while True:
            try:
                return await self.send_once(call)
            except ProviderError as err:
                if not retry or not should_retry(
                    err, attempt=attempt, policy=self.policy, idempotent=call.idempotent
                ):
                    raise
                delay = self._wait_before_retry(call, err, attempt, waited)
                await self.sleep(delay)
                waited += delay
                attempt += 1

    async def send_once(self, call: Call) -> Any:
        request_id = new_request_id()
        started = time.perf_counter()
        scope = asyncio.timeout(self.deadline)
        try:
            async with scope:
                token = async_deadline.set((scope, self.deadline))
                try:
                    if self.transport is not None:
                        response = await self._send_direct(call, request_id)
                    else:
                        async with self.http.stream(
                            call.method,
                            call.path,
                            json=call.payload,
                            headers=self._request_headers(request_id),
                        ) as streamed:
                            response = await self._read(streamed, call, request_id)
                finally:
                    async_deadline.reset(token)
        except httpx.HTTPError as exc:
            raise self._failed(exc, call, request_id, False) from exc
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise self._failed(exc, call, request_id, True) from exc
        _log_reply(call, response, started)
        return self._interpret(call, response, request_id)

    async def _send_direct(self, call: Call, request_id: str) -> httpx.Response:
        assert self.transport is not None
        headers = [*self._defaults, *self._request_headers(request_id).items()]
        content = None
        if call.payload is not None:
            content = json.dumps(
                call.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            headers.append(("Content-Type", "application/json"))
        request = httpx.Request(
            call.method,
            self._url(call.method, call.path),
            headers=headers,
            content=content,
            extensions={"timeout": self._timeout},
        )
        streamed = await self.transport.handle_async_request(request)
        streamed.request = request
        try:
            return await self._read(streamed, call, request_id)
        finally:
            await streamed.aclose()

    def _url(self, method: str, path: str) -> httpx.URL:
        url = self._urls.get((method, path))
        if url is None:
            url = self.http.build_request(method, path).url  # the client's own merge rule
            if len(self._urls) < 64:
                self._urls[(method, path)] = url
        return url

    async def _read(self, streamed: httpx.Response, call: Call, request_id: str) -> httpx.Response:
        if streamed.is_stream_consumed:  # an in-process transport (sandbox, mock) read it already
            return already_read(streamed, self.max_reply_bytes, call, request_id)
        body = Body(streamed, self.max_reply_bytes, call, request_id)
        async for chunk in streamed.aiter_raw():
            body.feed(chunk)
        return body.finish()


#: Headers the sender sets itself on every request (the client's defaults give way to them).
_OWN_HEADERS = frozenset(
    {"accept", "accept-encoding", "user-agent", "authorization", "x-request-id", "content-type"}
)


def _log_reply(call: Call, response: httpx.Response, started: float) -> None:
    # Never log headers or bodies: they may carry keys and personal data.
    log.debug(
        "%s %s -> HTTP %s in %.0f ms",
        call.provider,
        call.operation,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )


def needs_transport(
    provider: str, environment: str, base_url: str, sandbox_url: str, transport: Any
) -> Any:
    """The transport a client was given; refuses a sandbox client without one.

    Clients never reach for the sandbox themselves (a constructor does no I/O): the runtime
    passes ``SandboxTransport(sandbox)``, or a script does, or a base URL names a served sandbox.
    """
    if transport is None and environment == "sandbox" and base_url == sandbox_url:
        raise ConfigError(
            f"a {provider} sandbox client needs the sandbox: use "
            "paynet_core.open_runtime().paynet() / .payofin(), pass "
            "transport=SandboxTransport(sandbox), or base_url= a `paynet-ops sandbox serve` URL"
        )
    return transport
