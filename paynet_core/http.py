"""What both provider clients share: sending a POST with retries, and reading JSON safely.

Each client supplies how to build its headers, how to turn an ``httpx.Response`` into a result
or a typed error (``interpret``), and its keys. Everything else (timeouts, transport errors, the
retry loop, logging without secrets, masking a key that a reply echoes into an error) lives here
once, in a sync and an async flavour.

Replies are bounded, whatever the server does:

* **Size**: a body is streamed and decoded here (gzip/deflate inflated step by step), and reading
  stops with ``ReplyTooLargeError`` once it passes ``max_reply_bytes``, as sent or inflated. A
  ``Content-Length`` over the cap is refused before a byte of the body is read.
* **Time**: each request has an overall ``deadline`` besides httpx's per-read timeout (which a
  server that trickles a byte a second resets forever). Async: the whole request runs under
  ``asyncio.timeout`` (restarted once a rate limiter lets the request go, see
  :func:`restart_deadline`). Sync: the default transport's sockets never wait past the
  deadline (:func:`bounded_transport`), and the body loop checks the clock per chunk. Either
  ends in ``DeadlineExceededError``.
* **Waiting**: the retries of one call wait at most ``RetryPolicy.max_retry_wait`` in all; a
  Retry-After beyond what is left goes to the caller as the ``RateLimitError`` (a bulk job
  pauses on it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpcore
import httpx

from .config import Secret
from .errors import (
    MAX_PROVIDER_TEXT,
    ConfigError,
    ContractError,
    DeadlineExceededError,
    ProviderError,
    RateLimitError,
    ReplyTooLargeError,
    TransportError,
    clip,
)
from .retry import RetryPolicy, retry_delay, should_retry, within_budget

log = logging.getLogger("paynet_core.http")

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
#: Seconds one request may take from sending to the last byte of its reply, however the
#: server paces it (the per-read timeout above restarts on every byte).
DEFAULT_DEADLINE = 30.0
#: Bytes a reply body may have, as sent and once inflated. INFERRED: a Paynet page of 100
#: invoices is about 50 kB; 2 MiB leaves room for long texts, and no page a client asks for needs more.
DEFAULT_MAX_REPLY_BYTES = 2 * 1024 * 1024
USER_AGENT = "paynet-ops/0.1"
#: What this module can inflate itself (httpx would add br/zstd when their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"


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
    text = _body_text(response)
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
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands of levels deep
        if isinstance(exc, RecursionError):
            kind = "JSON nested too deeply to read"
        else:
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


def _body_text(response: httpx.Response) -> str:
    """The body decoded with the charset its Content-Type names (undecodable bytes replaced)."""
    try:
        return response.text
    except (ValueError, TypeError, AssertionError):
        # A charset httpx cannot apply (utf-16 without a BOM, idna, rot13) fails in the codec
        # itself: read the bytes as UTF-8, which is what JSON is anyway.
        return response.content.decode("utf-8", "replace")


def reply_code(value: Any) -> int | None:
    """A result code as an int (``0``, ``"-22"``, ``" 5 "``), or None when it is not one.

    Only plain ASCII digits and a sane size: ``"²"``, ``"--5"`` or 5,000 digits are not codes.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= _MAX_CODE else None
    if isinstance(value, str) and _CODE_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


_MAX_CODE = 999_999_999
_CODE_TEXT = re.compile(r"-?[0-9]{1,9}")


def reply_text(value: Any) -> str | None:
    """A message from a reply, if it is text with something in it (``"\r"`` or a list is not),
    cut to MAX_PROVIDER_TEXT characters: every provider message reaches errors, pages, job items
    and the audit log through here, so a 10 MB message is stored as 500 characters."""
    if not isinstance(value, str) or not value.strip():
        return None
    return clip(value.strip(), MAX_PROVIDER_TEXT)


def shown(value: Any, limit: int = 40) -> str:
    """A value from a reply as an error message shows it: its repr, cut short."""
    text = repr(value)  # safe for any JSON value: json.loads refuses ints of 4,300+ digits too
    return text[:limit] + "…" if len(text) > limit else text


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


def _scrub_secrets(err: ProviderError, secrets: Sequence[Secret]) -> None:
    """Mask our own keys in an error built from a reply, in place (and in the errors it wraps).

    Some replies echo the key back (a debug page, "key sck_… refused"); the error text goes to
    logs and pages, so the key is replaced by its masked form (``sck_…abcd``)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while isinstance(current, ProviderError) and id(current) not in seen:
        seen.add(id(current))
        message = _mask(current.message, secrets)
        error_type = _mask(current.error_type, secrets) if current.error_type else current.error_type
        if message != current.message or error_type != current.error_type:
            current.message, current.error_type = message, error_type
            current.args = (str(current),)
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
    maybe = "" if never_sent else "; the request may have been processed"
    ctx = dict(
        provider=call.provider,
        operation=call.operation,
        request_id=request_id,
        maybe_applied=not never_sent,
    )
    if deadline is not None:
        return DeadlineExceededError(
            f"no complete reply within the {deadline:g} s deadline{maybe}", **ctx
        )
    return TransportError(f"no reply ({_reason(exc)}){maybe}", **ctx)


def _reason(exc: BaseException) -> str:
    """``Type: first line of the message``, short (httpx messages can run to several lines)."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    kind = type(exc).__name__
    return f"{kind}: {_snippet(first, 120)}" if first else kind


