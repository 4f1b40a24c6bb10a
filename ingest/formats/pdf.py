"""PDF through pypdf: text per page (the page goes into each paragraph), titles from the outline or font sizes."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile
from ingest.formats.ocr import OcrOptions, PageReport, read_pages, render_pdf_page
from ingest.formats.pdf_tables import RULED_PAGE_MIN_LINES, PdfTable, find_tables
from ingest.formats.tables import table_rows

__all__ = ["needs_ocr", "pdf_sections"]

# A page with fewer characters of text than this over a page-sized image is a scan (a stamped page number
# or a scanner's footer is not its text).
_OCR_MAX_CHARS = 32

# A page's first or last lines that recur, page numbers aside, at that edge of this many pages are
# running headers or footers ("Chapter 4: Care and Cleaning 27"): print furniture, not text.
_RUNNING_MIN_PAGES = 3
_RUNNING_EDGE_LINES = 2
_DIGITS = re.compile(r"\d+")
_SECTION_NUMBER = re.compile(r"^(?:[a-z]?\d+(?:\.\d+)*\.?|[a-z]\.)\s+")
# A line set at least this much larger than the body text, and short, is a heading.
_HEADING_SIZE_RATIO = 1.15
_MAX_HEADING_WORDS = 14


def pdf_sections(path: Path, ocr: OcrOptions | None = None) -> tuple[str, list[Section], str, PageReport]:
    """(text, sections, metadata title, OCR report); raises UnreadableFile for a PDF that does not parse or has no text.

    Pages without a text layer (`needs_ocr`) are read by Tesseract when `ocr` allows it; with `ocr` None
    they are only listed as unread (the page's views and upload checks never run OCR).

    pypdf directly rather than llama-index's PDFReader (a thin wrapper over it): PDFReader keeps no font
    sizes or outline, drops the /Title and reports parse errors as tenacity's RetryError after three tries.
    """
    import pypdf

    # pypdf logs its repairs ("EOF marker not found") on stderr; the skip reason says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(path)
        scans = [_scan(page) for page in reader.pages]
        outline = _outline(reader)
        metadata = reader.metadata
        title = " ".join(str(metadata.title or "").split()) if metadata else ""
    except Exception as exc:  # pypdf raises many unrelated types on a broken file; all mean "unreadable"
        raise UnreadableFile(f"PDF could not be parsed ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    scanned = [number for number, scan in enumerate(scans, start=1) if needs_ocr(scan)]
    read, report = read_pages(scanned, ocr, lambda number: render_pdf_page(path, number))
    ruled = [number for number, scan in enumerate(scans, start=1) if scan.rules >= RULED_PAGE_MIN_LINES and number not in read]
    tables = find_tables(path, ruled)
    pages = _without_running_lines([[(text, size) for text, size, _, _ in scan.lines] for scan in scans])
    placed_tables = {number: _place_tables(scans[number - 1], pages[number - 1], found) for number, found in tables.items()}
    if not any(text.strip() for lines in pages for text, _ in lines) and not read and not tables and (ocr or not report.unread):
        raise UnreadableFile(f"PDF has no extractable text ({report.reason})" if report.reason else "PDF has no extractable text")
    # Without an outline, the larger sizes are the heading levels. With one, a larger line the outline
    # does not name (a run-in "Cleaning the filter" under "4 Maintenance") is a heading one level under the outline's
    # current entry (otherwise it is glued to the sentence after it); before the first entry it stays text.
    heading_levels = _heading_sizes(pages, deepest=None if outline else 3)
    builder = StructureBuilder()
    outline_level = 0
    table_number = 0
    for number, lines in enumerate(pages, start=1):
        if number in read:
            page = read[number]
            for paragraph in page.paragraphs:
                builder.paragraph(paragraph, page=number, ocr_confidence=page.confidence)
            continue
        placed = _outline_positions(outline.get(number, []), lines)
        page_tables, dropped = placed_tables.get(number, ({}, set()))
        body: list[str] = []
        for index, (text, size) in enumerate(lines):
            if index in page_tables:
                builder.paragraph("\n".join(body), page=number)
                body = []
                for found in page_tables[index]:
                    builder.table(table_rows(table_number, found.name, found.columns, found.rows), page=number)
                    table_number += 1
            if index in dropped:
                continue  # the text of a table's cells, read above as the table
            if index in placed:
                builder.paragraph("\n".join(body), page=number)
                body = []
                for outline_level, heading, matched in placed[index]:
                    builder.heading(outline_level, heading)
                if any(matched for _, _, matched in placed[index]):
                    continue  # the heading's own line ("4.2 Cleaning the Filter") is the title just set
            level = heading_levels.get(size)
            if level is not None and outline:
                # under the current outline entry; before the first (a title page) none: its lines are text
                level = outline_level + 1 if outline_level else None
            if level is not None and _reads_as_heading(text):
                builder.paragraph("\n".join(body), page=number)
                body = []
                builder.heading(level, text)
            elif text.strip():
                body.append(text.strip())
        builder.paragraph("\n".join(body), page=number)
        for found in page_tables.get(len(lines), []):
            builder.table(table_rows(table_number, found.name, found.columns, found.rows), page=number)
            table_number += 1
    text, sections = builder.result()
    return text, sections, title, report


def _reads_as_heading(text: str) -> bool:
    """Short, with a letter, and not ending like a sentence or a clause."""
    return len(text.split()) <= _MAX_HEADING_WORDS and any(c.isalpha() for c in text) and not text.rstrip().endswith((".", ",", ";"))


def _without_running_lines(pages: list[list[tuple[str, float]]]) -> list[list[tuple[str, float]]]:
    """The pages without their running headers and footers and bare page numbers.

    Written here because pypdf has no layout analysis: a line within the first or last
    `_RUNNING_EDGE_LINES` of a page whose text, digits masked, opens or closes at least
    `_RUNNING_MIN_PAGES` pages is dropped wherever it sits at a page's edge.
    """
    if len(pages) < _RUNNING_MIN_PAGES:
        return pages

    def key(text: str) -> str:
        return _DIGITS.sub("#", " ".join(text.lower().split()))

    def edges(lines: list[tuple[str, float]]) -> set[int]:
        count = len(lines)
        return set(range(min(_RUNNING_EDGE_LINES, count))) | set(range(max(0, count - _RUNNING_EDGE_LINES), count))

    seen: Counter[str] = Counter()
    for lines in pages:
        seen.update({key(lines[i][0]) for i in edges(lines)})
    running = {text for text, pages_with in seen.items() if pages_with >= _RUNNING_MIN_PAGES}
    out = []
    for lines in pages:
        edge = edges(lines)
        # a bare number at a page's edge is its page number, however few pages there are
        out.append([line for i, line in enumerate(lines) if not (i in edge and (key(line[0]) in running or key(line[0]) == "#"))])
    return out


@dataclass
class _PageScan:
    """What one pass of pypdf over a page's content finds: text lines (text, font size, x, y), the share of the
    page that images cover, and how many straight lines or rectangles it draws."""

    lines: list[tuple[str, float, float, float]] = field(default_factory=list)
    chars: int = 0
    image_cover: float = 0.0
    rules: int = 0
    height: float = 0.0


def _scan(page: Any) -> _PageScan:
    """The page's text lines, each with the largest font size used on it and where it starts, plus its drawing."""
    runs: list[tuple[str, float, float, float]] = []
    scan = _PageScan()
    box = page.mediabox
    scan.height = float(box.height)
    area = abs(float(box.width) * float(box.height)) or 1.0
    images = _image_names(page)

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        scale = abs(tm[3]) if tm and tm[3] else 1.0
        x, y = _apply(cm, tm[4] if tm else 0.0, tm[5] if tm else 0.0)
        runs.append((text, round(float(size) * scale * (abs(cm[3]) if cm and cm[3] else 1.0), 1), x, y))

    def operator(op: bytes, args: Any, cm: list[float], tm: list[float]) -> None:
        if op in (b"re", b"l"):
            scan.rules += 1
        elif op == b"Do" and args and str(args[0]) in images:
            # an image is drawn into the unit square scaled by the current matrix: its area is |det|
            scan.image_cover += abs(cm[0] * cm[3] - cm[1] * cm[2]) / area

    page.extract_text(visitor_text=visit, visitor_operand_before=operator)
    current: list[str] = []
    largest = 0.0
    where: tuple[float, float] | None = None
    for text, size, x, y in runs:
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            if piece.strip():
                current.append(piece)
                largest = max(largest, size)
                where = where or (x, y)
            if index < len(pieces) - 1:
                scan.lines.append((" ".join("".join(current).split()), largest, *(where or (x, y))))
                current, largest, where = [], 0.0, None
    scan.lines.append((" ".join("".join(current).split()), largest, *(where or (0.0, 0.0))))
    scan.lines = [line for line in scan.lines if line[0]]
    scan.chars = sum(len(line[0].replace(" ", "")) for line in scan.lines)
    return scan


def needs_ocr(scan: _PageScan) -> bool:
    """The rule: a page is read by OCR when images cover at least half of it and it holds fewer than
    `_OCR_MAX_CHARS` characters of text (a scan with a stamped page number), or it holds no text and any image."""
    return (scan.image_cover >= 0.5 and scan.chars < _OCR_MAX_CHARS) or (scan.chars == 0 and scan.image_cover > 0)


def _image_names(page: Any) -> set[str]:
    try:
        xobjects = page["/Resources"]["/XObject"]
        return {str(name) for name, ref in xobjects.items() if ref.get_object().get("/Subtype") == "/Image"}
    except (KeyError, TypeError, AttributeError):
        return set()


def _apply(cm: list[float], x: float, y: float) -> tuple[float, float]:
    if not cm or len(cm) < 6:
        return x, y
    return cm[0] * x + cm[2] * y + cm[4], cm[1] * x + cm[3] * y + cm[5]


def _place_tables(
    scan: _PageScan, lines: list[tuple[str, float]], tables: list[PdfTable]
) -> tuple[dict[int, list[PdfTable]], set[int]]:
    """Where each table goes among the page's lines (before its first line below the table's top), and the
    lines inside tables (their cells' text), by index into `lines` (the page's lines, running ones dropped)."""
    positions: dict[str, list[tuple[float, float]]] = {}
    for text, _, x, y in scan.lines:
        positions.setdefault(text, []).append((x, scan.height - y))  # from the top, as pdfplumber measures
    at: dict[int, list[PdfTable]] = {}
    dropped: set[int] = set()
    seen: dict[str, int] = {}
    tops: list[float] = []
    for index, (text, _) in enumerate(lines):
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        spots = positions.get(text, [])
        x, top = spots[min(occurrence, len(spots) - 1)] if spots else (0.0, 0.0)
        tops.append(top)
        if any(t.bbox[0] - 2 <= x <= t.bbox[2] + 2 and t.bbox[1] - 2 <= top <= t.bbox[3] + 2 for t in tables):
            dropped.add(index)
    for table in tables:
        index = next((i for i, top in enumerate(tops) if top >= table.bbox[1] - 2), len(lines))
        at.setdefault(index, []).append(table)
    return at, dropped


def _outline_positions(entries: list[tuple[int, str]], lines: list[tuple[str, float]]) -> dict[int, list[tuple[int, str, bool]]]:
    """Where on its page each outline entry starts: the line that reads as its title (a leading section
    number aside), searched in order; an entry whose line is not found starts where the one before it did
    (the top of the page for the first). Maps line index -> [(level, title, its own line)]."""
    placed: dict[int, list[tuple[int, str, bool]]] = {}
    start = 0
    for level, title in entries:
        wanted = " ".join(title.lower().split())
        found = next(
            (i for i in range(start, len(lines)) if _SECTION_NUMBER.sub("", " ".join(lines[i][0].lower().split())) == wanted),
            None,
        )
        if found is not None:
            start = found
        placed.setdefault(start, []).append((level, title, found is not None))
    return placed


def _heading_sizes(pages: list[list[tuple[str, float]]], deepest: int | None = 3) -> dict[float, int]:
    """Font sizes clearly above the body size (the size with the most characters), largest = level 1;
    the `deepest` largest (all with None)."""
    chars: Counter[float] = Counter()
    for lines in pages:
        for text, size in lines:
            chars[size] += len(text)
    if not chars:
        return {}
    body = chars.most_common(1)[0][0]
    larger = sorted((size for size in chars if size >= body * _HEADING_SIZE_RATIO), reverse=True)
    return {size: level for level, size in enumerate(larger[:deepest], start=1)}


def _outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """Outline (bookmark) titles by 1-based page, with their nesting level."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            page = _destination_page(reader, item)
            if page is not None:  # an entry that points nowhere names no page
                found.setdefault(page, []).append((level, " ".join(str(item.title).split())))

    walk(list(reader.outline or []), 1)
    return found


def _destination_page(reader: Any, item: Any) -> int | None:
    try:
        return int(reader.get_destination_page_number(item)) + 1
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
