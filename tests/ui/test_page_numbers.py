"""A PDF citation names its page in the terminal and on the page; other formats show lines only."""

from __future__ import annotations

import pytest

from corpusqa.types import Answer, Citation
from ui import render, web


def _answer(page: int | None) -> Answer:
    citation = Citation(
        id=1, source="guide.pdf", title="Care › Watering", kind="article", start_line=3, end_line=5,
        text="Water the fern twice a week.", score=0.5, highlight="Water the fern twice a week.", page=page,
    )
    return Answer("How often?", "Water the fern twice a week. [1]", False, "extractive", 0.01, [citation])


@pytest.mark.parametrize(("page", "cli", "html"), [(2, "page 2, lines 3-5", "page 2 · lines 3–5"), (None, "lines 3-5", "lines 3–5")])
def test_render_citation_names_the_pdf_page(page: int | None, cli: str, html: str) -> None:
    assert f"[1] guide.pdf, {cli} (article): Care › Watering" in render.render_answer(_answer(page))
    assert f"<code>guide.pdf</code> · {html} · article" in web.render_answer(_answer(page), "a")
