import io
import zipfile
from datetime import date, datetime, time

import openpyxl
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.errors import InputError
from paynet_core.importing import (
    ALIASES,
    ImportResult,
    InvoiceRow,
    ReadBudget,
    RowError,
    StatusRow,
    fold_header,
    read_file,
    read_invoice_rows,
    read_rows,
    read_status_rows,
    template_csv,
    template_xlsx,
)
from paynet_core.paynet.models import InvoiceStatus

INVOICE_HEADER = ["Abonelik No", "Fatura No", "Tutar", "Tarih"]


def csv_bytes(rows, *, delimiter=";", encoding="utf-8"):
    text = "\r\n".join(delimiter.join(cells) for cells in rows) + "\r\n"
    return text.encode(encoding)


def xlsx_bytes(rows, *, sheets=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Faturalar"
    for row in rows:
        ws.append(row)
    for title, extra in (sheets or {}).items():
        other = wb.create_sheet(title)
        for row in extra:
            other.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def invoices(*data_rows, header=INVOICE_HEADER, **kwargs):
    return read_invoice_rows(csv_bytes([header, *data_rows]), "faturalar.csv", **kwargs)


def only_error(result: ImportResult) -> RowError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def at(*args):
    return datetime(*args, tzinfo=ISTANBUL)


# -- good files --------------------------------------------------------------------------------

TURKISH_ROWS = [
    [
        "Abonelik No",
        "Referans No",
        "Fatura No",
        "Tutar (TL)",
        "Çekim Tarihi",
        "Bayi Tutarı",
        "Firma Tutarı",
    ],
    ["100045", "", "FTR-ÇĞİ-1", "1.234,56", "23.11.2026 14:30", "", ""],
    ["", "REF-ŞÖÜ", "FTR-ÇĞİ-2", "288,98", "24.11.2026", "29,26", "259,72"],
]
EXPECTED = [
    InvoiceRow(2, "100045", None, 123456, at(2026, 11, 23, 14, 30), "FTR-ÇĞİ-1"),
    InvoiceRow(3, None, "REF-ŞÖÜ", 28898, at(2026, 11, 24), "FTR-ÇĞİ-2", 2926, 25972),
]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "detected"),
    [
        ("utf-8", ";", "utf-8"),
        ("utf-8", ",", "utf-8"),
        ("utf-8-sig", ";", "utf-8"),
        ("utf-8-sig", ",", "utf-8"),
        ("cp1254", ";", "cp1254"),
        ("cp1254", ",", "cp1254"),
        ("utf-8", "\t", "utf-8"),
        ("utf-16", "\t", "utf-16"),  # Excel's "Unicode text" export
    ],
)
def test_good_csv_in_every_encoding_and_delimiter(encoding, delimiter, detected):
    rows = [[f'"{c}"' if delimiter in c else c for c in r] for r in TURKISH_ROWS]
    result = read_invoice_rows(csv_bytes(rows, delimiter=delimiter, encoding=encoding), "f.csv")
    assert result.errors == [] and result.warnings == []
    assert result.rows == EXPECTED
    assert (result.encoding, result.delimiter, result.file_format) == (detected, delimiter, "csv")
    assert result.total_rows == result.valid_count == 2


def test_cp1254_turkish_letters_are_read_not_mangled():
    result = read_invoice_rows(csv_bytes(TURKISH_ROWS, encoding="cp1254"), "f.csv")
    assert result.rows[1].reference_no == "REF-ŞÖÜ"
    assert list(result.columns.values())[4] == "Çekim Tarihi"


def test_good_xlsx_with_typed_cells():
    rows = [
        [
            "abonelik_no",
            "referans_no",
            "fatura_no",
            "tutar",
            "tarih",
            "bayi_tutari",
            "firma_tutari",
            "para_birimi",
        ],
        [100045, None, "F-1", 1234, datetime(2026, 11, 23, 14, 30), None, None, "TRY"],
        [None, "R-2", "F-2", 10.5, date(2026, 11, 24), 0.5, 10.0, "TL"],
        ["S-3", None, None, "1.234,56", "25.11.2026", None, None, None],
        [100046.0, None, "F-4", 0.1, datetime(2026, 11, 26), None, None, "₺"],
    ]
    result = read_invoice_rows(xlsx_bytes(rows), "f.xlsx")
    assert result.errors == [] and result.warnings == []
    assert result.file_format == "xlsx"
    assert result.rows == [
        InvoiceRow(2, "100045", None, 123400, at(2026, 11, 23, 14, 30), "F-1"),
        InvoiceRow(3, None, "R-2", 1050, at(2026, 11, 24), "F-2", 50, 1000),
        InvoiceRow(4, "S-3", None, 123456, at(2026, 11, 25), None),
        InvoiceRow(5, "100046", None, 10, at(2026, 11, 26), "F-4"),
    ]


