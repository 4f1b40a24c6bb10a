"""The page's Search tab in headless Chromium, against `corpusqa ui` running in its own process (issue #15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER

_DONE = "#search-results .cqa-timings, #search-results .cqa-error"


def _search(page: Any, live_page: Any, query: str, top_k: int | None = None) -> Any:
    page.goto(live_page.url, wait_until="load")  # never "networkidle": the page keeps a connection open
    page.get_by_role("tab", name="Search").click()
    page.wait_for_selector("#search-query textarea, #search-query input")
    if top_k is not None:
        page.fill("#search-top-k input[type=number]", str(top_k))
        page.press("#search-top-k input[type=number]", "Tab")
    field = page.locator("#search-query textarea, #search-query input").first
    field.fill(query)
    field.press("Enter")
    page.wait_for_selector(_DONE)
    return page.locator("#search-results")


def test_search_tab_lists_passages_with_their_best_sentence(page: Any, live_page: Any, artifacts: Path) -> None:
    results = _search(page, live_page, EXAMPLE_QUESTION, top_k=5)
    page.screenshot(path=artifacts / "10-search.png")

    hits = results.locator(".cqa-hit")
    assert hits.count() == 5
    highlights = [hits.nth(i).locator(".cqa-highlight mark").inner_text() for i in range(5)]
    assert all(highlights) and any(EXAMPLE_ANSWER in text for text in highlights), highlights
    first = hits.first
    assert first.locator(".cqa-hit-head").inner_text().startswith("[1] ")
    assert "afghan_prisoner_release_2020.txt" in first.locator(".cqa-meta").inner_text()
    evidence = hits.filter(has_text=EXAMPLE_ANSWER).first
    evidence.locator("summary").click()  # the whole passage, the sentence marked inside it
    assert EXAMPLE_ANSWER in evidence.locator(".cqa-passage mark").inner_text()
    assert "5 passages in" in results.locator(".cqa-timings").inner_text()
    assert page.offsite == []


def test_search_tab_shows_an_empty_query_as_one_message(page: Any, live_page: Any) -> None:
    results = _search(page, live_page, "   ")

    assert "The question is empty" in results.locator(".cqa-error").inner_text()
    assert results.locator(".cqa-hit").count() == 0
