"""HTML: the page's main content (its <main>, role="main" or <article> landmark), without navigation or footers.

Chosen over trafilatura: on the Sphinx pages of the Python docs both keep the evidence, but trafilatura's
text carries Markdown markup and Sphinx's pilcrows; this keeps clean text, code blocks marked and h1-h6
for titles (README's performance section has the comparison).
"""

from __future__ import annotations

from typing import Any

from ingest.formats import Section, StructureBuilder, UnreadableFile
from ingest.formats.tables import clean_cell, table_rows

__all__ = ["html_sections"]

# Elements and landmarks that are never main content; a <header> inside the main landmark holds its
# heading, so page headers are dropped only when the page has no main landmark.
_DROP_TAGS = ("script", "style", "noscript", "template", "nav", "footer", "aside", "form", "button", "head")
_DROP_SELECTORS = (
    '[role="navigation"]', '[role="banner"]', '[role="contentinfo"]', '[role="complementary"]', '[role="search"]',
    ".headerlink", '[aria-hidden="true"]',
)
_MAIN_SELECTORS = ("main", '[role="main"]', "article")
_BLOCKS = {
    "address", "article", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "hr", "html", "li", "main", "ol", "p", "section", "summary",
    "table", "tbody", "td", "tfoot", "th", "thead", "ul",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# A <table> is read as a table of rows under headers unless it lays a page out: a cell that holds another
# table, a heading or a form, or a table of one column.
_LAYOUT_CONTENT = ["table", "h1", "h2", "h3", "h4", "h5", "h6", "form", "nav"]


def html_sections(html: str) -> tuple[str, list[Section], str]:
    """(text, sections, page title) of the main content; h1-h6 title the sections, <pre> blocks are `code`."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup(list(_DROP_TAGS)):
        tag.decompose()
    for selector in _DROP_SELECTORS:
        for tag in soup.select(selector):
            tag.decompose()
    root = next((found for found in map(soup.select_one, _MAIN_SELECTORS) if found is not None), None)
    if root is None:
        for tag in soup("header"):
            tag.decompose()
    builder = StructureBuilder()
    _Walker(builder).walk(root or soup.body or soup)
    text, sections = builder.result()
    if not sections:
        raise UnreadableFile("HTML page has no visible text")
    return text, sections, title


class _Walker:
    """Emits each block's text as one paragraph: inline markup is joined, whitespace collapsed."""

    def __init__(self, builder: StructureBuilder) -> None:
        self.builder = builder
        self.inline: list[str] = []
        self.tables = 0

    def walk(self, node: Any) -> None:
        from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

        for child in node.children:
            if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.inline.append(str(child))
            elif isinstance(child, Tag):
                self._tag(child)

    def _tag(self, tag: Any) -> None:
        name = tag.name
        if name in _HEADINGS:
            self.flush()
            self.builder.heading(_HEADINGS[name], tag.get_text(" "))
        elif name == "pre":
            self.flush()
            self.builder.paragraph(tag.get_text(), "code")
        elif name == "table" and self._table(tag):
            pass
        elif name == "tr":
            self.flush()
            cells = [" ".join(cell.get_text(" ").split()) for cell in tag.find_all(["td", "th"], recursive=False)]
            self.builder.paragraph(" | ".join(cell for cell in cells if cell))
        elif name == "br":
            self.inline.append(" ")
        elif name in _BLOCKS:
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.walk(tag)

    def _table(self, table: Any) -> bool:
        """Read a data table as rows under its header row; False (walk it as blocks) for a layout table."""
        rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
        grid = [[cell for cell in row.find_all(["td", "th"], recursive=False)] for row in rows]
        if not grid or max(len(cells) for cells in grid) < 2 or table.find(_LAYOUT_CONTENT) is not None:
            return False
        self.flush()
        first = rows[0]
        # the header: a row in <thead>, or a first row of <th> cells only
        has_header = first.find_parent("thead") is not None or all(cell.name == "th" for cell in grid[0])
        texts = [[cell.get_text(" ") for cell in cells] for cells in grid]
        columns, body = (texts[0], texts[1:]) if has_header else ([], texts)
        caption = clean_cell(table.caption.get_text(" ")) if table.caption else ""
        self.builder.table(table_rows(self.tables, caption, columns, body))
        self.tables += 1
        return True

    def flush(self) -> None:
        """Close the running block of inline text as a paragraph."""
        words = " ".join("".join(self.inline).split())
        self.inline = []
        if words:
            self.builder.paragraph(words)
