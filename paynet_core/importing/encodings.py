"""CSV text: one clean decode of the bytes (UTF-16, UTF-8, Windows-1254) and the delimiter.

No detector guesses: a reading that could mangle letters is refused with the line at fault.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

from ..errors import InputError
from ..i18n import N_, Message
from .budget import FILE


def decode(data: bytes) -> tuple[str, str]:
    """One clean decode of the whole file, or a refusal that names the line that breaks it.

    UTF-16 (Excel's "Unicode text", with or without BOM), UTF-8 (with or without BOM), then
    Windows-1254, which Turkish Excel writes. No detector guesses: cp1254 decodes nearly any
    byte string, and a file that is UTF-8 in some lines and not in others was pasted together
    from two sources; any single reading mangles some of its letters (Ş read as Ňě), so it is
    refused instead.
    """
    utf16 = _utf16_codec(data)
    if utf16:
        return _strict_decode(data, utf16, "UTF-16"), "utf-16"
    if data.startswith(codecs.BOM_UTF8):
        return _strict_decode(data, "utf-8-sig", "UTF-8"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    _refuse_mixed_lines(data)
    try:
        return data.decode("cp1254"), "cp1254"
    except UnicodeDecodeError as exc:
        byte = f"0x{data[exc.start]:02X}"
        raise InputError(
            Message(
                "line {line} holds the byte {byte}, which is neither UTF-8 nor Windows-1254 "
                "(Turkish) text; save the file from Excel as 'CSV UTF-8'",
                line=_line_at(data, exc.start),
                byte=byte,
            ),
            field=FILE,
        ) from None


def _utf16_codec(data: bytes) -> str | None:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # Without a BOM: ASCII text in UTF-16 has a NUL in every other byte, and no other text does.
    head = data[:400]
    if len(head) >= 4 and len(head) % 2 == 0:
        even, odd = head[0::2], head[1::2]
        # Turkish letters (Ş is 5E 01) leave a few non-NULs among the high bytes.
        if odd.count(0) >= 0.8 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) >= 0.8 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def _strict_decode(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise InputError(
            Message(
                "the file starts like {name} text but is damaged at line {line} (or that line "
                "was saved in another encoding); save the whole file again as 'CSV UTF-8'",
                name=name,
                line=line,
            ),
            field=FILE,
        ) from None


def _refuse_mixed_lines(data: bytes) -> None:
    """Refuse a file whose non-ASCII lines are UTF-8 in some places and not in others."""
    first: tuple[int, bool] | None = None  # (line, is UTF-8) of the first non-ASCII line
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        if first is None:
            first = (number, utf8)
        elif utf8 != first[1]:
            message = (
                N_(
                    "line {line} is not UTF-8 but line {first} is UTF-8: the file mixes text "
                    "encodings, so some letters would be read wrong; save the whole file again "
                    "as 'CSV UTF-8'"
                )
                if first[1]
                else N_(
                    "line {line} is UTF-8 but line {first} is not UTF-8: the file mixes text "
                    "encodings, so some letters would be read wrong; save the whole file again "
                    "as 'CSV UTF-8'"
                )
            )
            raise InputError(Message(message, line=number, first=first[0]), field=FILE)


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


_SEP_LINE = re.compile(r"\A\ufeff?sep=(.)\r?\n", re.IGNORECASE)


def excel_sep_line(text: str) -> tuple[str, str | None]:
    """Excel's ``sep=;`` first line names the delimiter and is not shown as a row."""
    match = _SEP_LINE.match(text)
    if match and match.group(1) in ";,\t|":
        return text[match.end() :], match.group(1)
    return text, None


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most columns (ties: ``;``, ``,``, tab)."""
    best, best_count = ";", 1
    for candidate in (";", ",", "\t"):
        count = len(_first_record(text, candidate))
        if count > best_count:
            best, best_count = candidate, count
    return best


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in record):
                return record
    except csv.Error:
        pass  # the real read reports it, with the row number
    return []
