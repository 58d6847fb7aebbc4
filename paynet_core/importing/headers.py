"""Header aliases (Turkish and English, as people write them) and matching them to fields."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from ..errors import TURKISH_FIELDS, InputError
from ..i18n import Message, _
from .display import short

if TYPE_CHECKING:
    from .kinds import Spec

HEADER = "header"

#: Accepted headers per field, as people write them; matching ignores case, accents, spaces,
#: underscores and punctuation, so "Fatura No", "fatura_no" and "FATURA NO." are the same.
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_no": (
        "fatura_no",
        "Fatura No",
        "Fatura Numarası",
        "invoice_no",
        "Invoice No",
        "Invoice Number",
    ),
    "invoice_id": ("fatura_id", "Fatura ID", "invoice_id", "Invoice ID"),
    "subscription_id": (
        "abonelik_no",
        "abonelik_id",
        "Düzenli Ödeme No",
        "subscription_id",
        "Subscription No",
    ),
    "reference_no": (
        "referans_no",
        "Referans",
        "Müşteri Referans No",
        "reference_no",
        "Reference",
        "ref no",
    ),
    "amount": ("tutar", "Tutar (TL)", "Fatura Tutarı", "amount", "Amount (TL)"),
    "val_date": ("tarih", "çekim tarihi", "val_date", "date", "Charge Date"),
    "status": ("durum", "hedef durum", "yeni durum", "status", "target_status", "New Status"),
    "agent_amount": ("bayi_tutari", "agent_amount"),
    "company_amount": ("firma_tutari", "company_amount"),
    "currency": ("para_birimi", "döviz", "currency"),
}

#: Columns our own exports add (the validation table, failed-rows files): skipped silently.
_OWN_COLUMNS = (
    "error",
    "errors",
    "hata",
    "hatalar",
    "hata mesajı",
    "error message",
    "row",
    "satır",
)

TEMPLATE_HEADERS = {
    "subscription_id": "Abonelik No",
    "reference_no": "Referans No",
    "invoice_no": "Fatura No",
    "amount": "Tutar (TL)",
    "val_date": "Çekim Tarihi",
    "agent_amount": "Bayi Tutarı",
    "company_amount": "Firma Tutarı",
    "currency": "Para Birimi",
    "invoice_id": "Fatura ID",
    "status": "Hedef Durum",
}


TURKISH_FIELDS.update(TEMPLATE_HEADERS)


def fold_header(text: str) -> str:
    """The matching key of a header: ``"Tutar (TL)"`` → ``"tutartl"``, ``"Çekim Tarihi"`` → ``"cekimtarihi"``."""
    # Turkish dotted/dotless i first: str.lower() turns "I" into "i" and "İ" into "i̇".
    text = text.replace("İ", "i").replace("I", "i").replace("ı", "i").lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


_FIELD_BY_KEY: dict[str, str] = {}
for _field, _names in ALIASES.items():
    for _name in (_field, *_names):
        _FIELD_BY_KEY[fold_header(_name)] = _field
_OWN_KEYS = frozenset(fold_header(n) for n in _OWN_COLUMNS)


def map_columns(header: list[str], spec: Spec) -> tuple[dict[str, int], list[str]]:
    """field → column index; unknown columns become warnings, missing ones one clear error."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        key = fold_header(name)
        if not key or key in _OWN_KEYS:
            continue
        found = _FIELD_BY_KEY.get(key)
        if found is None or found not in spec.fields:
            unknown.append(name)
            continue
        if found in columns:
            raise InputError(
                Message(
                    "columns {first!r} and {second!r} both mean {field}; keep one",
                    first=header[columns[found]],
                    second=name,
                    field=found,
                ),
                field=HEADER,
            )
        columns[found] = index
    missing = [group for group in spec.required if not any(f in columns for f in group)]
    if missing:
        raise InputError(_missing_message(missing, header), field=HEADER)
    notes = []
    if unknown:
        shown = ", ".join(repr(short(u)) for u in unknown[:10])
        if len(unknown) > 10:
            shown = _("{shown} and {n} more", shown=shown, n=len(unknown) - 10)
        what = _("invoices") if spec.kind == "invoices" else _("statuses")
        notes.append(
            _("ignored columns the {kind} import does not use: {shown}", kind=what, shown=shown)
        )
    return columns, notes


def _missing_message(missing: list[tuple[str, ...]], header: list[str]) -> Message:
    parts = []
    for group in missing:
        names = _join_or(group)
        accepted = ", ".join(
            repr(a) for a in dict.fromkeys(a for f in group for a in (f, *ALIASES[f]))
        )
        parts.append(
            Message(
                "missing column {names} (accepted headers: {accepted})",
                names=names,
                accepted=accepted,
            )
        )
    found = ", ".join(repr(short(h)) for h in header if h) or Message("none")
    return Message("{missing}. Headers found: {found}", missing=_Joined(parts), found=found)


def _join_or(names: tuple[str, ...]) -> Message | str:
    if len(names) == 1:
        return names[0]
    return Message("{first} or {second}", first=" / ".join(names[:-1]), second=names[-1])


class _Joined:
    """Messages joined by ``; `` when shown (each rendered in the language of that moment)."""

    def __init__(self, parts: list[Message]):
        self.parts = parts

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.parts)

    def __reduce__(self):
        return (_Joined, (self.parts,))