def test_xlsx_reads_the_first_sheet_even_when_another_is_active():
    wb_bytes = xlsx_bytes(
        [["fatura_no", "durum"], ["F-1", "İptal"]], sheets={"Notlar": [["not", "a table"]]}
    )
    wb = openpyxl.load_workbook(io.BytesIO(wb_bytes))
    wb.active = 1
    buffer = io.BytesIO()
    wb.save(buffer)
    result = read_status_rows(buffer.getvalue(), "s.xlsx")
    assert result.rows == [StatusRow(2, "F-1", None, InvoiceStatus.CANCEL)]


def test_good_status_files_csv_and_xlsx():
    rows = [
        ["Fatura No", "Fatura ID", "Hedef Durum"],
        ["F-1", "", "İptal"],
        ["", "991", "3"],
        ["F-3", "993", "Done succeed"],
    ]
    expected = [
        StatusRow(2, "F-1", None, InvoiceStatus.CANCEL),
        StatusRow(3, None, "991", InvoiceStatus.DONE_SUCCEED),
        StatusRow(4, "F-3", "993", InvoiceStatus.DONE_SUCCEED),
    ]
    assert read_status_rows(csv_bytes(rows), "s.csv").rows == expected
    typed = [rows[0], ["F-1", None, "iptal"], [None, 991, 3], ["F-3", 993.0, 3.0]]
    assert read_status_rows(xlsx_bytes(typed), "s.xlsx").rows == expected


# -- header aliases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["Abonelik No", "Fatura No", "Tutar (TL)", "Çekim Tarihi"],
        ["abonelik_no", "fatura_no", "tutar", "tarih"],
        ["abonelik_id", "FATURA NO", "TUTAR", "TARİH"],
        ["subscription_id", "invoice_no", "amount", "val_date"],
        ["Subscription ID", "Invoice Number", "Amount", "Date"],
        ["  subscription id ", "Invoice No.", "amount (TL)", "çekim_tarihi"],
    ],
)
def test_invoice_header_aliases_in_turkish_and_english(header):
    result = invoices(["S1", "F1", "10,00", "23.11.2026"], header=header)
    assert result.errors == [] and result.warnings == []
    assert result.rows == [InvoiceRow(2, "S1", None, 1000, at(2026, 11, 23), "F1")]
    assert list(result.columns) == ["subscription_id", "invoice_no", "amount", "val_date"]


@pytest.mark.parametrize(
    "header",
    [
        ["referans_no", "tutar", "tarih"],
        ["reference_no", "amount", "date"],
        ["Ref No", "Tutar", "Tarih"],
        ["REFERANS NO", "tutar", "val_date"],
    ],
)
def test_reference_no_aliases(header):
    result = invoices(["R1", "10", "23.11.2026"], header=header)
    assert result.rows == [InvoiceRow(2, None, "R1", 1000, at(2026, 11, 23))]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        (["fatura_no", "durum"], "invoice_no"),
        (["Invoice Number", "target_status"], "invoice_no"),
        (["invoice_no", "Hedef Durum"], "invoice_no"),
        (["fatura_id", "status"], "invoice_id"),
        (["Invoice ID", "Yeni Durum"], "invoice_id"),
    ],
)
def test_status_header_aliases(header, field):
    result = read_status_rows(csv_bytes([header, ["X1", "Cancel"]]), "s.csv")
    assert result.errors == []
    assert getattr(result.rows[0], field) == "X1"
    assert result.rows[0].status is InvoiceStatus.CANCEL


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("bayi_tutari", "agent_amount"),
        ("agent_amount", "agent_amount"),
        ("Bayi Tutarı", "agent_amount"),
        ("firma_tutari", "company_amount"),
        ("Company Amount", "company_amount"),
        ("para_birimi", "currency"),
        ("Currency", "currency"),
    ],
)
def test_optional_column_aliases(header, field):
    value = "TL" if field == "currency" else "1,00"
    result = invoices(["S1", "F1", "10,00", "23.11.2026", value], header=[*INVOICE_HEADER, header])
    assert result.errors == []
    assert getattr(result.rows[0], field) == ("TRY" if field == "currency" else 100)


