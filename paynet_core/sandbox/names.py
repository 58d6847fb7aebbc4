"""Turkish names for demo data, and Payofin's way of masking them (``DE*** ÖZ****``)."""

from __future__ import annotations

import random

_FIRST = (
    "Ayşe Mehmet Fatma Mustafa Emine Ahmet Hatice Ali Zeynep Hüseyin Elif Hasan Derya İbrahim "
    "Özlem Murat Şükran Gökhan Çağla Ümit Büşra Emre Gülşen Oğuz İrem Serkan Nurcan Burak Şeyma "
    "Can"
)
_LAST = (
    "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kılıç Aslan "
    "Çetin Kara Koç Kurt Özkan Şimşek Polat Güneş Erdoğan Korkmaz Çakır Akın Uçar Bulut Ünal "
    "Güler"
)
FIRST_NAMES = tuple(_FIRST.split())
SURNAMES = tuple(_LAST.split())


def turkish_upper(text: str) -> str:
    """Upper case with Turkish dotted/dotless i (``"i"`` → ``"İ"``, ``"ı"`` → ``"I"``)."""
    return text.replace("i", "İ").replace("ı", "I").upper()


def full_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def mask(name: str) -> str:
    """``"Derya Öztürk"`` → ``"DE*** ÖZ****"``: two letters of each word, a star for each other."""
    return " ".join(w[:2] + "*" * max(0, len(w) - 2) for w in turkish_upper(name).split())


def masked_name(rng: random.Random) -> str:
    return mask(full_name(rng))
