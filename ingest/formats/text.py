"""Plain text: paragraphs between blank lines, headings by a general rule, or the news layout when detected."""

from __future__ import annotations

import re

from ingest.formats import Paragraph, Section, fold_single_top_heading

__all__ = ["plain_sections", "text_sections"]

_END_PUNCTUATION = tuple(".!?,;:…") + ("\"", "”", "’", ")")
_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+\S")
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12


def text_sections(text: str, layout: str) -> tuple[list[Section], str]:
    """(sections, layout used): `layout` is auto, plain or news; auto picks news only when the file has it."""
    from ingest.segmenter import is_news_layout, news_sections

    if layout == "news" or (layout == "auto" and is_news_layout(text)):
        return news_sections(text), "news"
    return plain_sections(text), "plain"


def plain_sections(text: str) -> list[Section]:
    """Sections under headings found by the rule in `_heading`; every paragraph is `article` text."""
    blocks = _blocks(text)
    headings = [_heading(text, block) for block in blocks]
    sections: list[Section] = [Section(())]
    open_headings: list[tuple[int, str]] = []
    for index, block in enumerate(blocks):
        heading = headings[index]
        if heading is not None and _followed_by_body(headings, index):
            level, title = heading
            while open_headings and open_headings[-1][0] >= level:
                open_headings.pop()
            open_headings.append((level, title))
            sections.append(Section(tuple(name for _, name in open_headings)))
        else:
            sections[-1].paragraphs.append(Paragraph(block[0], block[1]))
    return fold_single_top_heading(sections)


def _blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of non-blank lines, surrounding whitespace trimmed."""
    return [(match.start(), match.end()) for match in re.finditer(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*", text)]


def _heading(text: str, block: tuple[int, int]) -> tuple[int, str] | None:
    """(level, title) when a block is a heading: one short line set off by blank lines (or a line underlined
    with === or ---), not indented, starting with a capital or a section number, not ending in sentence
    punctuation, not mostly digits. Levels come from numbering ("2.1" is 2) or underlines (=== 1, --- 2)."""
    start, end = block
    lines = text[start:end].split("\n")
    level = 1
    if len(lines) == 2 and _UNDERLINE.match(lines[1].strip()):
        level = 1 if lines[1].strip()[0] == "=" else 2
    elif len(lines) != 1:
        return None
    line = lines[0].rstrip()
    line_start = text.rfind("\n", 0, start) + 1
    if start != line_start:  # indented: a command or a quotation, not a heading
        return None
    words = line.split()
    if len(line) > _MAX_HEADING_CHARS or not 1 <= len(words) <= _MAX_HEADING_WORDS:
        return None
    if line.endswith(_END_PUNCTUATION) or not (line[0].isupper() or line[0].isdigit()):
        return None
    if sum(char.isalpha() for char in line) < 0.5 * len(line.replace(" ", "")):
        return None  # a date, a figure or a rule line, not a title
    numbered = _NUMBERED.match(line)
    if numbered:
        level = numbered.group(1).count(".") + 1
    return level, " ".join(words)


def _followed_by_body(headings: list[tuple[int, str] | None], index: int) -> bool:
    """A heading needs body text after it, perhaps after further headings (a chapter, then its first section)."""
    for later in headings[index + 1 :]:
        if later is None:
            return True
    return False
