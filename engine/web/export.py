"""Lists exported to CSV and XLSX, safe to open in a spreadsheet.

A text cell that starts with = + - @ (or a tab or carriage return) would be run as a formula by Excel, WPS or
LibreOffice (CSV/formula injection: `=HYPERLINK(...)` typed into a supplier's name); such cells are written
with a leading apostrophe, so they show as the text that was typed. XLSX cannot hold control characters:
they are left out there. Numbers and dates stay numbers and dates.
CSV is UTF-8 with a byte order mark, which Excel needs to read Chinese text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | Decimal | dt.date | dt.datetime | bool | None


def safe_text(text: str) -> str:
    """Text a spreadsheet shows as typed, never runs."""
    return "'" + text if text.startswith(DANGEROUS_START) else text


def _cell(value: Any) -> Cell:
    if isinstance(value, bool | int | Decimal | dt.date) or value is None:
        return value
    return safe_text(str(value))


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_text(h) for h in headers])
    for row in rows:
        writer.writerow(["" if (cell := _cell(value)) is None else _csv_value(cell) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_value(value: Cell) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_xlsx(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(title))
    bold = Font(bold=True)
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", safe_text(text)))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells = []
        for value in row:
            content = _cell(value)
            if isinstance(content, str):  # control characters cannot be stored in a worksheet at all
                content = ILLEGAL_CHARACTERS_RE.sub("", content)
            cell = WriteOnlyCell(sheet, value=content)
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\ ."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'") or "Sheet1"
    return cleaned[:31]
