"""Reading Paynet replies: the body or the typed error, and list pages walked to their end.

HTTP 200 carries the business result in ``code`` (an int, or a digit string as the tables type
it); 0 and 100 are success. Anything else becomes a typed error from :mod:`paynet_core.errors`,
and :func:`code_error` is the one place a return code picks its error class. A reply that does
not match the models is a ``ContractError`` naming the field.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import (
    APIError,
    AuthenticationError,
    ContractError,
    DuplicateError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
    SubscriptionStateError,
    http_explanation,
)
from ..http import Call, read_json, reply_code, reply_text, shown
from ..http.retry import parse_retry_after
from ..i18n import Message
from .calls import PROVIDER
from .models import (
    RETURN_CODE_TABLE,
    SUBSCRIPTION_STATE_CODES,
    SUCCESS_CODES,
    ListPage,
    PaynetModel,
    PaynetReply,
)

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


def _code(value: Any, call: Call, request_id: str, http_status: int) -> int:
    """``code`` is typed string in the tables and int in every sample: accept both."""
    code = reply_code(value)
    if code is not None:
        return code
    raise ContractError(
        Message(
            "reply has no usable 'code': {value} is not an int or a digit string",
            value=shown(value),
        ),
        provider=PROVIDER,
        operation=call.operation,
        http_status=http_status,
        request_id=request_id,
    )


def interpret(call: Call, response: httpx.Response, request_id: str) -> dict[str, Any]:
    """Turn a reply into its JSON body, or raise the matching typed error."""
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
    try:
        body = read_json(
            response, provider=PROVIDER, operation=call.operation, request_id=request_id
        )
    except ContractError as exc:
        if status >= 500:
            raise ServerError(exc.text or exc.message, **ctx) from exc
        if status != 200:
            raise _http_error(status, None, exc.message, None, ctx) from exc
        raise
    if status != 200:
        # the status decides (a 5xx stays a retryable ServerError); the body only adds detail
        detail = body if isinstance(body, dict) else {}
        result_code = detail.get("result_code")
        result_code = (
            result_code
            if isinstance(result_code, int) and not isinstance(result_code, bool)
            else None
        )
        raise _http_error(status, detail.get("type"), detail.get("message"), result_code, ctx)
    if not isinstance(body, dict):
        raise ContractError(
            Message("reply is a JSON {kind}, not an object", kind=type(body).__name__), **ctx
        )
    code = _code(body.get("code"), call, request_id, status)
    if code not in SUCCESS_CODES:
        raise code_error(code, reply_text(body.get("message")) or _first_item_message(body), ctx)
    body["code"] = code  # read once, here: the models and create_invoice take the int
    return body


def code_error(code: int, provider_message: str | None, ctx: dict) -> APIError:
    """The typed error for a return code that is not a success: the one place a code picks its
    class. Our explanation of the code (in the reader's language) comes first; the provider's
    message is kept as received beside it."""
    known = RETURN_CODE_TABLE.get(code)
    said = provider_message or None
    if known is None:
        return APIError(
            Message("code {code} is not in the return-code table", code=code),
            said=said,
            code=code,
            **ctx,
        )
    if code in SUBSCRIPTION_STATE_CODES:
        text = Message(
            "Paynet answered with the subscription's state instead of a result: {meaning}",
            meaning=known.explanation(),
        )
        active = SUBSCRIPTION_STATE_CODES[code]
        return SubscriptionStateError(text, active=active, said=said, code=code, **ctx)
    cls = _CODE_ERRORS.get(code) or (ServerError if code in _RETRYABLE_CODES else APIError)
    return cls(known.explanation(), said=said, code=code, **ctx)


def _first_item_message(body: dict) -> str | None:
    # manuel_charge puts the reason in data[0].message with a null top-level message
    data = body.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return reply_text(data[0].get("message"))
    return None


def _http_error(
    status: int, etype: Any, message: Any, result_code: int | None, ctx: dict
) -> ProviderError:
    said = reply_text(message)
    etype = reply_text(etype)
    if etype:
        said = f"{said} ({etype})" if said else etype
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
    text = http_explanation(cls)
    if result_code is not None and result_code not in RETURN_CODE_TABLE:
        text = Message(
            "{text} (code {code} is not in the return-code table)", text=text, code=result_code
        )
    return cls(text, said=said, **ctx)


def _model(model: type[BaseModel], data: Any, call: Call, request_id: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # the first error is named; pydantic's dump (every field, a docs URL) is noise in a banner
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        raise ContractError(
            Message("reply field {where!r}: {problem}", where=where, problem=first["msg"]),
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
                Message(
                    "the page at starting_after={offset} only repeats items already read "
                    "(the server seems to ignore 'starting_after'), so the walk stopped",
                    offset=self.offset,
                ),
                provider=PROVIDER,
                operation=call.operation,
            )
        self._seen |= keys
        self._pages += 1
        self.offset += len(items)
        self.done = not items or not page.has_more or bool(page.total and self.offset >= page.total)
        if not self.done and self._pages >= MAX_PAGES:
            raise ContractError(
                Message(
                    "still has_more after {pages} pages ({items} items), so the walk stopped",
                    pages=MAX_PAGES,
                    items=self.offset,
                ),
                provider=PROVIDER,
                operation=call.operation,
            )
        return items
