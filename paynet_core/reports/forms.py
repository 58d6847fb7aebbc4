"""The two forms a file for people takes: Turkish Excel's and the English one.

Turkish Excel uses ``;`` as its list separator (a ``,`` file opens as one column) and reads
UTF-8 only with a BOM; the team reads Turkish headers. So in Turkish (the default) a CSV is
``;``-separated with Turkish headers, in English ``,``-separated with the cache's column names
(the names the README documents and scripts use). Both are UTF-8 with a BOM, so Turkish
letters survive either Excel, and the importer reads both back (headers by alias, the
separator by sniffing). Parquet is for programs and keeps the column names in every form.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InputError
from ..i18n import Message, current_language, normalize_language
from ..importing.headers import TEMPLATE_HEADERS

FORMS = ("tr", "en")
DELIMITERS = {"tr": ";", "en": ","}

#: Turkish headers of the columns our files hold; an upload's fields take the template's
#: headers, so a failed-rows file in Turkish goes straight back through the importer.
TURKISH_HEADERS: dict[str, str] = {
    **TEMPLATE_HEADERS,
    "row": "Satır",
    "error": "Hata",
    "errors": "Hatalar",
    "agent_id": "Bayi No",
    "val_day": "Çekim Günü",
    "status_label": "Durum",
    "outcome": "Sonuç",
    "amount_kurus": "Tutar (kuruş)",
    "amount_tl": "Tutar",
    "agent_amount_kurus": "Bayi Tutarı (kuruş)",
    "company_amount_kurus": "Firma Tutarı (kuruş)",
    "updated_at": "Güncellenme",
    "invoice_payment_id": "Ödeme ID",
    "paid_day": "Ödeme Günü",
    "paid_at": "Ödeme Zamanı",
    "institution": "Kurum",
    "invoice_type": "Fatura Türü",
    "subscriber_no": "Abone No",
    "customer_name_masked": "Müşteri (maskeli)",
    "due_date": "Son Ödeme Tarihi",
    "fee_kurus": "Komisyon (kuruş)",
    "fee_tl": "Komisyon",
    "synced_at": "Eşitlenme",
    "provider": "Sağlayıcı",
    "record_id": "Kayıt No",
    "day": "Gün",
    "occurred_at": "Zaman",
    "seq": "Sıra",
    "id": "No",
    "source_row": "Dosya Satırı",
    "operation": "İşlem",
    "target_key": "Hedef",
    "state": "Durum",
    "attempts": "Deneme",
    "provider_code": "Sağlayıcı Kodu",
    "message": "Mesaj",
    "status_before": "Önceki Durum",
    "status_after": "Sonraki Durum",
    "started_at": "Başlangıç",
    "finished_at": "Bitiş",
    "period": "Dönem",
    "count": "Adet",
    "at": "Zaman",
    "actor": "Kişi",
    "action": "Eylem",
    "mode": "Mod",
    "target_type": "Hedef Türü",
    "target_ids": "Hedefler",
    "job_id": "İş No",
    "details": "Ayrıntılar",
    "provider_message": "Sağlayıcı Mesajı",
    "old_status": "Eski Durum",
    "new_status": "Yeni Durum",
}


def csv_form(form: str | None = None) -> str:
    """``"tr"`` or ``"en"``: the form asked for, else the current language's."""
    if not form:
        return current_language()
    found = normalize_language(form)
    if found is None:
        raise InputError(Message("unknown CSV form {form!r}; use tr or en", form=form))
    return found


def delimiter(form: str | None = None) -> str:
    return DELIMITERS[csv_form(form)]


def headers(columns: Iterable[object], form: str | None = None) -> list[str]:
    """The headers ``columns`` get in ``form``: Turkish ones in Turkish (a column without one
    keeps its name), the column names in English."""
    names = [str(c) for c in columns]
    if csv_form(form) != "tr":
        return names
    return [TURKISH_HEADERS.get(n, n) for n in names]
