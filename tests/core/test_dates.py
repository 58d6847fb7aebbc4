from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paynet_core.dates import (
    ISTANBUL,
    date_windows,
    format_display_date,
    format_paynet_date,
    format_paynet_datetime,
    format_payofin_date,
    parse_any_date,
    parse_any_datetime,
    parse_paynet_date,
    parse_paynet_datetime,
    parse_payofin_date,
    to_istanbul,
)
from paynet_core.errors import DateError

# Turkey has stayed on +03:00 all year since September 2016: no folds or gaps after that.
istanbul_times = st.datetimes(
    min_value=datetime(2017, 1, 1),
    max_value=datetime(2099, 12, 31, 23, 59, 59),
    timezones=st.just(ISTANBUL),
).map(lambda dt: dt.replace(microsecond=0))


def at(*args):
    return datetime(*args, tzinfo=ISTANBUL)


@given(istanbul_times)
def test_paynet_datetime_round_trips(dt):
    text = format_paynet_datetime(dt)
    assert parse_paynet_datetime(text) == dt
    assert parse_any_datetime(text) == dt


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.just(ISTANBUL),
    )
)
def test_paynet_datetime_keeps_wall_time_across_old_dst_years(dt):
    parsed = parse_paynet_datetime(format_paynet_datetime(dt))
    assert parsed.replace(tzinfo=None) == dt.replace(tzinfo=None, microsecond=0)


@given(istanbul_times, st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
def test_paynet_datetime_is_written_in_istanbul_time(dt, zone):
    assert parse_paynet_datetime(format_paynet_datetime(dt.astimezone(zone))) == dt


def test_paynet_datetime_matches_the_documented_sample():
    assert format_paynet_datetime(at(2017, 10, 3, 10, 32, 24)) == "03.10.2017 10:32:24"
    assert parse_paynet_datetime("03.10.2017 10:32:24") == at(2017, 10, 3, 10, 32, 24)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_date_formats_round_trip(d):
    assert parse_paynet_date(format_paynet_date(d)) == d
    assert parse_payofin_date(format_payofin_date(d)) == d
    assert parse_any_date(format_display_date(d)) == d


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("23.11.2026", at(2026, 11, 23)),
        ("23.11.2026 14:30", at(2026, 11, 23, 14, 30)),
        ("23.11.2026 14:30:15", at(2026, 11, 23, 14, 30, 15)),
        ("2026-11-23", at(2026, 11, 23)),
        ("2026-11-23T14:30:00", at(2026, 11, 23, 14, 30)),
        ("2026-11-23T14:30", at(2026, 11, 23, 14, 30)),
        ("2026-11-23 14:30:00", at(2026, 11, 23, 14, 30)),
        ("2026-11-23T14:30:00.123", at(2026, 11, 23, 14, 30)),
        ("23/11/2026", at(2026, 11, 23)),
        ("23-11-2026", at(2026, 11, 23)),
        ("2026.11.23", at(2026, 11, 23)),
        ("  23.11.2026  ", at(2026, 11, 23)),
        ("2026-11-23T11:30:00Z", at(2026, 11, 23, 14, 30)),
        ("2026-11-23T14:30:00+03:00", at(2026, 11, 23, 14, 30)),
        (date(2026, 11, 23), at(2026, 11, 23)),
        (datetime(2026, 11, 23, 14, 30), at(2026, 11, 23, 14, 30)),
        (datetime(2026, 11, 23, 11, 30, tzinfo=UTC), at(2026, 11, 23, 14, 30)),
    ],
)
def test_parse_any_datetime_reads_usual_forms(value, expected):
    parsed = parse_any_datetime(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=3)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        None,
        5,
        "31.02.2026",
        "23.11.26",
        "2026/11/23",
        "tomorrow",
        "23.11.2026 25:00",
        "x" * 1000,
    ],
)
def test_parse_any_datetime_refuses_with_date_error(value):
    with pytest.raises(DateError) as info:
        parse_any_datetime(value, field="val_date")
    assert info.value.field == "val_date"


def test_parse_any_datetime_refuses_out_of_range_with_date_error():
    with pytest.raises(DateError):
        parse_any_datetime("9999-12-31T23:59:59Z")


@pytest.mark.parametrize("bad", ["03.10.2017", "2017-10-03 10:32:24", "", None])
def test_parse_paynet_datetime_is_strict(bad):
    with pytest.raises(DateError):
        parse_paynet_datetime(bad)


def test_to_istanbul_reads_naive_as_local_and_converts_aware():
    assert to_istanbul(datetime(2026, 1, 1, 12)) == at(2026, 1, 1, 12)
    assert to_istanbul(datetime(2026, 1, 1, 9, tzinfo=UTC)) == at(2026, 1, 1, 12)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)),
    st.integers(min_value=0, max_value=3000),
    st.integers(min_value=1, max_value=400),
)
def test_date_windows_cover_every_day_exactly_once(first, span, max_days):
    last = first + timedelta(days=span)
    windows = date_windows(first, last, max_days)
    days = [
        start + timedelta(days=i) for start, end in windows for i in range((end - start).days + 1)
    ]
    assert days == [first + timedelta(days=i) for i in range(span + 1)]
    assert all(start <= end and (end - start).days < max_days for start, end in windows)
    assert len(windows) == -(-(span + 1) // max_days)


def test_date_windows_refuse_bad_ranges():
    with pytest.raises(DateError):
        date_windows(date(2026, 1, 2), date(2026, 1, 1), 7)
    with pytest.raises(ValueError):
        date_windows(date(2026, 1, 1), date(2026, 1, 2), 0)
