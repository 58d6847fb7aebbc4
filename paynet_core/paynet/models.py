"""Paynet request and reply shapes.

Replies are tolerant of fields we do not know (``extra="allow"``) and strict about the ones we
rely on. Amounts are kuruş ints (the wire sends digit strings or JSON numbers; both are read).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..dates import parse_any_datetime
from ..errors import InputError
from ..i18n import N_, Bilingual, Message
from ..money import from_wire
from ..outcomes import Outcome

OPERATIONS = (
    "create_invoice",
    "invoice_list",
    "invoice_status_update",
    "invoices_status_update_all",
    "invoice_amount_update",
    "list",
    "subscription_detail",
)

#: object_name in each successful reply, as the documentation's samples spell them.
OBJECT_NAMES = {
    "create_invoice": "subscription_invoice",
    "invoice_list": "subscription_invoice_list",  # INFERRED: not in any stored sample
    "invoice_status_update": "subscription_invoice_status_update",
    "invoices_status_update_all": "subscription_invoices_status_update_all",
    "invoice_amount_update": "subscription_invoice_amount_update",
    "list": "subscription_list",
    "subscription_detail": "subscription_detail",  # INFERRED
}

DOCS = "Paynet docs"
#: SEEN-3P: codes an independent, public Paynet client (a Laravel package's enum) knows; Paynet's
#: own return-code page does not list them.
INDEPENDENT_CLIENT = "independent client"


@dataclass(frozen=True)
class ReturnCode:
    """One return code: its name as the source spells it, what it means, and where it was seen.

    INFERRED: the meanings are ours; the docs list names only, the independent client names only.
    """

    code: int
    name: str
    meaning_en: str
    meaning_tr: str
    source: str = DOCS

    @property
    def documented(self) -> bool:
        return self.source == DOCS

    def describe(self) -> str:
        """``"InvoiceNoNotFound: invoice number not found (seen in an independent client, not in
        Paynet's docs)"``: what a banner or an error message says about the code."""
        return str(self.explanation())

    def explanation(self) -> Message:
        """:meth:`describe` as a message, rendered in the language current when it is read."""
        meaning = Bilingual(self.meaning_en, self.meaning_tr)
        if self.documented:
            return Message("{name}: {meaning}", name=self.name, meaning=meaning)
        return Message(
            "{name}: {meaning} (seen in an independent client, not in Paynet's docs)",
            name=self.name,
            meaning=meaning,
        )


def _codes(source: str, *rows: tuple[int, str, str, str]) -> dict[int, ReturnCode]:
    return {code: ReturnCode(code, name, en, tr, source) for code, name, en, tr in rows}


#: Return codes ("Dönüş Kodları"): the documented list, then the codes seen only in an
#: independent client (see INDEPENDENT_CLIENT).
RETURN_CODE_TABLE: dict[int, ReturnCode] = {
    **_codes(
        DOCS,
        (0, "successful", "successful", "başarılı işlem"),
        (1, "unsuccessful", "unsuccessful", "başarısız işlem"),
        (2, "companyblocked", "the company (merchant) is blocked", "firma bloke edilmiş"),
        (3, "agentblocked", "the agent (dealer) is blocked", "bayi bloke edilmiş"),
        (4, "agentnotfound", "agent (dealer) not found", "bayi bulunamadı"),
        (5, "duplicatedata", "duplicate record (e.g. a reused invoice number)", "mükerrer kayıt"),
        (6, "noprocess", "the operation was not carried out", "işlem yapılamadı"),
        (7, "unauthorized", "unauthorized: the key was refused", "yetkisiz erişim"),
        (8, "servererror", "server error", "sunucu hatası"),
        (9, "notimplemented", "not implemented", "desteklenmeyen işlem"),
        (10, "timeout", "timeout", "zaman aşımı"),
        (11, "badrequest", "bad request", "hatalı istek"),
        (12, "nodata", "no data: the record was not found", "kayıt bulunamadı"),
        (13, "paynetjnosession", "Paynet.js form: no session", "Paynet.js oturumu bulunamadı"),
        (
            14,
            "paynetjwrongbin",
            "Paynet.js form: wrong card BIN",
            "Paynet.js: hatalı kart BIN numarası",
        ),
        (
            15,
            "paynetjunmatchtran",
            "Paynet.js form: the transaction does not match",
            "Paynet.js: işlem eşleşmedi",
        ),
        (16, "paynetj3derror", "Paynet.js form: 3D Secure error", "Paynet.js: 3D doğrulama hatası"),
        (
            17,
            "paynetjusedsession",
            "Paynet.js form: session already used",
            "Paynet.js: oturum daha önce kullanılmış",
        ),
        (18, "wrongcarddata", "wrong card data", "hatalı kart bilgisi"),
        (19, "wrongtransactiontype", "wrong transaction type", "hatalı işlem tipi"),
        (20, "wrongpostype", "wrong POS type", "hatalı POS tipi"),
        (21, "wrongratioget", "the instalment ratio could not be read", "taksit oranı alınamadı"),
        (
            100,
            "oldsuccessful",
            "an earlier successful transaction (a repeat)",
            "daha önce başarılı olmuş işlem",
        ),
    ),
    **_codes(
        INDEPENDENT_CLIENT,
        (
            22,
            "PaynetjExpireDateError",
            "Paynet.js form: wrong card expiry date",
            "Paynet.js: kartın son kullanma tarihi hatalı",
        ),
        (
            23,
            "RatioCodeNotFound",
            "instalment ratio code not found",
            "taksit oranı kodu bulunamadı",
        ),
        (24, "InvoiceNoNotFound", "invoice number not found", "fatura numarası bulunamadı"),
        (25, "CardNotFound", "card not found", "kart bulunamadı"),
        (26, "CardKeyUndefined", "card key not defined", "kart anahtarı tanımsız"),
        (200, "SubscriptionOn", "the subscription is on (active)", "abonelik açık (aktif)"),
        (201, "SubscriptionOff", "the subscription is off (not active)", "abonelik kapalı (pasif)"),
    ),
}
#: code → name, for messages that quote the code's name.
RETURN_CODES = {code: rc.name for code, rc in RETURN_CODE_TABLE.items()}
#: The codes that report a subscription's state rather than a failure (SubscriptionOn / Off).
SUBSCRIPTION_STATE_CODES = {200: True, 201: False}
SUCCESS_CODES = frozenset({0, 100})


