"""Table rows show as a table on the page and name the table and rows in the terminal; OCR'd text says so."""

from __future__ import annotations

from corpusqa.types import Answer, Citation, TableRows
from ingest.formats.tables import row_text
from ui import render, web

TABLE = TableRows(
    "Apple <Varieties>", 2, 3, ("Variety", "Storage life"), (("Egremont Russet", "three months"), ("Discovery", "two weeks"))
)
TEXT = "\n".join(row_text(TABLE.columns, cells) for cells in TABLE.cells)


def _answer(table: TableRows | None, ocr: float | None) -> Answer:
    citation = Citation(
        id=1, source="orchard.md", title="Apples", kind="table" if table else "article", start_line=7, end_line=8,
        text=TEXT, score=0.5, highlight=TEXT.split("\n")[1], table=table, ocr_confidence=ocr,
    )
    return Answer("How long?", "two weeks [1]", False, "extractive", 0.01, [citation])


def test_render_table_citation_shows_rows_under_headers() -> None:
    html = web.render_answer(_answer(TABLE, None), "a")

    assert '<table class="cqa-passage cqa-table"><thead><tr><th>Variety</th><th>Storage life</th></tr></thead>' in html
    assert '<tr class="cqa-row-mark"><td>Discovery</td><td>two weeks</td></tr>' in html  # the answering row
    assert "<tr><td>Egremont Russet</td><td>three months</td></tr>" in html
    assert "table &quot;Apple &lt;Varieties&gt;&quot;, rows 2-3" in html  # escaped
    assert '[1] orchard.md, lines 7-8, table "Apple <Varieties>", rows 2-3 (table): Apples' in render.render_answer(_answer(TABLE, None))


def test_render_ocr_citation_names_its_confidence() -> None:
    answer = _answer(None, 87.44)

    assert "(article, OCR 87% confidence)" in render.render_answer(answer)
    assert "article · OCR, 87% confidence" in web.render_answer(answer, "a")
    cited = answer.citations[0].to_json()
    assert (cited["ocr"], cited["ocr_confidence"], cited["table"]) == (True, 87.4, None)


def test_render_plain_citation_json_has_the_new_fields_empty() -> None:
    cited = _answer(None, None).citations[0].to_json()

    assert (cited["ocr"], cited["ocr_confidence"], cited["table"]) == (False, None, None)
    assert _answer(TABLE, None).citations[0].to_json()["table"] == {
        "name": "Apple <Varieties>", "rows": [2, 3], "columns": ["Variety", "Storage life"],
        "cells": [["Egremont Russet", "three months"], ["Discovery", "two weeks"]],
    }
