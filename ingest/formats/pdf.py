"""PDF through pypdf: text per page (the page goes into each paragraph), titles from the outline or font sizes."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile

__all__ = ["pdf_sections"]

# A line set at least this much larger than the body text, and short, is a heading.
_HEADING_SIZE_RATIO = 1.15
_MAX_HEADING_WORDS = 14


def pdf_sections(path: Path) -> tuple[str, list[Section], str]:
    """(text, sections, metadata title); raises UnreadableFile for a PDF that does not parse or has no text.

    pypdf directly rather than llama-index's PDFReader (a thin wrapper over it): PDFReader keeps no font
    sizes or outline, drops the /Title and reports parse errors as tenacity's RetryError after three tries.
    """
    import pypdf

    # pypdf logs its repairs ("EOF marker not found") on stderr; the skip reason says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(path)
        pages = [_lines_of(page) for page in reader.pages]
        outline = _outline(reader)
        metadata = reader.metadata
        title = " ".join(str(metadata.title or "").split()) if metadata else ""
    except Exception as exc:  # pypdf raises many unrelated types on a broken file; all mean "unreadable"
        raise UnreadableFile(f"PDF could not be parsed ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    if not any(text.strip() for lines in pages for text, _ in lines):
        raise UnreadableFile("PDF has no extractable text (scanned image?)")
    heading_levels = {} if outline else _heading_sizes(pages)
    builder = StructureBuilder()
    for number, lines in enumerate(pages, start=1):
        for outline_level, heading in outline.get(number, []):
            builder.heading(outline_level, heading)
        body: list[str] = []
        for text, size in lines:
            level = heading_levels.get(size)
            if level is not None and len(text.split()) <= _MAX_HEADING_WORDS and not text.rstrip().endswith((".", ",", ";")):
                builder.paragraph("\n".join(body), page=number)
                body = []
                builder.heading(level, text)
            elif text.strip():
                body.append(text.strip())
        builder.paragraph("\n".join(body), page=number)
    text, sections = builder.result()
    return text, sections, title


def _lines_of(page: Any) -> list[tuple[str, float]]:
    """The page's text lines, each with the largest font size used on it."""
    runs: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        scale = abs(tm[3]) if tm and tm[3] else 1.0
        runs.append((text, round(float(size) * scale * (abs(cm[3]) if cm and cm[3] else 1.0), 1)))

    page.extract_text(visitor_text=visit)
    lines: list[tuple[str, float]] = []
    current: list[str] = []
    largest = 0.0
    for text, size in runs:
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            if piece.strip():
                current.append(piece)
                largest = max(largest, size)
            if index < len(pieces) - 1:
                lines.append((" ".join("".join(current).split()), largest))
                current, largest = [], 0.0
    lines.append((" ".join("".join(current).split()), largest))
    return [(text, size) for text, size in lines if text]


def _heading_sizes(pages: list[list[tuple[str, float]]]) -> dict[float, int]:
    """Font sizes clearly above the body size (the size with the most characters), largest = level 1."""
    chars: Counter[float] = Counter()
    for lines in pages:
        for text, size in lines:
            chars[size] += len(text)
    if not chars:
        return {}
    body = chars.most_common(1)[0][0]
    larger = sorted((size for size in chars if size >= body * _HEADING_SIZE_RATIO), reverse=True)
    return {size: level for level, size in enumerate(larger[:3], start=1)}


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
