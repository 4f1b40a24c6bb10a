"""Markdown: headings and blocks from markdown-it-py's token map, so `# lines` inside code are never headings."""

from __future__ import annotations

import re
from typing import Any

from ingest.formats import Paragraph, Section, fold_single_top_heading

__all__ = ["markdown_sections"]

_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """Sections under the file's headings; paragraphs, list items and tables are `article`, code blocks `code`.

    Offsets point into the file's own text, so citations keep the file's line numbers.
    """
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    line_starts = [0] + [match.end() for match in re.finditer(r"\n", text)]
    line_starts.append(len(text) + 1)
    sections: list[Section] = [Section(())]
    open_headings: list[tuple[int, str]] = []
    in_table = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            title = _inline_text(tokens[index + 1])
            if title:
                level = int(token.tag[1])
                while open_headings and open_headings[-1][0] >= level:
                    open_headings.pop()
                open_headings.append((level, title))
                sections.append(Section(tuple(name for _, name in open_headings)))
        elif token.type in ("fence", "code_block") and token.map:
            first, last = token.map[0], token.map[1] - 1
            if token.type == "fence":
                first += 1
                if last >= first and _FENCE.match(_line(text, line_starts, last)):
                    last -= 1
            _add(sections, text, line_starts, first, last, "code")
        elif token.type == "table_open" and token.map:
            in_table = True
            _add(sections, text, line_starts, token.map[0], token.map[1] - 1, "article")
        elif token.type == "table_close":
            in_table = False
        elif token.type == "paragraph_open" and token.map and not in_table:
            _add(sections, text, line_starts, token.map[0], token.map[1] - 1, "article", tokens[index + 1].content)
    return fold_single_top_heading(sections)


def _inline_text(token: Any) -> str:
    """A heading's words without markup (`code`, **bold**, [links](...))."""
    parts = [child.content for child in token.children or [] if child.type in ("text", "code_inline")]
    return " ".join("".join(parts).split())


def _line(text: str, line_starts: list[int], number: int) -> str:
    return text[line_starts[number] : line_starts[number + 1] - 1]


def _add(
    sections: list[Section], text: str, line_starts: list[int], first: int, last: int, kind: str, content: str = ""
) -> None:
    if last < first:
        return
    start = line_starts[first]
    end = line_starts[last + 1] - 1
    if content:  # start at the text, after a list marker or a quote sign
        found = text.find(content.split("\n", 1)[0], start, end + 1)
        start = found if found >= 0 else start
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        sections[-1].paragraphs.append(Paragraph(start, end, kind))
