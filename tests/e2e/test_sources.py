"""From a citation to its source, in headless Chromium: a PDF opens at its page, Markdown at the marked
sentence; the page runs with `--watch`, so the Markdown file is one written while it runs."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.documents import NEW_DOC, NEW_DOC_NAME, NEW_DOC_QUESTION, make_pdf_pages
from support.pages import LivePage, start_page

CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "corpus"
PDF_NAME = "canal_notes.pdf"
PDF_PAGES = [
    ["Canal notes, first part.", "The towpath runs beside the water for eleven miles.", "Horses pulled the boats until 1950."],
    ["Canal notes, second part.", "The Lowmoor sluice gate was rebuilt in 1911 by the canal company.",
     "It lifts on two iron chains."],
]
PDF_QUESTION = "When was the Lowmoor sluice gate rebuilt?"
_DONE = "#chat .cqa-timings, #chat .cqa-error"


@pytest.fixture(scope="module")
def watched_page(tmp_path_factory: pytest.TempPathFactory, embedder: Any, model_cache: Path) -> Iterator[LivePage]:
    root = tmp_path_factory.mktemp("sources-page")
    corpus = root / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    (corpus / PDF_NAME).write_bytes(make_pdf_pages(PDF_PAGES))
    with start_page(root, corpus, embedder, model_cache, "--watch", log_name="corpusqa-ui-watch.log") as live:
        yield live


def _ask(page: Any, question: str) -> Any:
    before = page.locator(_DONE).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"n => document.querySelectorAll({_DONE!r}).length > n", arg=before)
    return page.locator("#chat .message.bot").last


def _documents(live: LivePage) -> int:
    return int(httpx.get(live.url + "v1/status", timeout=30).json()["document_count"])


def test_pdf_citation_opens_the_pdf_at_the_cited_page(page: Any, watched_page: LivePage) -> None:
    from pypdf import PdfReader

    page.goto(watched_page.url, wait_until="load")
    reply = _ask(page, PDF_QUESTION)
    source = reply.locator(".cqa-source").first
    assert PDF_NAME in source.locator(".cqa-meta").inner_text() and "page 2" in source.inner_text()
    link = source.locator("a.cqa-open")
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_load_state()
    assert viewer.url.endswith("#page=2"), viewer.url
    served = viewer.request.get(viewer.url.split("#", 1)[0])  # the same browser context: its cookies, its origin
    assert served.ok and served.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(served.body()))
    assert "rebuilt in 1911" in (pdf.pages[1].extract_text() or "")
    assert page.offsite == []


def test_markdown_written_while_watching_is_cited_and_opens_at_the_marked_sentence(
    page: Any, watched_page: LivePage, artifacts: Path
) -> None:
    page.goto(watched_page.url, wait_until="load")
    page.wait_for_selector("#index-changed .cqa-changed")
    shown = page.locator("#index-changed").inner_text()
    assert "Index last changed" in shown
    ready = time.monotonic() + 120
    while "unchanged" not in watched_page.log.read_text(errors="replace"):  # the watcher's catch-up run is done
        assert time.monotonic() < ready, watched_page.log.read_text()
        time.sleep(0.5)
    before = _documents(watched_page)
    time.sleep(1.1)  # so the new ingest's time (whole seconds) differs from the first one's
    (watched_page.settings.corpus_dir / NEW_DOC_NAME).write_text(NEW_DOC, encoding="utf-8")
    deadline = time.monotonic() + 15  # the bound: asked within 15 s of the edit, the new text answers
    while _documents(watched_page) == before:
        assert time.monotonic() < deadline, "the watcher did not ingest the new file within 15 s"
        time.sleep(0.25)
    page.wait_for_function("old => document.querySelector('#index-changed').innerText !== old", arg=shown, timeout=15_000)
    reply = _ask(page, NEW_DOC_QUESTION)
    source = reply.locator(".cqa-source").first
    assert NEW_DOC_NAME in source.locator(".cqa-meta").inner_text()
    with page.context.expect_page() as opened:
        source.locator("a.cqa-open").click()
    view = opened.value
    view.wait_for_load_state()
    assert view.url.endswith("#cqa-mark"), view.url
    assert view.locator("h1").inner_text() == "The Kizimkazi lighthouse"  # rendered, not raw Markdown
    mark = view.locator("mark#cqa-mark")
    assert "Amina Juma" in mark.inner_text()
    assert mark.evaluate("element => element.closest('.cqa-passage') !== null")
    box = mark.bounding_box()
    assert box is not None and 0 <= box["y"] < view.viewport_size["height"]  # scrolled to it
    view.screenshot(path=artifacts / "20-source-view.png")
    assert page.offsite == []