def test_aliases_never_collide_between_fields():
    owners = {}
    for field, names in ALIASES.items():
        for name in (field, *names):
            assert owners.setdefault(fold_header(name), field) == field, name


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Fatura No", "faturano"),
        ("fatura_no", "faturano"),
        ("Tutar (TL)", "tutartl"),
        ("Çekim Tarihi", "cekimtarihi"),
        ("İPTAL", "iptal"),
        ("IŞIK", "isik"),
    ],
)
def test_fold_header(text, key):
    assert fold_header(text) == key


def test_unknown_columns_are_ignored_with_a_warning():
    result = invoices(
        ["S1", "F1", "10", "23.11.2026", "x", "y"], header=[*INVOICE_HEADER, "Notlar", "durum"]
    )
    assert result.errors == [] and result.valid_count == 1
    assert result.warnings == [
        "ignored columns the invoices import does not use: 'Notlar', 'durum'"
    ]


def test_error_and_row_columns_from_our_own_exports_are_ignored_silently():
    result = invoices(
        ["7", "S1", "F1", "10", "23.11.2026", "old error"],
        header=["row", *INVOICE_HEADER, "errors"],
    )
    assert result.errors == [] and result.warnings == []


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (["Fatura No", "Tutar", "Tarih"], "subscription_id or reference_no"),
        (["Abonelik No", "Tarih"], "amount"),
        (["Abonelik No", "Tutar"], "val_date"),
    ],
)
def test_missing_required_columns_is_one_file_level_error(header, missing):
    with pytest.raises(InputError) as info:
        read_invoice_rows(csv_bytes([header, ["1"] * len(header)]), "f.csv")
    assert info.value.field == "header"
    assert info.value.message.startswith(f"missing column {missing} (accepted headers:")
    assert "; missing column" not in info.value.message
    assert "Headers found:" in info.value.message


def test_an_unknown_delimiter_reads_as_one_column_and_misses_every_column():
    with pytest.raises(InputError) as info:
        read_invoice_rows(
            csv_bytes([["tutar", "tarih", "abonelik_no"], ["1", "2", "3"]], delimiter="|"), "f.csv"
        )
    message = info.value.message
    assert "missing column subscription_id or reference_no" in message
    assert "; missing column amount" in message and "; missing column val_date" in message
    assert "Headers found: 'tutar|tarih|abonelik_no'" in message


def test_missing_status_columns_lists_accepted_aliases():
    with pytest.raises(InputError) as info:
        read_status_rows(csv_bytes([["fatura_no", "tutar"], ["F1", "5"]]), "s.csv")
    message = info.value.message
    assert message.startswith(
        "missing column status (accepted headers: 'status', 'durum', 'hedef durum'"
    )
    assert "'tutar'" in message


def test_two_columns_for_one_field_are_refused():
    with pytest.raises(InputError, match="both mean amount"):
        invoices(
            ["S1", "10", "11", "23.11.2026"], header=["abonelik_no", "tutar", "Amount", "tarih"]
        )


# -- bad rows ----------------------------------------------------------------------------------

BAD_INVOICE_CELLS = [
    ("amount", "", "is empty"),
    ("amount", "-5", "negative"),
    ("amount", "0", "zero"),
    ("amount", "-0", "zero"),
    ("amount", "0,001", "more than two decimals"),
    ("amount", "1.234", "is ambiguous"),
    ("amount", "1e5", "not a number"),
    ("amount", "NaN", "not a number"),
    ("amount", "١٢٣", "digits other than 0-9"),
    ("amount", "abc", "not a number"),
    ("amount", "=1+1", "not a number"),
    ("amount", "1" * 5000, "too long for an amount"),
    ("amount", "1.000.000.000.000", "larger than"),
    ("val_date", "", "is empty"),
    ("val_date", "31.02.2026", "not a date"),
    ("val_date", "tomorrow", "not a date"),
    ("val_date", "23.11.1899", "has the year 1899"),
    ("val_date", "9999-12-31T23:59:59Z", "out of range"),
    ("val_date", "2" * 100, "too long for a date"),
    ("subscription_id", "S\x07X", "control character (U+0007)"),
    ("subscription_id", "S\u200bX", "invisible or control character (U+200B)"),
    ("subscription_id", '=HYPERLINK("http://x")', "read as a formula"),
    ("subscription_id", "@SUM(A1)", "read as a formula"),
    ("subscription_id", "x" * 65, "at most 64"),
    ("invoice_no", "+90", "read as a formula"),
    ("invoice_no", "-5", "read as a formula"),
    ("agent_amount", "abc", "not a number"),
    ("agent_amount", "-1", "negative"),
    ("company_amount", "20,01", "more than the amount"),
    ("currency", "USD", "only Turkish lira"),
    ("currency", "EUR", "only Turkish lira"),
]
FULL_HEADER = [
    "subscription_id",
    "invoice_no",
    "amount",
    "val_date",
    "agent_amount",
    "company_amount",
    "currency",
]
GOOD_CELLS = {
    "subscription_id": "S1",
    "invoice_no": "F1",
    "amount": "20,00",
    "val_date": "23.11.2026",
}


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_INVOICE_CELLS)
def test_every_invoice_cell_error_names_row_field_and_reason(field, value, fragment):
    cells = {**GOOD_CELLS, field: value}
    good = [GOOD_CELLS.get(f, "") for f in FULL_HEADER]
    good[1] = "F0"
    bad = [cells.get(f, "") for f in FULL_HEADER]
    result = read_invoice_rows(csv_bytes([FULL_HEADER, good, bad]), "f.csv")
    error = only_error(result)
    assert (error.row, error.field) == (3, field)
    assert fragment in error.message
    assert str(error).startswith(f"row 3, {field}: ")
    assert len(str(error)) < 400  # a 5,000-character cell is not echoed in full
    assert [r.row for r in result.rows] == [2]
    assert result.invalid_rows == {3}


