"""Tables as tables: a question per format answered from one cell, cited with the table's name and rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpusqa.settings import load_settings
from ingest.chunker import chunk_file
from ingest.formats.tables import row_text
from ingest.loader import file_hash, read_file

HTML = """<!doctype html><html><head><title>Bridges</title></head><body><main>
<h1>River Bridges</h1>
<p>The town keeps a register of its bridges.</p>
<table>
<caption>Bridge load limits</caption>
<thead><tr><th>Bridge</th><th>Maximum load</th><th>Opened</th></tr></thead>
<tbody>
<tr><td>Mill Lane bridge</td><td>7 tonnes</td><td>1902</td></tr>
<tr><td>Elm Street bridge</td><td>12 tonnes</td><td>1957</td></tr>
<tr><td>Quarry footbridge</td><td>1 tonne</td><td>1988</td></tr>
</tbody></table>
</main></body></html>
"""

MARKDOWN = """# Orchard Notes

## Apple Varieties

| Variety | Harvest month | Storage life |
|---|---|---|
| Bramley | October | five months |
| Egremont Russet | September | three months |
| Discovery | August | two weeks |
"""


def make_docx(path: Path) -> Path:
    """A caption, then a table whose bold first row is its header."""
    import docx

    document = docx.Document()
    document.add_heading("Pool Timetable", level=1)
    document.add_paragraph("Swimming sessions by weekday", style="Caption")
    table = document.add_table(rows=4, cols=3)
    rows = [("Day", "Session", "Lane rope colour"), ("Monday", "Early swim", "blue"),
            ("Wednesday", "Aqua aerobics", "orange"), ("Friday", "Family splash", "green")]
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            run = table.cell(r, c).paragraphs[0].add_run(text)
            run.bold = r == 0
    document.save(str(path))
    return path


def make_pdf(path: Path) -> Path:
    """A page of text and a ruled table (drawn grid lines) under a heading."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    table = Table([
        ["Station", "Platform", "First train"],
        ["Northgate", "Platform 4", "05:42"],
        ["Harbour Road", "Platform 2", "06:15"],
        ["Castle Hill", "Platform 9", "06:58"],
    ])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    story = [
        Paragraph("Railway Timetable", styles["Heading1"]),
        Paragraph("Trains run every day of the year except the first of January.", styles["BodyText"]),
        table,
        Paragraph("Tickets are sold on board after eight in the evening.", styles["BodyText"]),
    ]
    SimpleDocTemplate(str(path), pagesize=A4, title="Railway Guide").build(story)
    return path


@pytest.fixture(scope="module")
def tables_engine(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    """A real engine over one document with a table in each format."""
    from rag import Engine

    root = tmp_path_factory.mktemp("tables")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "bridges.html").write_text(HTML, encoding="utf-8")
    (corpus / "orchard.md").write_text(MARKDOWN, encoding="utf-8")
    make_docx(corpus / "pool.docx")
    make_pdf(corpus / "railway.pdf")
    engine = Engine(load_settings(index_dir=root / "index", corpus_dir=corpus), embedder)
    report = engine.ingest([corpus])
    assert len(report.added) == 4 and not report.skipped, report
    return engine


@pytest.mark.parametrize(
    ("question", "expected", "source", "table", "row", "page"),
    [
        ("What is the maximum load of the Elm Street bridge?", "12 tonnes", "bridges.html", "Bridge load limits", 2, None),
        ("What is the storage life of Egremont Russet apples?", "three months", "orchard.md", "Apple Varieties", 2, None),
        ("Which lane rope colour is used for aqua aerobics?", "orange", "pool.docx", "Swimming sessions by weekday", 2, None),
        ("What is the first train time at Harbour Road?", "06:15", "railway.pdf", "Railway Timetable", 2, 1),
    ],
)
def test_tables_question_is_answered_from_a_cell_and_cited_with_table_and_rows(  # type: ignore[no-untyped-def]
    tables_engine, question: str, expected: str, source: str, table: str, row: int, page: int | None
) -> None:
    answer = tables_engine.ask(question)

    assert not answer.abstained, answer.answer
    assert expected in answer.answer
    first = answer.citations[0]
    assert (first.source, first.kind, first.page) == (source, "table", page)
    assert first.table is not None and first.table.name == table
    assert first.table.first_row <= row <= first.table.last_row
    cited = first.to_json()["table"]
    assert cited["name"] == table and cited["rows"] == [first.table.first_row, first.table.last_row]
    # the answering row keeps its column headers
    line = next(line for line in first.text.split("\n") if expected in line)
    assert line == row_text(first.table.columns, first.table.cells[row - first.table.first_row])
    assert all(f"{column}: " in line for column in cited["columns"])


