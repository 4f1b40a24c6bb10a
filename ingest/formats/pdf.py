"""PDF through pypdf: text per page (the page goes into each paragraph), titles from the outline or font sizes."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile

__all__ = ["pdf_sections"]

# A page's first or last lines that recur, page numbers aside, at that edge of this many pages are
# running headers or footers ("Chapter 4: Care and Cleaning 27"): print furniture, not text.
_RUNNING_MIN_PAGES = 3
_RUNNING_EDGE_LINES = 2
_DIGITS = re.compile(r"\d+")
_SECTION_NUMBER = re.compile(r"^(?:[a-z]?\d+(?:\.\d+)*\.?|[a-z]\.)\s+")
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
        pages = _without_running_lines([_lines_of(page) for page in reader.pages])
        outline = _outline(reader)
        metadata = reader.metadata
        title = " ".join(str(metadata.title or "").split()) if metadata else ""
    except Exception as exc:  # pypdf raises many unrelated types on a broken file; all mean "unreadable"
        raise UnreadableFile(f"PDF could not be parsed ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    if not any(text.strip() for lines in pages for text, _ in lines):
        raise UnreadableFile("PDF has no extractable text (scanned image?)")
    # Without an outline, the larger sizes are the heading levels. With one, a larger line the outline
    # does not name (a run-in "Cleaning the filter" under "4 Maintenance") is a heading one level under the outline's
    # current entry (otherwise it is glued to the sentence after it); before the first entry it stays text.
    heading_levels = _heading_sizes(pages, deepest=None if outline else 3)
    builder = StructureBuilder()
    outline_level = 0
    for number, lines in enumerate(pages, start=1):
        placed = _outline_positions(outline.get(number, []), lines)
        body: list[str] = []
        for index, (text, size) in enumerate(lines):
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
    text, sections = builder.result()
    return text, sections, title


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