def test_amount_error_message_reads_like_the_spec():
    error = only_error(
        invoices(["S1", "F1", "1.234", "23.11.2026"], ["S1", "F2", "1", "23.11.2026"])
    )
    assert str(error) == (
        "row 2, amount: '1.234' is ambiguous: write 1234 for thousands or use ',' for decimals "
        "with at most two digits"
    )
    assert error.value == "1.234"


def test_no_identifier_at_all_is_an_error_on_the_column_present():
    result = invoices(["", "F1", "10", "23.11.2026"])
    error = only_error(result)
    assert (error.row, error.field) == (2, "subscription_id")
    assert (
        "give the subscription_id (abonelik_no) or the reference_no (referans_no)" in error.message
    )
    only_ref = read_invoice_rows(
        csv_bytes([["referans_no", "tutar", "tarih"], ["", "10", "23.11.2026"]]), "f.csv"
    )
    assert only_error(only_ref).field == "reference_no"


def test_agent_and_company_amounts_must_add_up():
    header = [*INVOICE_HEADER, "bayi_tutari", "firma_tutari"]
    result = invoices(
        ["S1", "F1", "20,00", "23.11.2026", "5,00", "15,00"],
        ["S1", "F2", "20,00", "23.11.2026", "5,00", "14,99"],
        ["S1", "F3", "20,00", "23.11.2026", "20,00", ""],
        ["S1", "F4", "20,00", "23.11.2026", "", "0"],
        ["S1", "F5", "20,00", "23.11.2026", "20,01", ""],
        header=header,
    )
    assert [r.row for r in result.rows] == [2, 4, 5]
    assert [(e.row, e.field) for e in result.errors] == [(3, "agent_amount"), (6, "agent_amount")]
    assert result.errors[0].message == (
        "agent_amount 5,00 ₺ + company_amount 14,99 ₺ = 19,99 ₺, but amount is 20,00 ₺; "
        "the two parts must add up to the amount"
    )


def test_several_errors_in_one_row_are_all_reported():
    header = [*INVOICE_HEADER, "para_birimi"]
    result = invoices(["", "=x", "abc", "someday", "USD"], header=header)
    assert result.rows == []
    assert sorted(e.field for e in result.errors) == sorted(
        ["subscription_id", "invoice_no", "amount", "val_date", "currency"]
    )
    assert all(e.row == 2 for e in result.errors)
    assert result.invalid_rows == {2}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "yes/no"),
        (datetime(2026, 1, 1), "is a date, not an amount"),
        (10.555, "more than two decimals"),
        (1 / 3, "more than two decimals"),
        (-3, "negative"),
        (0, "zero"),
        (-0.0, "zero"),
        (1e20, "larger than"),
        ("#N/A", "not a number"),
    ],
)
def test_xlsx_amount_cells_of_the_wrong_kind(value, fragment):
    result = read_invoice_rows(
        xlsx_bytes([["abonelik_no", "tutar", "tarih"], ["S1", value, date(2026, 11, 23)]]), "f.xlsx"
    )
    error = only_error(result)
    assert (error.row, error.field) == (2, "amount")
    assert fragment in error.message


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("tarih", 46000, "is a number, not a date"),
        ("tarih", time(10, 30), "a time without a date"),
        ("tarih", True, "is a number, not a date"),
        ("abonelik_no", 1.2345678901234567e17, "15 digits"),
        ("abonelik_no", 12.5, "has decimals"),
        ("abonelik_no", datetime(2026, 1, 1), "is a date or time"),
        ("abonelik_no", False, "yes/no"),
    ],
)
def test_xlsx_date_and_identifier_cells_of_the_wrong_kind(field, value, fragment):
    cells = {"abonelik_no": "S1", "tutar": 10, "tarih": date(2026, 11, 23), field: value}
    result = read_invoice_rows(xlsx_bytes([list(cells), list(cells.values())]), "f.xlsx")
    error = only_error(result)
    assert error.field == {"tarih": "val_date", "abonelik_no": "subscription_id"}[field]
    assert fragment in error.message


