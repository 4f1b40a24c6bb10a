"""Tables as tables: each body row keeps its column headers ("Setting: size; Default: 2000"), shared by every reader.

The readers find tables in their format (HTML <table>, Markdown pipe tables, DOCX tables, ruled tables in
PDF) and hand them here as a header and rows of cell text; `StructureBuilder.table` and the Markdown
reader turn each body row into one paragraph of kind "table", so that a chunk holds whole rows.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TableRow", "clean_cell", "row_text", "table_rows"]

# Cells are joined in a row's text with "; " and a header with ": "; a row without headers joins its
# cells with " | " (as the readers did before tables were read as tables).
_CELL_JOIN = "; "
_PLAIN_JOIN = " | "


@dataclass(frozen=True)
class TableRow:
    """One body row of a table: which table of the document, its caption, its 1-based number, headers and cells."""

    table: int  # the table's number in the document (0-based), so rows of two tables never share a chunk
    name: str  # the caption ("" when none: the nearest heading names it)
    number: int  # 1-based among the table's body rows (the header row is not counted)
    columns: tuple[str, ...]  # the column headers ("" for a column without one); () when the table has none
    cells: tuple[str, ...]


def clean_cell(text: str) -> str:
    """A cell's text on one line, whitespace collapsed."""
    return " ".join(text.split())


def row_text(columns: tuple[str, ...], cells: tuple[str, ...]) -> str:
    """The row as one line: "Header: cell; Header: cell", empty cells left out; " | " between cells without headers."""
    if not columns:
        return _PLAIN_JOIN.join(cell for cell in cells if cell)
    parts = []
    for index, cell in enumerate(cells):
        if not cell:
            continue
        header = columns[index] if index < len(columns) else ""
        parts.append(f"{header}: {cell}" if header and header != cell else cell)
    return _CELL_JOIN.join(parts)


def table_rows(table: int, name: str, columns: list[str], rows: list[list[str]]) -> list[TableRow]:
    """The body rows of a table, numbered from 1; empty rows are dropped, short rows padded to the header."""
    header = tuple(clean_cell(cell) for cell in columns)
    if header and not any(header):
        header = ()
    out: list[TableRow] = []
    for cells in rows:
        cleaned = tuple(clean_cell(cell) for cell in cells)
        if not any(cleaned):
            continue
        if header and len(cleaned) < len(header):
            cleaned = cleaned + ("",) * (len(header) - len(cleaned))
        out.append(TableRow(table, clean_cell(name), len(out) + 1, header, cleaned))
    return out
