"""One exception hierarchy for both providers and for our own input checks.

    PaynetOpsError                  (its message may be an i18n ``Message``: rendered when read)
    ├── ConfigError                 bad or missing settings (the message says how to fix them)
    ├── InputError                  something a person typed or uploaded (row, field, message)
    │   └── MoneyError / DateError
    ├── StoreError                  the cache refused an operation
    ├── JobError                    a bulk job cannot be started, resumed or changed
    ├── PermissionDenied            the person's role does not allow the action
    └── ProviderError               anything that went wrong talking to Paynet or Payofin
        ├── TransportError          no reply at all (connect failure, timeout, dropped connection)
        │   └── DeadlineExceededError   the reply did not finish within the request's deadline
        ├── ContractError           a reply that breaks the provider's own contract
        │   └── ReplyTooLargeError      a body over the byte cap (streamed or inflated)
        └── APIError                a well-formed reply that says "no"
            ├── AuthenticationError     401/403, Paynet code 7, Payofin -22
            ├── NotFoundError           404, no_data_error, Paynet codes 12/24, Payofin -11/-19
            ├── DuplicateError          Paynet code 5 (duplicatedata)
            ├── RateLimitError          429
            ├── ServerError             5xx, api_error, Paynet codes 8/10, transient Payofin codes
            └── SubscriptionStateError  Paynet codes 200/201: the subscription's state, not a result

Every provider error carries provider, operation, HTTP status, provider code, message and a
request id; a message is a message id with parameters (``Message``), so ``str(err)`` speaks
the language current where it is read (a page's run, the CLI's ``PAYNET_OPS_LANG``), not where it
was raised. What a provider said is kept as received (``said``), beside our explanation.
``str(err)`` reads well in a log line and in a page banner (its message is cut to
MAX_ERROR_MESSAGE characters, so a provider's 10 MB message never reaches a log, a page or the
database whole). ``is_retryable`` is decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .i18n import Message, _, current_language

#: A provider's own text (a message, an error type) is cut to this many characters where it is
#: read from a reply (``http.reply_text``); what the job journal and the audit log store too.
MAX_PROVIDER_TEXT = 500
#: An error's whole message (our words around one or two provider texts) is cut to this.
MAX_ERROR_MESSAGE = 2000


def clip(text: str, limit: int = MAX_PROVIDER_TEXT) -> str:
    """``text`` cut to ``limit`` characters, the cut marked (``…`` first: key masking relies on it)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut; {len(text):,} characters in all)"


def clip_opt(text: str | None, limit: int = MAX_PROVIDER_TEXT) -> str | None:
    return text if text is None else clip(str(text), limit)


def reason(err: BaseException, limit: int = 160) -> str:
    """``str(err)``, and the one-line reason of the error that caused it when the text does not
    say it already: for a person reading a CLI line or a page banner.

    ``raise ConfigError(...) from exc`` keeps the cause in the traceback for whoever reads the
    log; this puts its gist (``OSError: [Errno 13] Permission denied``) in front of the person
    who has to fix it. Only an explicit cause counts (``from exc``), never a ``from None`` or an
    error that merely happened while handling another. The cause's line is cut to ``limit``."""
    text = str(err)
    cause = err.__cause__
    if cause is None:
        return text
    said = cause.message if isinstance(cause, ProviderError) else str(cause)
    lines = said.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if first and first in text:
        return text
    kind = type(cause).__name__
    line = f"{kind}: {first}" if first else kind
    if len(line) > limit:
        line = line[:limit] + "…"
    return f"{text} ({line})"


class PaynetOpsError(Exception):
    """Root of every error this package raises on purpose.

    The first argument may be a :class:`~paynet_core.i18n.Message`; ``str(err)`` renders it in
    the current language each time it is read."""

    def __init__(self, *args: Any):
        self.text: str | Message | None = args[0] if args else None
        super().__init__(*args)

    def __str__(self) -> str:
        text = getattr(self, "text", None)
        return super().__str__() if text is None else str(text)