BAD_STATUS_CELLS = [
    ("status", "", "is empty"),
    ("status", "foo", "not an invoice status"),
    ("status", "1", "not an invoice status"),
    ("status", "7", "not an invoice status"),
    ("status", "²", "digits other than 0-9"),
    ("status", "٥", "digits other than 0-9"),
    ("status", "x" * 100, "too long"),
    ("invoice_no", "=cmd|' /C calc'!A0", "read as a formula"),
    ("invoice_id", "A\x1bB", "control character (U+001B)"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_STATUS_CELLS)
def test_every_status_cell_error(field, value, fragment):
    cells = {"invoice_no": "F1", "invoice_id": "", "status": "5", field: value}
    data = csv_bytes([list(cells), ["F0", "", "3"], list(cells.values())])
    error = only_error(read_status_rows(data, "s.bin"))
    assert (error.row, error.field) == (3, field)
    assert fragment in error.message


def test_status_error_lists_codes_and_labels_in_both_languages():
    error = only_error(
        read_status_rows(csv_bytes([["fatura_no", "durum"], ["F1", "kapat"]]), "s.csv")
    )
    assert error.message.startswith(
        "'kapat' is not an invoice status; use one of: 0 Waiting (Bekliyor), "
    )
    assert "5 Cancel (İptal)" in error.message


def test_status_row_needs_an_invoice():
    error = only_error(
        read_status_rows(csv_bytes([["fatura_no", "fatura_id", "durum"], ["", "", "5"]]), "s.csv")
    )
    assert (error.row, error.field) == (2, "invoice_no")
    assert "give the invoice_no (fatura_no) or the invoice_id (fatura_id)" in error.message


def test_unquoted_decimal_comma_in_a_comma_file_is_caught():
    data = b'abonelik_no,tarih,tutar\r\nS1,23.11.2026,10,50\r\nS2,23.11.2026,"10,50"\r\n'
    result = read_invoice_rows(data, "f.csv")
    error = only_error(result)
    assert (error.row, error.field) == (2, None)
    assert "the row has 4 values but the header has 3 columns" in error.message
    assert str(error).startswith("row 2: ")
    assert result.rows == [InvoiceRow(3, "S2", None, 1050, at(2026, 11, 23))]


# -- duplicates --------------------------------------------------------------------------------


def test_duplicate_invoice_numbers_flag_the_later_rows():
    result = invoices(
        ["S1", "F1", "10", "23.11.2026"],
        ["S2", "F2", "10", "23.11.2026"],
        ["S3", "F1", "11", "24.11.2026"],
        ["S4", "F1", "abc", "24.11.2026"],
    )
    assert [r.row for r in result.rows] == [2, 3]
    assert [(e.row, e.field) for e in result.errors] == [
        (4, "invoice_no"),
        (5, "amount"),
        (5, "invoice_no"),
    ]
    assert (
        result.errors[0].message
        == "'F1' is already in row 2; each invoice number may appear once; remove or renumber one row"
    )


def test_duplicate_detection_counts_rows_that_are_bad_for_other_reasons():
    result = invoices(["S1", "F1", "abc", "23.11.2026"], ["S2", "F1", "10", "23.11.2026"])
    assert result.rows == []
    assert "already in row 2" in result.errors[-1].message


def test_status_file_targeting_one_invoice_twice():
    rows = [
        ["fatura_no", "fatura_id", "durum"],
        ["F1", "", "5"],
        ["F2", "77", "3"],
        ["F1", "", "3"],
        ["", "77", "5"],
        ["F3", "", "6"],
    ]
    result = read_status_rows(csv_bytes(rows), "s.csv")
    assert [r.row for r in result.rows] == [2, 3, 6]
    assert [(e.row, e.field) for e in result.errors] == [(4, "invoice_no"), (5, "invoice_id")]
    assert "already in row 3" in result.errors[1].message


def test_lookalike_rows_without_invoice_number_are_a_warning():
    result = invoices(
        ["S1", "", "10", "23.11.2026"],
        ["S1", "", "10,00", "23.11.2026"],
        ["S1", "", "10", "24.11.2026"],
    )
    assert result.valid_count == 3 and result.errors == []
    assert result.warnings == [
        "rows 2 and 3 have the same subscription, amount and date and no invoice number: "
        "two invoices will be created; check one is not a copy"
    ]


# -- whole files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \r\n\r\n",
        b"\xef\xbb\xbf",
        b";;;\r\n;;\r\n",
        "\r\n".encode("utf-16"),
        b"\xef\xbb\xbf\xef\xbb\xbf\r\n",
    ],
    ids=["zero-bytes", "blank-lines", "bom-only", "delimiters-only", "utf16-blank", "double-bom"],
)
def test_empty_file_is_refused(data):
    with pytest.raises(InputError, match="the file is empty") as info:
        read_invoice_rows(data, "f.csv")
    assert info.value.field == "file"


