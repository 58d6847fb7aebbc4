"""The XLSX zip guard: every part inflated once and counted before openpyxl reads any of it.

A workbook is a zip whose declared sizes can lie; bytes, cells, rows and shared strings are
counted as they come out of the decompressor, so a zip bomb stops at the budget.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from ..errors import InputError
from ..i18n import Message
from ..i18n.formats import Figure
from .budget import FILE, Meter

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,  # an encrypted member
    NotImplementedError,  # an unknown compression method
    zlib.error,  # a damaged deflate stream ("invalid distance too far back")
)
_CHUNK = 1 << 20
#: Excel's widest row; a row of more cells is not a worksheet row.
_EXCEL_COLUMNS = 16_384


def check_zip(data: bytes, meter: Meter) -> None:
    """Inflate every part once, counting bytes and tags, before openpyxl touches any of it.

    The sizes a zip declares can lie, so bytes are counted as they come out of the
    decompressor. Cells and rows are counted by tag in every part (a sheet need not live where
    its name says), and so are shared strings, which openpyxl loads whole and slowly.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_xlsx_parts({info.filename for info in infos})
            if len(infos) > meter.budget.max_parts:
                raise InputError(
                    Message(
                        "the workbook has {n} parts; a real one has a few dozen and at most "
                        "{limit} are read (the parts budget)",
                        n=Figure(len(infos)),
                        limit=Figure(meter.budget.max_parts),
                    ),
                    field=FILE,
                )
            for info in infos:
                _inflate_counted(archive, info, meter)
    except InputError:
        raise
    except _ZIP_ERRORS:
        raise InputError(
            Message("the file starts like an XLSX workbook but is damaged; save it again as .xlsx"),
            field=FILE,
        ) from None


def _check_xlsx_parts(names: set[str]) -> None:
    if "mimetype" in names and "xl/workbook.xml" not in names:
        raise InputError(
            Message("OpenDocument (.ods) files are not supported; save it as .xlsx or CSV UTF-8"),
            field=FILE,
        )
    if "xl/workbook.xml" not in names:
        raise InputError(Message("this is a ZIP archive, not an XLSX workbook"), field=FILE)


def _inflate_counted(archive: zipfile.ZipFile, info: zipfile.ZipInfo, meter: Meter) -> None:
    budget = meter.budget
    if meter.unpacked + info.file_size > budget.max_unpacked_bytes:
        meter.add_unpacked(info.file_size)  # refuses on the declared size, before inflating
    tags = _TagCounter()
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            meter.add_unpacked(len(chunk))
            meter.tick()
            tags.feed(chunk)
            if tags.cells > budget.max_cells:
                meter.add_cells(tags.cells)  # refuses, naming the cell budget
            if tags.widest > _EXCEL_COLUMNS:
                raise InputError(
                    Message(
                        "a row of the workbook has more than {limit} cells, more than Excel "
                        "allows; open it in Excel, save it again as .xlsx and retry",
                        limit=Figure(_EXCEL_COLUMNS),
                    ),
                    field=FILE,
                )
            if tags.strings > budget.max_shared_strings:
                raise InputError(
                    Message(
                        "the workbook holds more than {limit} different texts (the "
                        "shared-strings budget); split it into smaller files",
                        limit=Figure(budget.max_shared_strings),
                    ),
                    field=FILE,
                )


_TAG_ENDS = (b" ", b">", b"/>", b"\n", b"\r", b"\t")
#: Prefixed tags (``<x:c ...>``) are rare; only parts that hold one pay for a regex.
_PREFIXED = {
    name: re.compile(rb"<[A-Za-z_][\w.-]{0,30}:" + name + rb"[\s/>]") for name in (b"c", b"si")
}


def _count_tags(text: bytes, name: bytes) -> int:
    count = sum(text.count(b"<" + name + end) for end in _TAG_ENDS)
    if b":" + name in text:
        count += len(_PREFIXED[name].findall(text))
    return count


class _TagCounter:
    """Counts cell and shared-string tags in XML fed in chunks, and the widest row.

    bytes.count keeps the work per tag in C, so a 50 MB part of tiny strings is counted in a
    fraction of a second. Rows are split on ``<row``; prefixed rows are left to the exact count
    the sheet parser keeps.
    """

    def __init__(self) -> None:
        self.cells = self.strings = self.widest = 0
        self._row = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        text = self._carry + chunk
        # A tag never holds '>' before its end, so none spans the last '>': carry the rest.
        cut = text.rfind(b">") + 1 or max(0, len(text) - 64)
        text, self._carry = text[:cut], text[cut:][-64:]
        self.strings += _count_tags(text, b"si")
        for index, part in enumerate(text.split(b"<row")):
            if index:
                self.cells += 1  # an empty row still costs a step to read
                self._row = 0
            count = _count_tags(part, b"c")
            self.cells += count
            self._row += count
            self.widest = max(self.widest, self._row)
