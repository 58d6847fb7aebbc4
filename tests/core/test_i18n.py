import shutil

import pytest

from paynet_core.i18n import (
    Message,
    _,
    check,
    current_language,
    language_from_env,
    normalize_language,
    using_language,
)
from paynet_core.i18n.formats import format_count, format_number, format_percent, month_names
from paynet_core.i18n.text import tr_casefold, tr_contains, tr_lower, tr_sort_key, tr_upper


@pytest.mark.parametrize(
    ("haystack", "needle"),
    [
        ("İSKİ", "iski"),
        ("ISPARTA", "ısparta"),
        ("iski", "İSKİ"),
        ("Isparta Belediyesi", "ISPARTA"),
        ("ÇORUM", "çorum"),
        ("Ağrı", "AĞRI"),
    ],
)
def test_search_matches_the_turkish_way(haystack, needle):
    assert tr_contains(haystack, needle)


@pytest.mark.parametrize(
    ("haystack", "needle"), [("ISPARTA", "isparta"), ("İSKİ", "ıskı"), ("İZMİR", "izmır")]
)
def test_dotted_and_dotless_i_are_different_letters(haystack, needle):
    assert not tr_contains(haystack, needle)


def test_turkish_casing():
    assert tr_lower("İSKİ ISPARTA") == "iski ısparta"
    assert tr_upper("iski ısparta") == "İSKİ ISPARTA"
    assert tr_casefold("I\u0307") == tr_casefold("i")  # a decomposed İ folds like the composed one


def test_lists_sort_in_turkish_alphabetical_order():
    words = [
        "Zeytin",
        "Üsküdar",
        "Uşak",
        "Şile",
        "Sivas",
        "Ödemiş",
        "Ordu",
        "İzmir",
        "Isparta",
        "Ğ",
        "Giresun",
        "Çorum",
        "Ceyhan",
        "Bursa",
        "Adana",
    ]
    assert sorted(reversed(words), key=tr_sort_key) == [
        "Adana",
        "Bursa",
        "Ceyhan",
        "Çorum",
        "Giresun",
        "Ğ",
        "Isparta",
        "İzmir",
        "Ordu",
        "Ödemiş",
        "Sivas",
        "Şile",
        "Uşak",
        "Üsküdar",
        "Zeytin",
    ]
    assert sorted(["ıb", "ia", "Ia"], key=tr_sort_key) == ["Ia", "ıb", "ia"]


@pytest.mark.turkish
def test_the_language_follows_the_context_and_the_environment():
    assert normalize_language("tr-TR") == "tr" and normalize_language("en_US.UTF-8") == "en"
    assert normalize_language("de-DE") is None
    assert language_from_env({"PAYNET_OPS_LANG": "en", "LANG": "tr_TR.UTF-8"}) == "en"
    assert language_from_env({"LANG": "en_GB.UTF-8"}) == "en"
    assert language_from_env({"LANG": "C.UTF-8"}) == "en"
    assert language_from_env({"LANG": "de_DE.UTF-8"}) == "en"
    assert language_from_env({"PAYNET_OPS_LANG": "fr", "LANG": "tr_TR.UTF-8"}) == "tr"
    assert language_from_env({}) == "tr"
    assert current_language() == "tr"
    with using_language("en"):
        assert current_language() == "en"
    assert current_language() == "tr"


def test_a_message_renders_in_the_language_current_when_shown():
    msg = Message("{n} invoices", n=3)
    assert str(msg) == _("{n} invoices", n=3)
    assert __import__("pickle").loads(__import__("pickle").dumps(msg)) == msg


def test_counts_are_grouped_the_turkish_way():
    assert [format_count(n) for n in (7, 4702, 135449, 1_000_000)] == [
        "7",
        "4.702",
        "135.449",
        "1.000.000",
    ]
    assert month_names("tr")[0] == "Ocak" and month_names("en")[0] == "January"


def test_every_message_in_the_code_has_a_turkish_translation_with_the_same_placeholders():
    assert check.problems() == []


def test_the_catalog_check_fails_on_a_missing_or_wrong_translation(tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(check.LOCALES, locales)
    po = locales / "tr" / "LC_MESSAGES" / "paynet_ops.po"
    en = locales / "en" / "LC_MESSAGES" / "paynet_ops.po"
    extra = '\nmsgid "{n} invoices sent"\nmsgstr ""\n\nmsgid "Sync every provider now"\nmsgstr ""\n'
    en.write_text(en.read_text() + extra)
    po.write_text(
        po.read_text() + '\nmsgid "{n} invoices sent"\nmsgstr "{count} fatura gönderildi"\n'
    )
    found = check.problems(locales, in_code=set())
    assert any("placeholders differ" in p and "{n} invoices sent" in p for p in found)
    assert any("no Turkish translation: 'Sync every provider now'" in p for p in found)


def test_percents_are_written_the_turkish_way():
    assert [format_percent(x) for x in (0.14, 0.145, 0.0, 1.0, None)] == [
        "%14",
        "%14,5",
        "%0",
        "%100",
        "–",
    ]
    assert format_percent(0.12345, 2) == "%12,35" and format_number(1234.5) == "1.234,5"