def test_empty_workbook_is_refused():
    with pytest.raises(InputError, match="first sheet of the workbook is empty"):
        read_invoice_rows(xlsx_bytes([]), "f.xlsx")


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes([INVOICE_HEADER]),
        csv_bytes([INVOICE_HEADER, [""] * 4, [""] * 4]),
        xlsx_bytes([INVOICE_HEADER]),
    ],
)
def test_header_only_file_is_refused(data):
    with pytest.raises(InputError, match=r"has a header \(row 1\) but no data rows"):
        read_invoice_rows(data, "f")


def test_file_with_only_bad_rows():
    result = invoices(
        ["S1", "F1", "abc", "23.11.2026"], ["", "F2", "10", "x"], ["S3", "F3", "0", "23.11.2026"]
    )
    assert result.rows == [] and result.valid_count == 0 and result.total_rows == 3
    assert result.invalid_rows == {2, 3, 4}
    assert not result.ok
    frame = result.as_dataframe()
    assert list(frame["row"]) == [2, 3, 4]
    assert all(frame["errors"] != "")


def test_row_numbers_match_excel_with_blank_lines_and_a_late_header():
    data = b"\r\nabonelik_no;tutar;tarih\r\nS1;10;23.11.2026\r\n\r\n;;\r\nS2;abc;23.11.2026\r\n"
    result = read_invoice_rows(data, "f.csv")
    assert [r.row for r in result.rows] == [3]
    assert only_error(result).row == 6


def test_xlsx_row_numbers_skip_blank_rows_like_excel():
    data = xlsx_bytes(
        [
            INVOICE_HEADER,
            ["S1", "F1", 10, date(2026, 11, 23)],
            [],
            [None, None],
            ["S2", "F2", "x", date(2026, 11, 23)],
        ]
    )
    result = read_invoice_rows(data, "f.xlsx")
    assert only_error(result).row == 5


def test_excel_sep_line_sets_the_delimiter_and_is_not_a_row():
    data = b"sep=,\r\nabonelik_no,tutar,tarih\r\nS1,10,23.11.2026\r\n"
    result = read_invoice_rows(data, "f.csv")
    assert result.delimiter == "," and result.rows[0].row == 2


def test_multi_line_quoted_cell_counts_as_one_row():
    data = b'abonelik_no;tutar;tarih;not\r\nS1;10;23.11.2026;"two\r\nlines"\r\nS2;x;23.11.2026;\r\n'
    assert only_error(read_invoice_rows(data, "f.csv")).row == 3


def test_xlsx_is_detected_by_content_not_name():
    data = xlsx_bytes([INVOICE_HEADER, ["S1", "F1", 10, date(2026, 11, 23)]])
    result = read_invoice_rows(data, "upload.csv")
    assert result.file_format == "xlsx" and result.valid_count == 1
    assert result.warnings == ["'upload.csv' holds an XLSX workbook; it was read as one"]


def test_csv_named_xlsx_is_read_as_csv_with_a_warning():
    result = invoices(["S1", "F1", "10", "23.11.2026"])
    renamed = read_invoice_rows(
        csv_bytes([INVOICE_HEADER, ["S1", "F1", "10", "23.11.2026"]]), "f.xlsx"
    )
    assert renamed.rows == result.rows
    assert renamed.warnings == [
        "'f.xlsx' is named like a workbook but holds text; it was read as CSV"
    ]


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel 97-2003 (.xls)"),
        (b"%PDF-1.7\n...", "this is a PDF"),
        (b"\x89PNG\r\n\x1a\n....", "this is an image"),
        (b"\x1f\x8b\x08\x00....", "gzip"),
        (b"PK\x03\x04" + b"garbage" * 20, "starts like an XLSX workbook but is damaged"),
        (_zip({"hello.txt": "hi"}), "a ZIP archive, not an XLSX workbook"),
        (
            _zip(
                {
                    "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                    "content.xml": "<x/>",
                }
            ),
            "OpenDocument",
        ),
        (
            _zip({"xl/workbook.xml": "<not-a-workbook", "[Content_Types].xml": ""}),
            "the workbook cannot be opened",
        ),
        (b"abonelik_no;tutar\r\nS1;\x00\x01\x02\r\n", "binary data (NUL characters)"),
        (b"\xff\xfe" + b"\x00\xd8", "damaged"),  # UTF-16 BOM then a lone surrogate
    ],
)
def test_files_that_are_not_csv_or_xlsx_are_refused_clearly(data, fragment):
    with pytest.raises(InputError) as info:
        read_invoice_rows(data, "upload.xlsx")
    assert fragment in info.value.message
    assert info.value.field == "file"