# -- bounded replies ---------------------------------------------------------------------------

_DROPPED_HEADERS = {b"content-encoding", b"content-length", b"transfer-encoding"}


class _Body:
    """A reply body read as it streams in: counted as sent and inflated, and cut off at the cap."""

    def __init__(self, response: httpx.Response, limit: int, call: Call, request_id: str):
        self.response, self.limit, self.call, self.request_id = response, limit, call, request_id
        self.sent = 0
        self.parts: list[bytes] = []
        self.size = 0
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(f"says Content-Length {int(declared):,}")
        self._inflate = self._inflater(response.headers.get("content-encoding", ""))

    def _inflater(self, header: str) -> _Inflater | None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            return None
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            return _Inflater(codings[0])
        raise ContractError(
            f"reply uses Content-Encoding {shown(header)}, which was not asked for",
            **self._ctx(),
        )

    def feed(self, chunk: bytes) -> None:
        self.sent += len(chunk)
        if self.sent > self.limit:
            raise self._too_large("as sent")
        if self._inflate is None:
            self._keep(chunk)
            return
        try:
            for piece in self._inflate.feed(chunk, lambda: self.limit - self.size + 1):
                self._keep(piece)
        except zlib.error as exc:
            raise self._undecodable(exc) from exc

    def finish(self) -> httpx.Response:
        if self._inflate is not None:
            try:
                self._keep(self._inflate.flush(self.limit - self.size + 1))
            except zlib.error as exc:
                raise self._undecodable(exc) from exc
        headers = [(k, v) for k, v in self.response.headers.raw if k.lower() not in _DROPPED_HEADERS]
        content = b"".join(self.parts)
        self.parts = []
        return httpx.Response(
            self.response.status_code, headers=headers, content=content, request=self.response.request
        )

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise self._too_large("once inflated" if self._inflate is not None else "as sent")
        if data:
            self.parts.append(data)

    def _ctx(self) -> dict:
        return _reply_ctx(self.call, self.response, self.request_id)

    def _too_large(self, how: str) -> ReplyTooLargeError:
        return _too_large(self.limit, how, self._ctx())

    def _undecodable(self, exc: zlib.error) -> ContractError:
        # a body cut off mid-stream or garbled on the way: usually a passing fault
        return ContractError(
            f"reply body could not be inflated ({_snippet(str(exc), 80)})", transient=True, **self._ctx()
        )


def _reply_ctx(call: Call, response: httpx.Response, request_id: str) -> dict:
    return dict(
        provider=call.provider,
        operation=call.operation,
        http_status=response.status_code,
        request_id=request_id,
    )


def _too_large(limit: int, how: str, ctx: dict) -> ReplyTooLargeError:
    return ReplyTooLargeError(
        f"reply body is larger than the {_size(limit)} this client reads ({how}); reading stopped there",
        limit=limit,
        **ctx,
    )


def _already_read(response: httpx.Response, limit: int, call: Call, request_id: str) -> httpx.Response:
    """A reply an in-process transport built whole: only its size can still be checked."""
    if len(response.content) > limit:
        raise _too_large(limit, "as sent", _reply_ctx(call, response, request_id))
    return response


class _Inflater:
    """gzip/deflate inflated a bounded step at a time: never more output per step than the room
    left under the cap (+1 to notice going over), so a 1 MB bomb never becomes 1 GB in memory."""

    def __init__(self, coding: str):
        self.raw_deflate_tried = coding != "deflate"
        wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes, room: Callable[[], int]) -> Iterable[bytes]:
        while data and not self._z.eof:
            try:
                out = self._z.decompress(data, max(1, room()))
            except zlib.error:
                # "deflate" is zlib-wrapped by the RFC and raw deflate in practice: try both
                if self._started or self.raw_deflate_tried:
                    raise
                self.raw_deflate_tried = True
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._started = True
            data = self._z.unconsumed_tail
            yield out

    def flush(self, room: int) -> bytes:
        return self._z.flush(max(1, room)) if not self._z.eof else b""


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


#: The monotonic time the current (sync) request must end by; read by :class:`_DeadlineStream`.
_sync_deadline: ContextVar[float | None] = ContextVar("paynet_core_sync_deadline", default=None)
#: The asyncio timeout of the current async request and its length in seconds.
_async_deadline: ContextVar[tuple[asyncio.Timeout, float] | None] = ContextVar(
    "paynet_core_async_deadline", default=None
)


