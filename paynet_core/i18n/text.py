"""Turkish text rules: casing for search and matching, alphabetical order for lists.

Python's ``str.lower`` knows no locale: ``"İSKİ".lower()`` gives ``"i̇ski̇"`` (with combining
dots) and ``"ISPARTA".lower()`` gives ``"isparta"``, so neither "iski" nor "ısparta" would find
them. Turkish has two i's: dotted ``i``/``İ`` and dotless ``ı``/``I``.

INFERRED: PyICU does not install from our lock, so order comes from one tested key function
rather than a collation library; it covers the Turkish alphabet, and falls back to code points
for letters outside it.
"""

from __future__ import annotations

import unicodedata

_TR_LOWER = str.maketrans({"I": "ı", "İ": "i"})
_TR_UPPER = str.maketrans({"i": "İ", "ı": "I"})

#: The Turkish alphabet in order; q, w, x come where other Latin alphabets put them.
ALPHABET = "abcçdefgğhıijklmnoöpqrsştuüvwxyz"
_RANK = {letter: i for i, letter in enumerate(ALPHABET)}


def tr_lower(text: str) -> str:
    return text.translate(_TR_LOWER).lower()


def tr_upper(text: str) -> str:
    return text.translate(_TR_UPPER).upper()


def tr_casefold(text: str) -> str:
    """A form for case-insensitive comparison the Turkish way: ``"İSKİ"`` → ``"iski"``,
    ``"ISPARTA"`` → ``"ısparta"``. Also folds composed and decomposed forms together."""
    return unicodedata.normalize("NFC", tr_lower(unicodedata.normalize("NFC", text)))


def tr_contains(haystack: str | None, needle: str | None) -> bool:
    """Whether ``needle`` is in ``haystack``, ignoring case the Turkish way."""
    if not needle:
        return True
    if haystack is None:
        return False
    return tr_casefold(needle) in tr_casefold(haystack)


def tr_sort_key(text: str | None) -> tuple:
    """A key that sorts in Turkish alphabetical order (Ç after C, Ğ after G, I before İ, Ö after
    O, Ş after S, Ü after U), case-insensitively, with ties broken by the text itself so the
    order is total."""
    if text is None:
        return ((),)
    folded = tr_casefold(text)
    # Letters after spaces, digits and signs, as people expect "A 1" before "AB".
    ranks = tuple((1, _RANK[c]) if c in _RANK else (0, ord(c)) for c in folded)
    return (ranks, text)