class InvoiceStatus(IntEnum):
    """Paynet invoice statuses (Veri Tipleri → Status). There is no 1."""

    WAITING = 0
    EXTERNAL_CHARGED = 2
    DONE_SUCCEED = 3
    DONE_UNSUCCEED = 4
    CANCEL = 5
    DELETED = 6

    @property
    def label(self) -> str:
        """The documentation's English label, e.g. ``"Done succeed"``."""
        return _LABELS[self][0]

    @property
    def label_tr(self) -> str:
        return _LABELS[self][1]

    @property
    def display_label(self) -> str:
        """The name people read, in the current language (``"İptal"`` / ``"Cancel"``); ``label``
        stays the documentation's English, which the cache and files use."""
        from ..i18n import _

        return _(_LABELS[self][0])

    @property
    def outcome(self) -> Outcome:
        return _OUTCOMES[self]

    @property
    def is_destructive(self) -> bool:
        """Statuses that stop an invoice for good; the UI asks for a typed confirmation."""
        return self in (InvoiceStatus.CANCEL, InvoiceStatus.DELETED)

    @classmethod
    def parse(cls, value: object) -> InvoiceStatus:
        """Read a status by code (``5``, ``"5"``) or label in English or Turkish (``Cancel``, ``İptal``)."""
        if isinstance(value, InvoiceStatus):
            return value
        if isinstance(value, bool):
            raise InputError(Message("{value!r} is not an invoice status", value=value))
        if isinstance(value, float) and math.copysign(1.0, value) < 0:
            raise InputError(
                Message(
                    "{value!r} is negative; status codes are 0 to 5 ({choices})",
                    value=value,
                    choices=_choices(),
                )
            )
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            try:
                return cls(int(value))
            except ValueError:
                raise InputError(
                    Message(
                        "{value!r} is not an invoice status ({choices})",
                        value=value,
                        choices=_choices(),
                    )
                ) from None
        if isinstance(value, str) and _SIGNED.search(value):
            # _fold turns "-" into a space, so "-0" would read as 0 (Waiting)
            raise InputError(
                Message(
                    "{value!r} has a sign; status codes are 0 to 5 ({choices})",
                    value=value,
                    choices=_choices(),
                )
            )
        if isinstance(value, str) and not any(ch.isdigit() and not ch.isascii() for ch in value):
            key = _fold(value)
            if key.isascii() and key.isdigit():
                return cls.parse(int(key))
            if key in _BY_NAME:
                return _BY_NAME[key]
        raise InputError(
            Message(
                "{value!r} is not an invoice status ({choices})", value=value, choices=_choices()
            )
        )


