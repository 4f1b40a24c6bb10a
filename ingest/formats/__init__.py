"""Readers that turn each file format into text plus its structure: titled sections of paragraphs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.formats.tables import TableRow, row_text

__all__ = ["PATH_SEPARATOR", "Paragraph", "Section", "StructureBuilder", "TableRow", "UnreadableFile", "fold_single_top_heading"]

#: Joins a section path into a citation title: "Installation › System Requirements".
PATH_SEPARATOR = " › "


class UnreadableFile(Exception):
    """Raised by the readers; the message becomes the `skipped` reason."""


@dataclass
class Paragraph:
    """A block of text as character offsets into the document text; `kind` is article, comment, code or table."""

    start: int
    end: int
    kind: str = "article"
    page: int | None = None
    row: TableRow | None = None  # kind "table": the row this paragraph is (its text is `row_text` of it)
    ocr_confidence: float | None = None  # read by OCR: Tesseract's mean word confidence on its page (0-100)


@dataclass
class Section:
    """Paragraphs under one heading path (outermost heading first); an empty path means the document's title."""

    path: tuple[str, ...]
    paragraphs: list[Paragraph] = field(default_factory=list)

    def title(self, default: str) -> str:
        """The citation title: the heading path, or `default` before the first heading."""
        return PATH_SEPARATOR.join(self.path) if self.path else default


class StructureBuilder:
    """Accumulates headings and paragraphs into one text (blocks separated by blank lines) and its sections.

    Used by the formats whose text we generate (HTML, PDF, DOCX); Markdown and plain text keep the
    file's own text so that line numbers point into the file.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._open: list[tuple[int, str]] = []  # (level, title) of the headings the next block sits under
        self._headings: list[int] = []  # the level of each heading, in order
        self.sections: list[Section] = [Section(())]

    def heading(self, level: int, title: str) -> None:
        """A heading of `level` (1 = outermost) starts a new section; its text is kept as a line of its own."""
        title = " ".join(title.split())
        if not title:
            return
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, title))
        self._headings.append(level)
        self._append(title)
        self.sections.append(Section(tuple(name for _, name in self._open)))

    def paragraph(self, text: str, kind: str = "article", page: int | None = None, ocr_confidence: float | None = None) -> None:
        """A block of body text (or code, kept as is) under the current heading."""
        text = text.strip("\n") if kind == "code" else text.strip()
        if not text.strip():
            return
        start = self._append(text)
        self.sections[-1].paragraphs.append(Paragraph(start, start + len(text), kind, page, ocr_confidence=ocr_confidence))

    def table(self, rows: list[TableRow], page: int | None = None) -> None:
        """A table under the current heading: one block, one line and one `table` paragraph per body row."""
        lines = [row_text(row.columns, row.cells) for row in rows]
        kept = [(row, line) for row, line in zip(rows, lines) if line]
        if not kept:
            return
        start = self._append("\n".join(line for _, line in kept))
        for row, line in kept:
            self.sections[-1].paragraphs.append(Paragraph(start, start + len(line), "table", page, row))
            start += len(line) + 1

    def text(self) -> str:
        """The document text built so far."""
        return "".join(self._parts) + ("\n" if self._parts else "")

    def result(self) -> tuple[str, list[Section]]:
        """(text, sections with paragraphs), with a lone top heading folded into the document title."""
        return self.text(), fold_single_top_heading(self.sections)

    def _append(self, text: str) -> int:
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start


def fold_single_top_heading(sections: list[Section]) -> list[Section]:
    """When one heading is above all others (a page's lone <h1>, a README's `# Name`), drop it from deeper paths.

    It names the document, so "Tool › Installation › Requirements" reads as "Installation › Requirements";
    the text right under it keeps it as its title.
    """
    titled = [section for section in sections if section.path]
    if not titled or len(titled[0].path) != 1:
        return [section for section in sections if section.paragraphs]
    top = titled[0].path[0]
    if any(section.path == (top,) for section in titled[1:]) or not all(s.path[0] == top for s in titled):
        return [section for section in sections if section.paragraphs]
    out = []
    for section in sections:
        if len(section.path) > 1:
            section = Section(section.path[1:], section.paragraphs)
        if section.paragraphs:
            out.append(section)
    return out
