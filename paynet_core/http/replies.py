"""Reading a reply: bounded in size as it streams in, inflated step by step, parsed as JSON.

A body is streamed and decoded here (gzip/deflate inflated a bounded step at a time), and
reading stops with ``ReplyTooLargeError`` once it passes ``max_reply_bytes``, as sent or
inflated. A ``Content-Length`` over the cap is refused before a byte of the body is read. The
helpers that pick codes and texts out of a parsed reply live here too, so every provider message
reaches errors and pages clipped the same way.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import MAX_PROVIDER_TEXT, ContractError, ReplyTooLargeError, clip
from ..i18n import N_, Message
from ..i18n.formats import Figure

if TYPE_CHECKING:
    from .sender import Call

#: Bytes a reply body may have, as sent and once inflated. INFERRED: a Paynet page of 100
#: invoices is about 50 kB; 2 MiB leaves room for long texts, and no page a client asks for needs more.
DEFAULT_MAX_REPLY_BYTES = 2 * 1024 * 1024
#: What this module can inflate itself (httpx would add br/zstd when their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"


def read_json(response: httpx.Response, *, provider: str, operation: str, request_id: str) -> Any:
    """Parse a reply body as JSON, decimals kept exact; a body that is not JSON is a ContractError."""
    text = _body_text(response)
    if not text.strip():
        raise ContractError(
            Message("empty reply body (HTTP {status})", status=response.status_code),
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
            kind = N_("reply is JSON nested too deeply to read (HTTP {status}): {body}")
        elif text.lstrip().startswith("<"):
            kind = N_("reply is an HTML page (HTTP {status}): {body}")
        else:
            kind = N_("reply is not JSON (HTTP {status}): {body}")
        raise ContractError(
            Message(kind, status=response.status_code, body=snippet(text)),
            provider=provider,
            operation=operation,
            http_status=response.status_code,
            request_id=request_id,
            # a proxy's error page or a cut-off body is usually a passing fault
            transient=True,
        ) from None  # the snippet shows the body; the decoder's position is noise


def _body_text(response: httpx.Response) -> str:
    """The body decoded with the charset its Content-Type names (undecodable bytes replaced)."""
    content_type = response.headers.get("content-type", "").lower()
    if "charset" not in content_type or _UTF8_CHARSET.search(content_type):
        # UTF-8 named or none at all (httpx's default too): decoded here, without the e-mail
        # header parser httpx reads the charset with (the bulk engine reads thousands of these)
        return response.content.decode("utf-8", "replace")
    try:
        return response.text
    except (ValueError, TypeError, AssertionError):
        # A charset httpx cannot apply (utf-16 without a BOM, idna, rot13) fails in the codec
        # itself: read the bytes as UTF-8, which is what JSON is anyway.
        return response.content.decode("utf-8", "replace")


_UTF8_CHARSET = re.compile(r';\s*charset\s*=\s*"?utf-?8"?\s*(;|$)')


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


def snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


#: How a body went over the cap, in a ReplyTooLargeError's explanation.
AS_SENT = Message("as sent")
ONCE_INFLATED = Message("once inflated")

_DROPPED_HEADERS = {b"content-encoding", b"content-length", b"transfer-encoding"}


class Body:
    """A reply body read as it streams in: counted as sent and inflated, and cut off at the cap."""

    def __init__(self, response: httpx.Response, limit: int, call: Call, request_id: str):
        self.response, self.limit, self.call, self.request_id = response, limit, call, request_id
        self.sent = 0
        self.parts: list[bytes] = []
        self.size = 0
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(Message("says Content-Length {n}", n=Figure(int(declared))))
        self._inflate = self._inflater(response.headers.get("content-encoding", ""))

    def _inflater(self, header: str) -> _Inflater | None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            return None
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            return _Inflater(codings[0])
        raise ContractError(
            Message(
                "reply uses Content-Encoding {encoding}, which was not asked for",
                encoding=shown(header),
            ),
            **self._ctx(),
        )

    def feed(self, chunk: bytes) -> None:
        self.sent += len(chunk)
        if self.sent > self.limit:
            raise self._too_large(AS_SENT)
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
        content = b"".join(self.parts)
        headers: httpx.Headers | list[tuple[bytes, bytes]] = self.response.headers
        if self._inflate is not None or "transfer-encoding" in self.response.headers:
            # the body is no longer what these headers describe
            raw = self.response.headers.raw
            headers = [(k, v) for k, v in raw if k.lower() not in _DROPPED_HEADERS]
        self.parts = []
        return httpx.Response(
            self.response.status_code,
            headers=headers,
            content=content,
            request=self.response.request,
        )

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise self._too_large(ONCE_INFLATED if self._inflate is not None else AS_SENT)
        if data:
            self.parts.append(data)

    def _ctx(self) -> dict:
        return _reply_ctx(self.call, self.response, self.request_id)

    def _too_large(self, how: Message) -> ReplyTooLargeError:
        return _too_large(self.limit, how, self._ctx())

    def _undecodable(self, exc: zlib.error) -> ContractError:
        # a body cut off mid-stream or garbled on the way: usually a passing fault
        return ContractError(
            Message("reply body could not be inflated ({reason})", reason=snippet(str(exc), 80)),
            transient=True,
            **self._ctx(),
        )


def _reply_ctx(call: Call, response: httpx.Response, request_id: str) -> dict:
    return dict(
        provider=call.provider,
        operation=call.operation,
        http_status=response.status_code,
        request_id=request_id,
    )


def _too_large(limit: int, how: Message, ctx: dict) -> ReplyTooLargeError:
    return ReplyTooLargeError(
        Message(
            "reply body is larger than the {size} this client reads ({how}); reading stopped there",
            size=_size(limit),
            how=how,
        ),
        limit=limit,
        **ctx,
    )


def already_read(
    response: httpx.Response, limit: int, call: Call, request_id: str
) -> httpx.Response:
    """A reply an in-process transport built whole: only its size can still be checked."""
    if len(response.content) > limit:
        raise _too_large(limit, AS_SENT, _reply_ctx(call, response, request_id))
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


def _size(n: int) -> Message:
    if n >= 1024 * 1024:
        return Message("{n} MiB", n=Figure(n / 1024 / 1024, "g", 3))
    return Message("{n} bytes", n=Figure(n))