_LABELS = {
    InvoiceStatus.WAITING: ("Waiting", "Bekliyor"),
    InvoiceStatus.EXTERNAL_CHARGED: ("External charged", "Harici tahsil edildi"),
    InvoiceStatus.DONE_SUCCEED: ("Done succeed", "Başarılı"),
    InvoiceStatus.DONE_UNSUCCEED: ("Done unsucceed", "Başarısız"),
    InvoiceStatus.CANCEL: ("Cancel", "İptal"),
    InvoiceStatus.DELETED: ("Deleted", "Silindi"),
}
# The labels above as message ids (pybabel finds strings only inside a marker).
_DISPLAY_MSGIDS = (
    N_("Waiting"),
    N_("External charged"),
    N_("Done succeed"),
    N_("Done unsucceed"),
    N_("Cancel"),
    N_("Deleted"),
)
_OUTCOMES = {
    InvoiceStatus.WAITING: Outcome.OPEN,
    InvoiceStatus.EXTERNAL_CHARGED: Outcome.PAID,
    InvoiceStatus.DONE_SUCCEED: Outcome.PAID,
    InvoiceStatus.DONE_UNSUCCEED: Outcome.FAILED,
    InvoiceStatus.CANCEL: Outcome.CANCELLED,
    InvoiceStatus.DELETED: Outcome.CANCELLED,
}


def _fold(text: str) -> str:
    """Case- and accent-insensitive key: ``"İptal"`` → ``"iptal"``, ``"Done  Succeed"`` → ``"done succeed"``."""
    text = text.strip().replace("İ", "i").replace("I", "ı").lower().replace("ı", "i")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.replace("_", " ").replace("-", " ").split())


#: A sign next to a digit: "-0", "+5", "- 5", "5-", "−1".
_SIGNED = re.compile(r"[+\-−]\s*\d|\d\s*[+\-−]")

_BY_NAME: dict[str, InvoiceStatus] = {}
for _status, (_en, _tr) in _LABELS.items():
    for _name in (_en, _tr, _status.name):
        _BY_NAME[_fold(_name)] = _status
_BY_NAME.update(
    {
        _fold(k): v
        for k, v in {
            "Cancelled": InvoiceStatus.CANCEL,
            "Canceled": InvoiceStatus.CANCEL,
            "Iptal edildi": InvoiceStatus.CANCEL,
            "Paid": InvoiceStatus.DONE_SUCCEED,
            "Ödendi": InvoiceStatus.DONE_SUCCEED,
            "Failed": InvoiceStatus.DONE_UNSUCCEED,
            "Delete": InvoiceStatus.DELETED,
            "Sil": InvoiceStatus.DELETED,
            "Beklemede": InvoiceStatus.WAITING,
            "External": InvoiceStatus.EXTERNAL_CHARGED,
            "Harici": InvoiceStatus.EXTERNAL_CHARGED,
        }.items()
    }
)


class _Choices:
    """The statuses as ``0 Waiting, 2 …`` in the language current when shown."""

    def __str__(self) -> str:
        return ", ".join(f"{s.value} {s.display_label}" for s in InvoiceStatus)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Choices)

    def __hash__(self) -> int:
        return 0


def _choices() -> _Choices:
    return _Choices()


def _kurus(value: Any) -> int:
    return from_wire(value)


def _opt_kurus(value: Any) -> int | None:
    return None if value in (None, "") else from_wire(value)


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected text")
    return str(value)


def _opt_datetime(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_any_datetime(value)


KurusField = Annotated[int, BeforeValidator(_kurus)]
OptKurus = Annotated[int | None, BeforeValidator(_opt_kurus)]
OptStr = Annotated[str | None, BeforeValidator(_opt_str)]
OptDatetime = Annotated[datetime | None, BeforeValidator(_opt_datetime)]


class PaynetModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class PaynetReply(PaynetModel):
    """The envelope of every 200 reply: ``{object_name, code, message}`` (+ ``data`` for lists)."""

    object_name: str | None = None
    code: int
    message: str | None = None


class Invoice(PaynetModel):
    """One payment record of a subscription, as ``invoice_list`` returns it.

    The item shape is not documented (INFERRED from the request fields and the other endpoints).
    """

    invoice_id: OptStr = None
    invoice_no: OptStr = None
    subscription_id: OptStr = None
    reference_no: OptStr = None
    amount: KurusField
    agent_amount: OptKurus = None
    company_amount: OptKurus = None
    currency: str = "TRY"
    val_date: OptDatetime = None
    status: InvoiceStatus

    @property
    def status_label(self) -> str:
        return self.status.label


class Subscription(PaynetModel):
    """A subscription as ``list`` and ``subscription_detail`` return it (item shape INFERRED)."""

    subscription_id: str
    reference_no: OptStr = None
    name_surname: OptStr = None
    amount: OptKurus = None
    agent_id: OptStr = None
    interval: int | None = None
    interval_count: int | None = None
    begin_date: OptDatetime = None
    is_fixed_price: bool | None = None
    status: int | None = None
    group_reference_no: OptStr = None
    created_at: OptDatetime = Field(default=None)


class ListPage(PaynetModel):
    """One page of a list reply: cursor-by-index paging (``limit`` + ``starting_after``)."""

    code: int
    message: str | None = None
    object_name: str | None = None
    total: int = 0
    total_count: int = 0
    limit: int = 10
    has_more: bool = False
    data: list[dict[str, Any]] = Field(default_factory=list)