def test_tables_pdf_table_text_is_not_read_twice(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "railway.pdf")
    loaded = read_file(pdf.read_bytes(), pdf, "railway.pdf", 10**8)

    assert loaded.text.count("Harbour Road") == 1
    assert "Tickets are sold on board" in loaded.text  # the text after the table is kept, after it
    assert loaded.text.index("Station: Castle Hill") < loaded.text.index("Tickets are sold")


def test_tables_table_wider_than_a_chunk_never_splits_a_row(tmp_path: Path) -> None:
    """40 rows need several chunks of 64 tokens: each holds whole rows, in order, every row once; and a single
    row wider than a chunk stays whole in a chunk of its own."""
    rows = "\n".join(f"| Sensor {n} | {n * 3} degrees | cabinet {n % 7} in the north hall |" for n in range(1, 41))
    wide = "| Sensor 41 | " + "very " * 120 + "hot | cabinet 9 |"
    text = f"# Sensors\n\n| Sensor | Reading | Location |\n|---|---|---|\n{rows}\n{wide}\n"
    path = tmp_path / "sensors.md"
    path.write_text(text, encoding="utf-8")
    loaded = read_file(text.encode(), path, "sensors.md", 10**8)

    chunks = chunk_file(loaded, file_hash(text.encode()), 64)

    assert len(chunks) > 3 and all(chunk.kind == "table" and chunk.table for chunk in chunks)
    numbers = [n for chunk in chunks for n in range(chunk.table.first_row, chunk.table.last_row + 1)]  # type: ignore[union-attr]
    assert numbers == list(range(1, 42))
    for chunk in chunks:
        assert chunk.table is not None
        expected = [row_text(chunk.table.columns, cells) for cells in chunk.table.cells]
        assert chunk.text.split("\n") == expected  # whole rows only
        assert chunk.start_line == 4 + chunk.table.first_row and chunk.end_line == 4 + chunk.table.last_row
    last = chunks[-1]
    assert last.table is not None and (last.table.first_row, last.table.last_row) == (41, 41)
    assert last.text.startswith("Sensor: Sensor 41; Reading: very") and last.text.endswith("Location: cabinet 9")
    assert len(last.sentences) > 1  # embedded in pieces of whole cells, kept as one row
    assert last.sentences[0][0] == 0 and last.sentences[-1][1] == len(last.text)


@pytest.mark.parametrize(
    ("html", "kinds"),
    [
        ("<table><tr><td>One box of page layout</td></tr></table>", {"article"}),
        ("<table><tr><td><table><tr><td>a</td><td>b</td></tr></table></td><td>c</td></tr></table>", {"article"}),
        ("<table><tr><td>left</td><td>right</td></tr></table>", {"table"}),
    ],
)
def test_tables_layout_tables_stay_text(tmp_path: Path, html: str, kinds: set[str]) -> None:
    page = f"<html><body><main><h1>Page</h1>{html}</main></body></html>"
    loaded = read_file(page.encode(), tmp_path / "p.html", "p.html", 10**8)

    chunks = chunk_file(loaded, "h", 160)

    assert {chunk.kind for chunk in chunks} == kinds


@pytest.mark.parametrize(
    ("columns", "cells", "text"),
    [
        (("Setting", "Default"), ("cache_size", "-2000"), "Setting: cache_size; Default: -2000"),
        (("Setting", "Default"), ("cache_size", ""), "Setting: cache_size"),
        (("", "Default"), ("cache_size", "-2000"), "cache_size; Default: -2000"),
        ((), ("Hoses", "the blue shed"), "Hoses | the blue shed"),
    ],
)
def test_tables_row_text_keeps_headers(columns: tuple[str, ...], cells: tuple[str, ...], text: str) -> None:
    assert row_text(columns, cells) == text