def test_zip_bomb_is_refused_before_unpacking():
    data = _zip({"xl/workbook.xml": "<workbook/>", "xl/worksheets/sheet1.xml": " " * 3_000_000})
    # The unpacked-size budget is its own limit now (it was 20 x max_bytes).
    with pytest.raises(InputError, match="unpacks to more than 2 MB"):
        read_invoice_rows(data, "f.xlsx", budget=ReadBudget(max_unpacked_bytes=2 * 1024 * 1024))


def test_size_limit():
    data = csv_bytes([INVOICE_HEADER, ["S1", "F1", "10", "23.11.2026"]])
    assert read_invoice_rows(data, "f.csv", max_bytes=len(data)).valid_count == 1
    with pytest.raises(InputError) as info:
        read_invoice_rows(data, "f.csv", max_bytes=len(data) - 1)
    assert (
        "the limit is" in info.value.message and "Split it into smaller files" in info.value.message
    )
    assert info.value.field == "file"


@pytest.mark.parametrize("make", [csv_bytes, xlsx_bytes], ids=["csv", "xlsx"])
def test_row_limit(make):
    rows = [INVOICE_HEADER, *[[f"S{i}", f"F{i}", "10", "23.11.2026"] for i in range(5)]]
    assert read_invoice_rows(make(rows), "f", max_rows=5).total_rows == 5
    with pytest.raises(
        InputError, match="more than 4 data rows; split it into files of at most 4 rows"
    ):
        read_invoice_rows(make(rows), "f", max_rows=4)


def test_cell_longer_than_the_csv_field_limit_is_a_clear_file_error():
    data = csv_bytes([INVOICE_HEADER, ["S1", "F1", "10", "x" * 200_000]])
    with pytest.raises(InputError, match="row 2 cannot be read as CSV"):
        read_invoice_rows(data, "f.csv")


def test_read_file(tmp_path):
    path = tmp_path / "faturalar.csv"
    path.write_bytes(template_csv("invoices"))
    data, name = read_file(path)
    assert name == "faturalar.csv" and read_invoice_rows(data, name).valid_count == 2
    with pytest.raises(InputError, match="the limit is"):
        read_file(path, max_bytes=10)
    with pytest.raises(InputError, match="is not a file"):
        read_file(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="is not a file"):
        read_file(tmp_path)


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown import kind"):
        read_rows(b"a", "f.csv", "refunds")
    with pytest.raises(ValueError, match="unknown import kind"):
        template_csv("refunds")


# -- templates and round trips -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["invoices", "statuses"])
@pytest.mark.parametrize("make", [template_csv, template_xlsx])
def test_templates_parse_as_valid(kind, make):
    data = make(kind)
    result = read_rows(data, f"sablon.{'csv' if make is template_csv else 'xlsx'}", kind)
    assert result.errors == [] and result.warnings == []
    assert result.valid_count == result.total_rows == 2


@pytest.mark.turkish
def test_csv_template_has_turkish_headers_bom_and_semicolons():
    text = template_csv("invoices")
    assert text.startswith(b"\xef\xbb\xbf")
    assert text.decode("utf-8-sig").splitlines()[0] == (
        "Abonelik No;Referans No;Fatura No;Tutar (TL);Çekim Tarihi;Bayi Tutarı;Firma Tutarı;Para Birimi"
    )
    assert (
        template_csv("statuses").decode("utf-8-sig").splitlines()[0]
        == "Fatura No;Fatura ID;Hedef Durum"
    )


def test_the_english_csv_template_has_field_names_and_commas_and_a_bom():
    text = template_csv("invoices")
    assert text.startswith(b"\xef\xbb\xbf")
    assert text.decode("utf-8-sig").splitlines()[0] == (
        "subscription_id,reference_no,invoice_no,amount,val_date,agent_amount,company_amount,currency"
    )
    assert template_csv("statuses", form="tr").decode("utf-8-sig").startswith("Fatura No;")


