from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paynet_core.errors import InputError, MoneyError
from paynet_core.money import (
    MAX_KURUS,
    MAX_WIRE_KURUS,
    format_amount,
    from_wire,
    kurus_to_tl,
    parse_amount,
    tl_to_kurus,
    to_wire,
)

kurus = st.integers(min_value=1, max_value=MAX_KURUS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10,50", 1050),
        ("1.234,56", 123456),
        ("10.50", 1050),
        ("1234", 123400),
        ("₺1.234,56", 123456),
        (" 10 TL ", 1000),
        ("1,234.56", 123456),
        ("1.234.567,89", 123456789),
        ("1.234.567", 123456700),
        ("0,5", 50),
        ("0.05", 5),
        ("10 TRY", 1000),
        ("1 234,56", 123456),
        ("+5", 500),
        ("999.999.999,99", MAX_KURUS),
        (1234, 1234),  # ints are already kuruş
    ],
)
def test_parse_amount_reads_what_people_type(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5", "negative"),
        ("−5", "negative"),  # U+2212 minus sign
        ("0", "zero"),
        ("0,00", "zero"),
        ("-0", "zero"),
        ("0,001", "more than two decimals"),
        ("10,555", "ambiguous"),
        ("1.234", "ambiguous"),
        ("1,234", "ambiguous"),
        ("0.123", "more than two decimals"),
        ("1,2345", "more than two decimals"),
        ("1e5", "not a number"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("١٢٣", "digits other than 0-9"),
        ("abc", "not a number"),
        ("", "empty"),
        ("   ", "empty"),
        ("TL", "empty"),
        ("10,", "separator"),
        (",50", "separator"),
        ("1.23.4", "thousands"),
        ("1.234,5.6", "cannot be read"),
        ("1.000.000.000.000", "larger than"),
        (True, "yes/no"),
        (1.5, "as text"),
        (-1, "negative"),
        (0, "zero"),
    ],
)
def test_parse_amount_refuses_with_a_reason(text, reason):
    with pytest.raises(MoneyError) as info:
        parse_amount(text)
    assert reason in info.value.message
    assert info.value.field == "amount"
    assert isinstance(info.value, InputError)


def test_parse_amount_names_the_field_it_was_given():
    with pytest.raises(MoneyError) as info:
        parse_amount("abc", field="agent_amount")
    assert str(info.value).startswith("agent_amount: ")


def test_parse_amount_allows_zero_only_when_asked():
    assert parse_amount("0,00", allow_zero=True) == 0
    with pytest.raises(MoneyError):
        parse_amount("-0,01", allow_zero=True)


def test_parse_amount_refuses_a_huge_digit_string_with_money_error():
    with pytest.raises(MoneyError):
        parse_amount("1" * 5000)


@pytest.mark.parametrize(
    ("kurus", "text"),
    [
        (123456, "1.234,56 ₺"),
        (5, "0,05 ₺"),
        (100, "1,00 ₺"),
        (0, "0,00 ₺"),
        (MAX_KURUS, "999.999.999,99 ₺"),
    ],
)
def test_format_amount_is_turkish(kurus, text):
    assert format_amount(kurus) == text
    assert format_amount(kurus, symbol=False) == text.removesuffix(" ₺")


@pytest.mark.parametrize("bad", [1.5, "100", True, None])
def test_format_amount_refuses_non_int(bad):
    with pytest.raises(TypeError):
        format_amount(bad)


@given(kurus)
def test_format_then_parse_round_trips(k):
    assert parse_amount(format_amount(k)) == k


@given(kurus)
def test_format_without_symbol_then_parse_round_trips(k):
    assert parse_amount(format_amount(k, symbol=False)) == k


@given(st.integers(min_value=0, max_value=10 * MAX_KURUS))
def test_wire_round_trips(k):
    assert to_wire(k) == str(k)
    assert from_wire(to_wire(k)) == k


@given(st.integers(min_value=0, max_value=10 * MAX_KURUS))
def test_tl_round_trips(k):
    assert tl_to_kurus(kurus_to_tl(k)) == k


@pytest.mark.parametrize("bad", [-1, True, 1.0, "12"])
def test_to_wire_refuses(bad):
    with pytest.raises(TypeError):
        to_wire(bad)


@pytest.mark.parametrize("bad", ["-1", "1.5", "", "١٢", True, -3, 1.0, Decimal("-5")])
def test_from_wire_refuses(bad):
    with pytest.raises(ValueError):
        from_wire(bad)


@pytest.mark.parametrize(
    "huge", [MAX_WIRE_KURUS + 1, "9" * 400, "9" * 5000, Decimal("1e400"), Decimal("1e999999")]
)
def test_wire_amounts_no_invoice_can_have_are_refused_quickly(huge):
    with pytest.raises(ValueError, match="larger than any we accept"):
        from_wire(huge)
    with pytest.raises(ValueError, match="larger than any we accept"):
        tl_to_kurus(huge if not isinstance(huge, int) else Decimal(huge) / 100)
    assert from_wire(MAX_WIRE_KURUS) == MAX_WIRE_KURUS > MAX_KURUS


@pytest.mark.parametrize(("value", "expected"), [("1.00", 100), ("110740.99", 11074099), (7, 700)])
def test_tl_to_kurus_reads_decimal_tl(value, expected):
    assert tl_to_kurus(value) == expected


@pytest.mark.parametrize(
    "bad",
    [
        1.0,
        "1.001",
        "abc",
        "NaN",
        True,
        Decimal("-5.00"),
        "-1",
        "1e5",
        "1_000",
        "١٢٣",
        Decimal("1.0000000000000000000000000000001"),  # a 29th digit, once rounded away
    ],
)
def test_tl_to_kurus_refuses(bad):
    with pytest.raises(ValueError):
        tl_to_kurus(bad)
