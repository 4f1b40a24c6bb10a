"""Word (.docx) through python-docx: paragraphs and tables in order, sections from the heading styles."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile
from ingest.formats.tables import table_rows

__all__ = ["MAX_UNPACKED_BYTES", "docx_sections"]

_HEADING_STYLE = re.compile(r"^Heading (\d)$")
#: python-docx unpacks every part of the zip into memory: a file that would unpack to more is refused
#: (a "zip bomb" of a few MB can unpack to many GB).
MAX_UNPACKED_BYTES = 256 * 1024 * 1024


def docx_sections(path: Path) -> tuple[str, list[Section], str]:
    """(text, sections, core-properties title); "Title" and "Heading N" styles title the sections."""
    _check_unpacked_size(path)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph as DocxParagraph

        document = docx.Document(str(path))
        title = " ".join((document.core_properties.title or "").split())
        builder = StructureBuilder()
        caption = ""  # a "Caption"-styled paragraph right before a table names it
        tables = 0
        for block in document.iter_inner_content():
            if isinstance(block, DocxParagraph):
                is_caption = block.style is not None and block.style.name == "Caption"
                _paragraph(builder, block)
                caption = block.text if is_caption else ""
            elif isinstance(block, Table):
                _table(builder, block, tables, caption)
                tables += 1
                caption = ""
    except Exception as exc:  # python-docx raises zip, XML and key errors on a broken file; all mean "unreadable"
        # the exception's text names temporary paths and zip internals: say what the user can do instead
        raise UnreadableFile("not a valid Word (.docx) file; save it again from the word processor") from exc
    text, sections = builder.result()
    if not sections:
        raise UnreadableFile("Word file has no text")
    return text, sections, title


def _check_unpacked_size(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise UnreadableFile("not a valid Word (.docx) file; save it again from the word processor") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableFile(
            f"Word file unpacks to {unpacked / 2**20:,.0f} MiB, over the {MAX_UNPACKED_BYTES // 2**20} MiB this "
            "reader opens; save its text as a smaller file"
        )


def _paragraph(builder: StructureBuilder, paragraph: Any) -> None:
    style = paragraph.style.name if paragraph.style is not None else ""
    heading = _HEADING_STYLE.match(style or "")
    if style == "Title":
        builder.heading(1, paragraph.text)
    elif heading:
        # "Title" is level 1, so Heading 1 sits under it
        builder.heading(int(heading.group(1)) + 1, paragraph.text)
    else:
        builder.paragraph(paragraph.text)


def _table(builder: StructureBuilder, table: Any, number: int, caption: str) -> None:
    """Rows under the header row: the first row when Word repeats it on each page (w:tblHeader) or it is all bold."""
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        # a merged cell repeats in each column it spans: keep it once, in its first
        rows.append([cell if index == 0 or cell != cells[index - 1] else "" for index, cell in enumerate(cells)])
    if not rows:
        return
    header = _is_header(table.rows[0])
    columns, body = (rows[0], rows[1:]) if header and len(rows) > 1 else ([], rows)
    builder.table(table_rows(number, caption, columns, body))


def _is_header(row: Any) -> bool:
    from docx.oxml.ns import qn

    properties = row._tr.trPr
    if properties is not None and properties.find(qn("w:tblHeader")) is not None:
        return True
    runs = [run for cell in row.cells for paragraph in cell.paragraphs for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(run.bold for run in runs)