@pytest.mark.parametrize("kind", ["invoices", "statuses"])
def test_both_template_forms_read_back_to_the_same_rows(kind):
    forms = {form: template_csv(kind, form=form) for form in ("tr", "en")}
    assert forms["tr"] != forms["en"]
    read = {form: read_rows(data, f"{form}.csv", kind) for form, data in forms.items()}
    assert read["tr"].delimiter == ";" and read["en"].delimiter == ","
    assert read["tr"].errors == read["en"].errors == []
    assert read["tr"].rows == read["en"].rows and len(read["tr"].rows) == 2
    xlsx = {
        form: read_rows(template_xlsx(kind, form=form), "t.xlsx", kind) for form in ("tr", "en")
    }
    assert xlsx["tr"].rows == xlsx["en"].rows == read["tr"].rows


def test_xlsx_template_has_real_dates_and_numbers():
    ws = openpyxl.load_workbook(io.BytesIO(template_xlsx("invoices", form="tr"))).worksheets[0]
    assert ws["A1"].value == "Abonelik No"
    assert ws["D2"].value == 1234.56 and isinstance(ws["E2"].value, datetime)
    assert ws["A2"].value == "100045"  # identifiers stay text


def test_rows_round_trip_through_to_record():
    original = read_invoice_rows(template_csv("invoices"), "t.csv")
    from paynet_core.reports.cells import records_to_csv_bytes

    again = read_invoice_rows(
        records_to_csv_bytes([r.to_record() for r in original.rows]), "again.csv"
    )
    assert again.rows == original.rows
    statuses = read_status_rows(template_csv("statuses"), "s.csv")
    again = read_status_rows(
        records_to_csv_bytes([r.to_record() for r in statuses.rows]), "again.csv"
    )
    assert again.rows == statuses.rows


def test_neutralised_cells_from_our_exports_read_back_as_typed():
    data = b"abonelik_no;tutar;tarih\r\nS1;'-5;23.11.2026\r\n'x;10;23.11.2026\r\n"
    result = read_invoice_rows(data, "f.csv")
    assert only_error(result).message == "'-5' is negative; amounts must be positive"
    assert result.rows[0].subscription_id == "'x"  # a quote before ordinary text is data


# -- the validation table ----------------------------------------------------------------------


def test_as_dataframe_shows_every_row_with_its_errors():
    result = invoices(
        ["S1", "F1", "10", "23.11.2026"],
        ["S2", "F2", "1.234", "bad"],
        ["S3", "F3", "7,5", "24.11.2026"],
        header=["Abonelik No", "Fatura No", "Tutar", "Tarih", "Notlar"],
    )
    frame = result.as_dataframe()
    assert list(frame.columns) == [
        "row",
        "subscription_id",
        "invoice_no",
        "amount",
        "val_date",
        "errors",
    ]
    assert list(frame["row"]) == [2, 3, 4]
    assert list(frame["amount"]) == ["10", "1.234", "7,5"]
    assert frame.loc[0, "errors"] == "" and frame.loc[2, "errors"] == ""
    assert (
        frame.loc[1, "errors"].startswith("amount: '1.234' is ambiguous")
        and "; val_date: 'bad'" in frame.loc[1, "errors"]
    )
    assert {e.field for e in result.errors_by_row()[3]} == {"amount", "val_date"}
    assert result.columns == {
        "subscription_id": "Abonelik No",
        "invoice_no": "Fatura No",
        "amount": "Tutar",
        "val_date": "Tarih",
    }


def test_as_dataframe_from_xlsx_shows_typed_cells_as_text():
    data = xlsx_bytes(
        [
            INVOICE_HEADER,
            [100045, "F1", 10.5, datetime(2026, 11, 23, 14, 30)],
            ["S2", "F2", True, date(2026, 11, 24)],
        ]
    )
    frame = read_invoice_rows(data, "f.xlsx").as_dataframe()
    assert frame.loc[0, ["subscription_id", "amount", "val_date"]].tolist() == [
        "100045",
        "10.5",
        "23.11.2026 14:30:00",
    ]
    assert frame.loc[1, ["amount", "val_date"]].tolist() == ["TRUE", "24.11.2026"]


def test_huge_cells_are_cut_in_messages_and_the_table():
    # 30,000 characters: under the 32,767-character cell budget, which refuses the file above it.
    result = invoices(["S1", "F1", "9" * 30_000, "23.11.2026"])
    error = only_error(result)
    assert len(error.value) <= 60 and len(error.message) < 200
    assert len(result.as_dataframe().loc[0, "amount"]) <= 500