def restart_deadline() -> None:
    """Start the current async request's deadline again from now. For a transport that waits
    before passing a request on (the bulk engine's rate limiter): waiting for a slot is not
    the provider being slow."""
    held = _async_deadline.get()
    if held is not None:
        scope, seconds = held
        scope.reschedule(asyncio.get_running_loop().time() + seconds)


def _left(timeout: float | None) -> float | None:
    """A socket timeout cut to what is left of the request's deadline."""
    deadline = _sync_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits no longer than the request's deadline allows."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, _left(timeout), local_address, socket_options)
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bounded_transport(transport: httpx.BaseTransport | None) -> httpx.BaseTransport:
    """The transport for a sync client, whose sockets never wait past the request's deadline
    (httpx's read timeout restarts on every byte, so a server trickling its headers would
    otherwise never time out). Applies to httpx's own network transport, given (the runtime
    builds one per client, with the proxy) or not; other transports (the in-process sandbox, a
    test's mock) keep the per-chunk deadline check of the body."""
    if transport is None:
        transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None) if isinstance(transport, httpx.HTTPTransport) else None
    backend = getattr(pool, "_network_backend", None)
    # httpcore's layout (direct and proxy pools alike); checked by the tests
    if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)
    return transport


def _over_budget(err: ProviderError, delay: float, policy: RetryPolicy) -> ProviderError:
    """The error a call ends with when the next wait would pass its retry budget."""
    if not isinstance(err, RateLimitError):
        return err
    out = RateLimitError(
        f"{err.message}; the provider asks to wait {delay:g} s, more than this call waits "
        f"(at most {policy.max_retry_wait:g} s in all): try again later",
        retry_after=err.retry_after if err.retry_after is not None else delay,
        provider=err.provider,
        operation=err.operation,
        http_status=err.http_status,
        code=err.code,
        request_id=err.request_id,
        error_type=err.error_type,
    )
    return out


def next_wait(
    err: ProviderError, *, attempt: int, waited: float, policy: RetryPolicy
) -> float:
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

    def _wait_before_retry(self, call: Call, err: ProviderError, attempt: int, waited: float) -> float:
        delay = next_wait(err, attempt=attempt, waited=waited, policy=self.policy)
        log.info("retrying %s %s in %.2fs after: %s", call.provider, call.operation, delay, err)
        return delay

    def _interpret(self, call: Call, response: httpx.Response, request_id: str) -> Any:
        try:
            return self.interpret(call, response, request_id)
        except ProviderError as err:
            _scrub_secrets(err, self.secrets)
            raise

    def _failed(self, exc: BaseException, call: Call, request_id: str, timed_out: bool) -> ProviderError:
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
        token = _sync_deadline.set(deadline)
        try:
            with self.http.stream(
                call.method, call.path, json=call.payload, headers=self._request_headers(request_id)
            ) as streamed:
                response = self._read(streamed, call, request_id, deadline)
        except httpx.HTTPError as exc:
            # a read cut short by the deadline's socket timeout, or one just past it
            timed_out = isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline - 0.05
            raise self._failed(exc, call, request_id, timed_out) from exc
        finally:
            _sync_deadline.reset(token)
        _log_reply(call, response, started)
        return self._interpret(call, response, request_id)

    def _read(self, streamed: httpx.Response, call: Call, request_id: str, deadline: float) -> httpx.Response:
        if streamed.is_stream_consumed:  # an in-process transport (sandbox, mock) read it already
            return _already_read(streamed, self.max_reply_bytes, call, request_id)
        body = _Body(streamed, self.max_reply_bytes, call, request_id)
        for chunk in streamed.iter_raw():
            body.feed(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the request's deadline has passed", request=streamed.request)
        return body.finish()


class AsyncSender(_SenderBase):
    """The async twin of :class:`Sender`, for the bulk engine."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
        secrets: Sequence[Secret] = (),
        **bounds: Any,
    ):
        super().__init__(http, headers, interpret, policy, sleep, secrets, **bounds)

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
                token = _async_deadline.set((scope, self.deadline))
                try:
                    async with self.http.stream(
                        call.method, call.path, json=call.payload, headers=self._request_headers(request_id)
                    ) as streamed:
                        response = await self._read(streamed, call, request_id)
                finally:
                    _async_deadline.reset(token)
        except httpx.HTTPError as exc:
            raise self._failed(exc, call, request_id, False) from exc
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise self._failed(exc, call, request_id, True) from exc
        _log_reply(call, response, started)
        return self._interpret(call, response, request_id)

    async def _read(self, streamed: httpx.Response, call: Call, request_id: str) -> httpx.Response:
        if streamed.is_stream_consumed:  # an in-process transport (sandbox, mock) read it already
            return _already_read(streamed, self.max_reply_bytes, call, request_id)
        body = _Body(streamed, self.max_reply_bytes, call, request_id)
        async for chunk in streamed.aiter_raw():
            body.feed(chunk)
        return body.finish()


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
