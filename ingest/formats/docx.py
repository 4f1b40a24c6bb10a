"""Word (.docx) through python-docx: paragraphs and tables in order, sections from the heading styles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile

__all__ = ["docx_sections"]

_HEADING_STYLE = re.compile(r"^Heading (\d)$")


def docx_sections(path: Path) -> tuple[str, list[Section], str]:
    """(text, sections, core-properties title); "Title" and "Heading N" styles title the sections."""
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph as DocxParagraph

        document = docx.Document(str(path))
        title = " ".join((document.core_properties.title or "").split())
        builder = StructureBuilder()
        for block in document.iter_inner_content():
            if isinstance(block, DocxParagraph):
                _paragraph(builder, block)
            elif isinstance(block, Table):
                _table(builder, block)
    except Exception as exc:  # python-docx raises zip, XML and key errors on a broken file; all mean "unreadable"
        # the exception's text names temporary paths and zip internals: say what the user can do instead
        raise UnreadableFile("not a valid Word (.docx) file; save it again from the word processor") from exc
    text, sections = builder.result()
    if not sections:
        raise UnreadableFile("Word file has no text")
    return text, sections, title


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


def _table(builder: StructureBuilder, table: Any) -> None:
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        unique = [cell for index, cell in enumerate(cells) if cell and cell not in cells[:index]]  # merged cells repeat
        builder.paragraph(" | ".join(unique))