class ConfigError(PaynetOpsError):
    """Settings are missing or inconsistent; the message says how to fix them."""


class StoreError(PaynetOpsError):
    """The cache database refused an operation."""


class JobError(PaynetOpsError):
    """A bulk job cannot be started, resumed or changed in the requested way."""


class PermissionDenied(PaynetOpsError):
    """The person's role (or the lack of a login) does not allow an action; nothing was done."""

    def __init__(self, message: str | Message, *, action: str):
        self.action = action
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_denied, (self.text, self.action))


def _rebuild_denied(message: str | Message, action: str) -> PermissionDenied:
    return PermissionDenied(message, action=action)


class JobConflictError(JobError):
    """A new job would touch invoices that an unfinished job still has to send (``job_id``)."""

    def __init__(self, message: str | Message, *, job_id: str):
        self.job_id = job_id
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_conflict, (self.text, self.job_id))


def _rebuild_conflict(message: str | Message, job_id: str) -> JobConflictError:
    return JobConflictError(message, job_id=job_id)


class InputError(PaynetOpsError, ValueError):
    """Bad input from a person: a form field or a row of an uploaded file."""

    def __init__(self, message: str | Message, *, field: str | None = None, row: int | None = None):
        self.field = field
        self.row = row
        super().__init__(message)

    @property
    def message(self) -> str:
        """What is wrong, in the current language (without the row and field)."""
        return str(self.text)

    def __str__(self) -> str:
        return where(self.row, self.field, self.text or "")

    def __reduce__(self):
        return (_rebuild_input, (type(self), self.text, self.field, self.row))


def _rebuild_input(cls, message, field, row):
    return cls(message, field=field, row=row)


#: Turkish names of the fields errors point at (the upload template's headers, registered by
#: ``importing.headers``): a Turkish reader sees the column as the template names it.
TURKISH_FIELDS: dict[str, str] = {"file": "dosya", "header": "başlık"}


def field_label(field: str) -> str:
    """``amount`` → ``Tutar (TL)`` in Turkish; the field's own name in English."""
    return TURKISH_FIELDS.get(field, field) if current_language() == "tr" else field


def where(row: int | None, field: str | None, message: str | Message) -> str:
    """``row 4, amount: …`` / ``satır 4, Tutar (TL): …``: a problem with its place, as people
    read it."""
    parts = []
    if row is not None:
        parts.append(_("row {row}", row=row))
    if field:
        parts.append(field_label(field))
    return f"{', '.join(parts)}: {message}" if parts else str(message)


class MoneyError(InputError):
    """An amount that cannot be read as a positive number of kuruş."""


class DateError(InputError):
    """A date or datetime that does not match the expected format."""


class ProviderError(PaynetOpsError):
    """Something went wrong talking to a provider."""

    retryable_default = False

    def __init__(
        self,
        message: str | Message,
        *,
        provider: str,
        operation: str,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        said: str | None = None,
    ):
        self.text = clip(message, MAX_ERROR_MESSAGE) if isinstance(message, str) else message
        #: the provider's own message, as received (already cut where the reply was read)
        self.said = clip_opt(said, MAX_ERROR_MESSAGE)
        self.provider = provider
        self.operation = operation
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.error_type = error_type
        Exception.__init__(self, str(self))  # not the root's: it would take the text as given

    @property
    def is_retryable(self) -> bool:
        """Whether the same request may be sent again (only if the operation itself is safe)."""
        return self.retryable_default

    @property
    def message(self) -> str:
        """Our explanation in the current language, then what the provider said, as received."""
        text = clip(str(self.text), MAX_ERROR_MESSAGE)
        if self.said and self.said not in text:
            text += _('; {provider} said: "{said}"', provider=self.provider, said=self.said)
        return text

    @message.setter
    def message(self, value: str | Message) -> None:
        self.text, self.said = value, None

    def rewrite(self, fix: Callable[[str], str]) -> bool:
        """Apply ``fix`` to every text this error holds (our explanation's parameters, what the
        provider said, the error type), e.g. to mask a key a reply echoed; True if any changed."""
        before = (self.text, self.said, self.error_type)
        if isinstance(self.text, Message):
            params = {k: fix(v) if isinstance(v, str) else v for k, v in self.text.params.items()}
            self.text = Message(self.text.msgid, **params)
        elif self.text is not None:
            self.text = fix(str(self.text))
        self.said = fix(self.said) if self.said else self.said
        self.error_type = fix(self.error_type) if self.error_type else self.error_type
        changed = before != (self.text, self.said, self.error_type)
        if changed:
            self.args = (str(self),)
        return changed

    def __str__(self) -> str:
        parts = [f"{self.provider} {self.operation}"]
        if self.code is not None:
            parts.append(_("code {code}", code=self.code))
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        head = ", ".join(parts)
        tail = _(" (request {request_id})", request_id=self.request_id) if self.request_id else ""
        return f"{head}: {self.message}{tail}"

    def __reduce__(self):
        # keyword-only constructors defeat Exception's default pickling (multiprocessing, caches)
        return (_rebuild_error, (type(self), self.__dict__.copy()))


