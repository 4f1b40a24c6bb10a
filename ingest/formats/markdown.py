"""Markdown: headings and blocks from markdown-it-py's token map, so `# lines` inside code are never headings."""

from __future__ import annotations

import re
from typing import Any

from ingest.formats import Paragraph, Section, fold_single_top_heading
from ingest.formats.tables import table_rows

__all__ = ["markdown_sections"]

_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[Section]:
    """Sections under the file's headings; paragraphs and list items are `article`, code blocks `code`, table rows `table`.

    Offsets point into the file's own text, so citations keep the file's line numbers.
    """
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    line_starts = [0] + [match.end() for match in re.finditer(r"\n", text)]
    line_starts.append(len(text) + 1)
    sections: list[Section] = [Section(())]
    open_headings: list[tuple[int, str]] = []
    in_table = False
    tables = 0
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
            _add_table(sections, text, line_starts, tokens, index, tables)
            tables += 1
        elif token.type == "table_close":
            in_table = False
        elif token.type == "paragraph_open" and token.map and not in_table:
            _add(sections, text, line_starts, token.map[0], token.map[1] - 1, "article", tokens[index + 1].content)
    return fold_single_top_heading(sections)


def _add_table(sections: list[Section], text: str, line_starts: list[int], tokens: list[Any], first: int, number: int) -> None:
    """One `table` paragraph per body row, over that row's line, with the header row's cells as its headers."""
    header: list[str] = []
    body: list[tuple[int, list[str]]] = []  # (line, cells)
    row: list[str] = []
    in_head = False
    for token in tokens[first:]:
        if token.type == "table_close":
            break
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
            line = token.map[0] if token.map else 0
        elif token.type == "inline":
            row.append(_inline_text(token))
        elif token.type == "tr_close":
            if in_head:
                header = row
            else:
                body.append((line, row))
    rows = table_rows(number, "", header, [cells for _, cells in body])
    by_cells = iter(rows)
    for line, cells in body:
        if not any(cell.strip() for cell in cells):
            continue  # table_rows dropped it too
        start, end = line_starts[line], line_starts[line + 1] - 1
        while end > start and text[end - 1].isspace():
            end -= 1
        sections[-1].paragraphs.append(Paragraph(start, end, "table", row=next(by_cells)))


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
