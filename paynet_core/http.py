"""What both provider clients share: sending a POST with retries, and reading JSON safely.

Each client supplies how to build its headers, how to turn an ``httpx.Response`` into a result
or a typed error (``interpret``), and its keys. Everything else (timeouts, transport errors, the
retry loop, logging without secrets, masking a key that a reply echoes into an error) lives here
once, in a sync and an async flavour.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from .config import Secret
from .errors import ConfigError, ContractError, ProviderError, TransportError
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
    """A message from a reply, if it is text with something in it (``"\r"`` or a list is not)."""
    return value.strip() if isinstance(value, str) and value.strip() else None


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
        secrets: Sequence[Secret] = (),
    ):
        self.http, self.headers, self.interpret, self.policy, self.sleep = (
            http,
            headers,
            interpret,
            policy,
            sleep,
        )
        self.secrets = tuple(secrets)

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
        try:
            return self.interpret(call, response, request_id)
        except ProviderError as err:
            _scrub_secrets(err, self.secrets)
            raise


class AsyncSender:
    """The async twin of :class:`Sender`, for the bulk engine."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        headers: Callable[[], dict[str, str]],
        interpret: Callable[[Call, httpx.Response, str], Any],
        policy: RetryPolicy,
        sleep: Callable[[float], Any] = asyncio.sleep,
        secrets: Sequence[Secret] = (),
    ):
        self.http, self.headers, self.interpret, self.policy, self.sleep = (
            http,
            headers,
            interpret,
            policy,
            sleep,
        )
        self.secrets = tuple(secrets)

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
        try:
            return self.interpret(call, response, request_id)
        except ProviderError as err:
            _scrub_secrets(err, self.secrets)
            raise


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