def _rebuild_error(cls, state):
    err = cls.__new__(cls)
    err.__dict__.update(state)
    err.args = (str(err),)
    return err


class TransportError(ProviderError):
    """No reply at all. ``maybe_applied`` is False only when the request surely never left
    (connection refused, connect timeout); otherwise the provider may have acted on it."""

    retryable_default = True

    def __init__(self, message: str | Message, *, maybe_applied: bool = True, **kwargs):
        self.maybe_applied = maybe_applied
        super().__init__(message, **kwargs)


class DeadlineExceededError(TransportError):
    """The reply did not finish within the request's overall deadline (a server that trickles
    its headers or body a byte at a time resets every read timeout, never this one). Treated
    like a read timeout: the request may have been processed."""


class ContractError(ProviderError):
    """The reply breaks the provider's documented contract (not JSON, missing fields, wrong types)."""

    # An HTML error page from a proxy is usually transient; a wrong-typed field is not.
    def __init__(self, message: str | Message, *, transient: bool = False, **kwargs):
        self.transient = transient
        super().__init__(message, **kwargs)

    @property
    def is_retryable(self) -> bool:
        return self.transient


class ReplyTooLargeError(ContractError):
    """A reply body over the client's byte cap, as sent or once inflated: reading stopped there.
    Not retryable: the same request would bring the same body."""

    def __init__(self, message: str | Message, *, limit: int | None = None, **kwargs):
        self.limit = limit
        kwargs["transient"] = False
        super().__init__(message, **kwargs)


class APIError(ProviderError):
    """The provider answered and said no."""


class AuthenticationError(APIError):
    """The key was refused: wrong key, wrong environment, or an unregistered IP."""


class NotFoundError(APIError):
    """The record does not exist at the provider."""


class DuplicateError(APIError):
    """The provider already has this record (Paynet code 5, duplicatedata)."""


class RateLimitError(APIError):
    """Too many requests; ``retry_after`` seconds when the provider said so."""

    retryable_default = True

    def __init__(self, message: str | Message, *, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIError):
    """The provider failed on its side; usually worth another try."""

    retryable_default = True


class SubscriptionStateError(APIError):
    """Paynet answered with the subscription's state (200 SubscriptionOn, 201 SubscriptionOff)
    instead of the operation's result; ``active`` says which. INFERRED: the request did not do
    what was asked, so it is not a success."""

    def __init__(self, message: str | Message, *, active: bool, **kwargs):
        self.active = active
        super().__init__(message, **kwargs)


def http_explanation(cls: type[ProviderError]) -> Message:
    """What an HTTP refusal means for the person reading it (the status is in the error's head;
    the provider's words go beside)."""
    if issubclass(cls, AuthenticationError):
        return Message(
            "the key was refused (wrong key, wrong environment, or this IP is not registered)"
        )
    if issubclass(cls, NotFoundError):
        return Message("the record was not found")
    if issubclass(cls, ServerError):
        return Message("the provider failed on its side; try again later")
    return Message("the provider refused the request")
