"""The Payofin institution catalogue the sandbox serves (``sootlist``).

Payofin's real list is per merchant and not public; these entries follow the sample
(``sootCode`` 1 = İSKİ, ``invoiceType`` "Su Faturası") and the field shape of ``/sootlist``.
Fees and amount ranges are made up for demo data (INFERRED).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Institution:
    soot_code: int
    soot_name: str
    invoice_type: str
    #: Payofin's institution type (sootListByType): 1 electricity, 2 water, 3 gas, 4 phone, 5 internet, 6 TV.
    soot_type_code: int
    description: str
    fields: dict[str, Any] = field(default_factory=dict)
    #: Service fee ("profit") per payment, kuruş.
    fee: int = 150
    #: Typical bill range for demo data, kuruş.
    bill_range: tuple[int, int] = (5_000, 150_000)


def _fields(
    title: str, mask: str, *, partial: bool = False, additional: bool = False
) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"Faturanızın üzerindeki {title.lower()}",
        "mask": mask,
        "required": True,
        "additionalNoRequired": additional,
        "partialAmount": partial,
    }


INSTITUTIONS: tuple[Institution, ...] = (
    Institution(
        1,
        "İSKİ",
        "Su Faturası",
        2,
        "İstanbul Su ve Kanalizasyon İdaresi",
        _fields("Abone No", "###########", partial=True),
        fee=50,
        bill_range=(4_000, 90_000),
    ),
    Institution(
        2,
        "BEDAŞ",
        "Elektrik Faturası",
        1,
        "Boğaziçi Elektrik Dağıtım A.Ş.",
        _fields("Tesisat No", "##########"),
        fee=175,
        bill_range=(15_000, 350_000),
    ),
    Institution(
        3,
        "İGDAŞ",
        "Doğalgaz Faturası",
        3,
        "İstanbul Gaz Dağıtım A.Ş.",
        _fields("Tekil Kod", "##########"),
        fee=175,
        bill_range=(10_000, 600_000),
    ),
    Institution(
        4,
        "Türk Telekom",
        "Telefon Faturası",
        4,
        "Türk Telekomünikasyon A.Ş.",
        _fields("Hizmet No", "##########"),
        fee=100,
        bill_range=(8_000, 40_000),
    ),
    Institution(
        5,
        "AYEDAŞ",
        "Elektrik Faturası",
        1,
        "İstanbul Anadolu Yakası Elektrik Dağıtım A.Ş.",
        _fields("Tesisat No", "##########"),
        fee=175,
        bill_range=(15_000, 350_000),
    ),
    Institution(
        6,
        "ASKİ",
        "Su Faturası",
        2,
        "Ankara Su ve Kanalizasyon İdaresi",
        _fields("Abone No", "#########"),
        fee=75,
        bill_range=(4_000, 80_000),
    ),
    Institution(
        7,
        "Superonline",
        "İnternet Faturası",
        5,
        "Turkcell Superonline İletişim Hizmetleri A.Ş.",
        _fields("Müşteri No", "##########"),
        fee=125,
        bill_range=(25_000, 90_000),
    ),
    Institution(
        8,
        "Başkentgaz",
        "Doğalgaz Faturası",
        3,
        "Başkent Doğalgaz Dağıtım A.Ş.",
        _fields("Tesisat No", "##########"),
        fee=175,
        bill_range=(10_000, 500_000),
    ),
    Institution(
        9,
        "İZSU",
        "Su Faturası",
        2,
        "İzmir Su ve Kanalizasyon İdaresi",
        _fields("Abone No", "##########", additional=True),
        fee=75,
        bill_range=(4_000, 80_000),
    ),
    Institution(
        10,
        "Vodafone",
        "Telefon Faturası",
        4,
        "Vodafone Telekomünikasyon A.Ş.",
        _fields("Telefon No", "##########"),
        fee=100,
        bill_range=(15_000, 60_000),
    ),
    Institution(
        11,
        "Digiturk",
        "Televizyon Faturası",
        6,
        "Digital Platform Teknoloji Hizmetleri A.Ş.",
        _fields("Abone No", "########"),
        fee=100,
        bill_range=(20_000, 70_000),
    ),
    Institution(
        12,
        "Türk Telekom",
        "İnternet Faturası",
        5,
        "Türk Telekomünikasyon A.Ş. (internet)",
        _fields("Hizmet No", "##########"),
        fee=125,
        bill_range=(20_000, 80_000),
    ),
)
