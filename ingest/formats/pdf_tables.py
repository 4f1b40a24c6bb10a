"""Ruled tables in PDF pages, through pdfplumber: cells from the table's drawn lines, the first row as its header.

pdfplumber rather than camelot-py: on ruled tables of Debian documentation PDFs both read the same cells
(docs/documents.md has the count), but camelot's lattice mode renders each page through Ghostscript and
OpenCV, and its package pulls both in; pdfplumber reads the lines the PDF draws, in pure Python.
pdfplumber lays out a whole page (about a second a page here), so it runs only on pages whose content
stream draws enough straight lines to rule a table (`RULED_PAGE_MIN_LINES`): never on prose pages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RULED_PAGE_MIN_LINES", "PdfTable", "find_tables"]

#: A page is searched for tables when it draws at least this many straight segments or rectangles:
#: a table of two rows and two columns needs six rules (a rectangle may draw several at once).
RULED_PAGE_MIN_LINES = 4
# pdfplumber's "lines" strategy: cells only where the PDF draws ruling lines, never guessed from text gaps.
_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}


@dataclass(frozen=True)
class PdfTable:
    """A table on a page: its box (x0, top, x1, bottom, in points from the page's top left), header and rows."""

    bbox: tuple[float, float, float, float]
    columns: list[str]
    rows: list[list[str]]
    name: str = ""  # a title row spanning the table ("" when none)


def find_tables(path: Path, pages: list[int]) -> dict[int, list[PdfTable]]:
    """The ruled tables of the given 1-based pages, top to bottom; a page pdfplumber cannot read has none."""
    if not pages:
        return {}
    import pdfplumber

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    found: dict[int, list[PdfTable]] = {}
    try:
        with pdfplumber.open(path) as pdf:
            for number in pages:
                page = pdf.pages[number - 1]
                try:
                    tables = [_table(t.bbox, t.extract()) for t in page.find_tables(_SETTINGS)]
                except Exception:  # noqa: BLE001 - pdfminer raises assorted types on a damaged page; pypdf reads its text
                    tables = []
                kept = sorted((t for t in tables if t is not None), key=lambda t: t.bbox[1])
                if kept:
                    found[number] = kept
                page.close()
    except Exception:  # noqa: BLE001 - a file pdfminer cannot open: pypdf read its text already
        return {}
    return found


def _table(bbox: tuple[float, float, float, float], cells: list[list[str | None]]) -> PdfTable | None:
    """A data table, or None for a frame: at least 2 rows and 2 columns, and at least half its cells hold text.

    A box drawn around a code listing or a note is a one-column "table"; it stays text. A row set without
    rules inside is split (`_unruled_rows`). A first row with
    text in one cell only is a title spanning the table: it names the table. The first row after it is the
    header when every cell of it holds text (a ruled table's first row is its header in print).
    """
    rows = [[" ".join(cell.split()) for cell in row] for raw in cells for row in _unruled_rows(raw)]
    rows = [row for row in rows if any(row)]
    width = max((len(row) for row in rows), default=0)
    columns_used = [index for index in range(width) if any(index < len(row) and row[index] for row in rows)]
    if len(rows) < 2 or len(columns_used) < 2:
        return None
    rows = [[row[index] if index < len(row) else "" for index in columns_used] for row in rows]
    filled = sum(1 for row in rows for cell in row if cell)
    if filled * 2 < len(rows) * len(columns_used):
        return None
    name = ""
    if len(rows) > 2 and sum(1 for cell in rows[0] if cell) == 1:
        name, rows = next(cell for cell in rows[0] if cell), rows[1:]
    header, body = (rows[0], rows[1:]) if all(rows[0]) else ([], rows)
    return PdfTable((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])), header, body, name)


def _unruled_rows(row: list[str | None]) -> list[list[str]]:
    """A ruled row whose filled cells all hold the same number of lines, more than one, is that many rows set
    without rules between them (LaTeX tables often rule only groups of rows); otherwise it is one row, its
    lines joined (a long cell wraps)."""
    cells = [(cell or "").strip() for cell in row]
    lines = [[line for line in cell.split("\n") if line.strip()] for cell in cells]
    counts = {len(found) for found in lines if found}
    if len(counts) == 1 and (count := counts.pop()) > 1 and sum(1 for found in lines if found) > 1:
        return [[found[index] if found else "" for found in lines] for index in range(count)]
    return [cells]
