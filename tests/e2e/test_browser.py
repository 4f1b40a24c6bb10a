"""The chat page in headless Chromium, against `corpusqa ui` running in its own process."""

from __future__ import annotations

import random
import re
import signal
from pathlib import Path
from typing import Any

from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER, NEW_DOC, NEW_DOC_NAME, NEW_DOC_QUESTION, UNANSWERABLE
from support.servers import serve_asgi

from corpusqa.settings import Settings

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
_DONE = "#chat .cqa-timings, #chat .cqa-error"


def _open(page: Any, live_page: Any) -> None:
    page.goto(live_page.url, wait_until="load")  # never "networkidle": the page keeps a connection open
    page.wait_for_selector("#question textarea")


def _wait_for_reply(page: Any, before: int) -> Any:
    """Wait until the chat holds one more finished reply; return the last assistant message."""
    page.wait_for_function(f"n => document.querySelectorAll({_DONE!r}).length > n", arg=before)
    return page.locator("#chat .message.bot").last


def _ask(page: Any, question: str) -> Any:
    before = page.locator(_DONE).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return _wait_for_reply(page, before)


def _show_top_of(message: Any) -> None:
    """Scroll the chat so that the reply starts at the top (the chat scrolls to its end by itself)."""
    message.evaluate("element => element.scrollIntoView({block: 'start'})")
    message.page.wait_for_timeout(300)


def test_page_answers_the_example_question_with_its_source(page: Any, live_page: Any, artifacts: Path) -> None:
    _open(page, live_page)
    page.screenshot(path=artifacts / "01-first-visit.png")
    page.locator("#chat").get_by_text(EXAMPLE_QUESTION).click()  # an example card for first-time visitors
    reply = _wait_for_reply(page, 0)
    _show_top_of(reply)
    page.screenshot(path=artifacts / "02-example-answer.png")
    answer = reply.locator(".cqa-answer").inner_text()
    assert EXAMPLE_ANSWER in answer, reply.inner_text()
    source = reply.locator(".cqa-source").first
    assert EXAMPLE_ANSWER in source.locator("mark").inner_text()
    meta = source.locator(".cqa-meta").inner_text()
    assert "afghan_prisoner_release_2020.txt" in meta and re.search(r"lines? \d+", meta)
    assert re.search(r"· (article|reader comment)( · open the source)?$", meta)
    assert source.locator(".cqa-source-head").inner_text().startswith("[1] ")
    timings = reply.locator(".cqa-timings").inner_text()
    assert all(stage in timings for stage in ("embedding", "retrieval", "answering")), timings
    reply.locator("a.cqa-cite").first.click()  # a citation marker leads to its passage
    assert page.evaluate("() => location.hash") == "#" + source.get_attribute("id")
    assert source.evaluate("element => element.matches(':target')")
    assert page.offsite == []
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    _show_top_of(reply)
    page.screenshot(path=DOCS_SCREENSHOT)


def test_page_abstains_plainly_and_shows_closest_passages(page: Any, live_page: Any, artifacts: Path) -> None:
    _open(page, live_page)
    reply = _ask(page, UNANSWERABLE)
    _show_top_of(reply)
    page.screenshot(path=artifacts / "03-abstention.png")
    assert "The documents do not answer this question." in reply.locator(".cqa-abstain").inner_text()
    assert "Closest passages found" in reply.locator(".cqa-sources summary").inner_text()
    assert reply.locator(".cqa-source").count() == 3
    assert reply.locator("mark").count() == 0
    assert page.offsite == []


def test_page_streams_an_llm_answer_with_linked_citations(page: Any, live_page: Any, artifacts: Path) -> None:
    _open(page, live_page)
    page.locator("#backend").get_by_text("LLM: llama3.2").click()
    page.locator("#top-k input[type=number]").fill("3")
    page.locator("#top-k input[type=number]").press("Enter")
    reply = _ask(page, EXAMPLE_QUESTION)
    _show_top_of(reply)
    page.screenshot(path=artifacts / "04-llm-answer.png")
    assert "(openai)" in reply.locator(".cqa-timings").inner_text()
    cites = reply.locator("a.cqa-cite")
    assert cites.count() >= 1
    number = cites.first.inner_text()
    assert reply.locator(".cqa-source-head").first.inner_text().startswith(number)
    request = live_page.llm.requests[-1]
    assert request["stream"] is True and request["model"] == "llama3.2"
    assert re.findall(r"^\[(\d+)\]", request["messages"][-1]["content"], re.MULTILINE) == ["1", "2", "3"]  # top-k 3
    assert page.offsite == []


def test_page_shows_a_failing_llm_server_as_one_message(page: Any, live_page: Any, artifacts: Path) -> None:
    _open(page, live_page)
    page.locator("#backend").get_by_text("LLM: llama3.2").click()
    live_page.llm.mode = "error500"
    try:
        reply = _ask(page, EXAMPLE_QUESTION)
    finally:
        live_page.llm.mode = "normal"
    page.screenshot(path=artifacts / "05-llm-error.png")
    error = reply.locator(".cqa-error")
    assert error.count() == 1
    text = error.inner_text()
    assert text.startswith("Could not answer:") and "LLM server" in text and len(text.splitlines()) == 1
    assert "Traceback" not in page.inner_text("body")
    assert page.offsite == []


def test_page_uploads_a_document_and_answers_from_it(
    page: Any, live_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    (tmp_path / NEW_DOC_NAME).write_text(NEW_DOC)
    (tmp_path / "empty.txt").write_bytes(b"")
    _open(page, live_page)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#index-status .cqa-status")
    page.screenshot(path=artifacts / "06-documents.png")
    assert "afghan_prisoner_release_2020.txt" in page.inner_text("#index-status")
    page.set_input_files("#upload input[type=file]", [str(tmp_path / NEW_DOC_NAME), str(tmp_path / "empty.txt")])
    for name in (NEW_DOC_NAME, "empty.txt"):  # listed with a size once the upload finished (not while uploading)
        page.wait_for_selector(f'#upload td.filename[aria-label="{name}"]')
    page.click("#upload-button")
    page.wait_for_selector("#ingest-summary >> text=Ingest finished")
    page.screenshot(path=artifacts / "07-uploaded.png")
    summary = page.inner_text("#ingest-summary")
    assert "1 added" in summary and f"added: {NEW_DOC_NAME}" in summary
    assert "not uploaded: empty.txt: the file is empty" in summary
    assert NEW_DOC_NAME in page.inner_text("#index-status")
    assert (live_page.settings.corpus_dir / NEW_DOC_NAME).read_text() == NEW_DOC
    assert not (live_page.settings.corpus_dir / "empty.txt").exists()

    page.get_by_role("tab", name="Chat").click()
    reply = _ask(page, NEW_DOC_QUESTION)
    _show_top_of(reply)
    page.screenshot(path=artifacts / "08-answer-from-upload.png")
    assert "Amina Juma" in reply.locator(".cqa-answer").inner_text(), reply.inner_text()
    assert NEW_DOC_NAME in reply.locator(".cqa-source .cqa-meta").first.inner_text()
    assert page.offsite == []


def test_page_upload_replaces_a_document_only_when_ticked(
    page: Any, live_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    """Issue #13 item 1: a same-named upload is refused, or replaces with the old version kept in trash/."""
    corpus, index = live_page.settings.corpus_dir, live_page.settings.index_dir
    before = (corpus / NEW_DOC_NAME).read_text()
    (tmp_path / NEW_DOC_NAME).write_text(NEW_DOC + "\nThe lighthouse was repainted white in 2021.\n")
    _open(page, live_page)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#index-status .cqa-status")
    for tick in (False, True):
        if tick:
            page.check("#upload-replace input[type=checkbox]")
        page.set_input_files("#upload input[type=file]", [str(tmp_path / NEW_DOC_NAME)])
        page.wait_for_selector(f'#upload td.filename[aria-label="{NEW_DOC_NAME}"]')
        page.click("#upload-button")
        expected = "previous version is kept" if tick else "tick “Replace documents of the same name”"
        page.wait_for_selector(f"#ingest-summary >> text={expected}")
    page.screenshot(path=artifacts / "08b-replaced.png")
    assert f"updated: {NEW_DOC_NAME}" in page.inner_text("#ingest-summary")
    assert "repainted white" in (corpus / NEW_DOC_NAME).read_text()
    assert [path.read_text() for path in (index / "trash").iterdir()] == [before]
    assert page.offsite == []


def test_docs_render_offline(page: Any, live_page: Any, artifacts: Path) -> None:
    """Issue #13 item 10: /docs loaded Swagger UI from a CDN."""
    page.goto(live_page.url.rstrip("/") + "/docs", wait_until="load")
    page.wait_for_selector(".swagger-ui .opblock-summary-path")
    paths = page.inner_text(".swagger-ui").replace("\u200b", "")  # Swagger UI breaks paths with zero-width spaces
    assert "/v1/chat/completions" in paths and "/v1/ask" in paths
    page.screenshot(path=artifacts / "08c-docs.png")
    assert page.offsite == []


def test_page_reingest_shows_progress_then_the_summary(page: Any, live_page: Any, artifacts: Path) -> None:
    corpus = live_page.settings.corpus_dir
    rng = random.Random(6)
    words = ["river", "bridge", "council", "market", "harvest", "school", "library", "railway", "festival", "museum", "harbour", "tower", "garden"]
    for number in range(5):  # enough new text that embedding takes a few seconds
        lines = [
            f"In town {number}, the {a} near the {b} reopened in {1900 + year} after the {c} closed."
            for year, (a, b, c) in enumerate(rng.sample(words, 3) for _ in range(120))
        ]
        (corpus / f"town_{number}.txt").write_text("\n".join(lines))
    (corpus / "notes.xlsx").write_bytes(b"PK")
    _open(page, live_page)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#index-status .cqa-status")
    page.click("#reingest")
    page.wait_for_selector("#ingest-summary >> text=Indexing documents")
    page.screenshot(path=artifacts / "09-reingest-progress.png")
    page.wait_for_selector("#ingest-summary >> text=Ingest finished")
    page.screenshot(path=artifacts / "10-reingest-done.png")
    summary = page.inner_text("#ingest-summary")
    assert re.search(r"5 added, 0 updated, \d+ unchanged, 0 deleted, 1 skipped", summary), summary
    assert "skipped: notes.xlsx: unsupported file type .xlsx" in summary
    assert "town_4.txt" in page.inner_text("#index-status")
    assert page.offsite == []


def test_gradio_client_calls_the_running_page(live_page: Any) -> None:
    from gradio_client import Client

    client = Client(live_page.url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        message, details = client.predict(UNANSWERABLE, "extractive", 2, api_name="/ask")
        status = client.predict(api_name="/status")
        answered = client.predict(EXAMPLE_QUESTION, "extractive", 5, api_name="/ask")
    finally:
        client.close()
    assert details["abstained"] is True and message.count('class="cqa-source"') == 2
    assert status["index_dir"] == str(live_page.settings.index_dir) and status["chunks"] > 0
    assert EXAMPLE_ANSWER in answered[1]["answer"], answered[1]
    assert answered[1]["citations"][0]["source"] == "afghan_prisoner_release_2020.txt"


def test_page_with_auth_asks_for_the_password(page: Any, bundled_index: Settings, embedder: Any, artifacts: Path) -> None:
    from rag import Engine
    from ui.server import build_app

    settings = bundled_index.model_copy(update={"ui_auth": "reader:s3cret"})
    with serve_asgi(build_app(Engine(settings, embedder), settings)) as url:
        page.goto(url, wait_until="load")
        page.wait_for_selector("input[type=password]")
        page.screenshot(path=artifacts / "11-login.png")
        assert page.locator("#question textarea").count() == 0
        page.locator("input[type=text]").first.fill("reader")
        page.locator("input[type=password]").fill("s3cret")
        page.locator("input[type=password]").press("Enter")
        page.wait_for_selector("#question textarea")
        reply = _ask(page, UNANSWERABLE)
        assert reply.locator(".cqa-abstain").count() == 1
    assert page.offsite == []



def test_page_with_an_api_key_takes_the_key_as_password(
    page: Any, bundled_index: Settings, embedder: Any, artifacts: Path
) -> None:
    """Issue #13 item 7: with a key set, the page asks for it (any user name), then answers."""
    from rag import Engine
    from ui.server import build_app

    settings = bundled_index.model_copy(update={"api_key": "k3y-for-the-browser"})
    with serve_asgi(build_app(Engine(settings, embedder), settings)) as url:
        page.goto(url, wait_until="load")
        page.wait_for_selector("input[type=password]")
        assert page.locator("#question textarea").count() == 0
        page.locator("input[type=text]").first.fill("anyone")
        page.locator("input[type=password]").fill("k3y-for-the-browser")
        page.locator("input[type=password]").press("Enter")
        page.wait_for_selector("#question textarea")
        reply = _ask(page, EXAMPLE_QUESTION)
        assert EXAMPLE_ANSWER in reply.locator(".cqa-answer").inner_text()
        page.screenshot(path=artifacts / "11b-key-login.png")
    assert page.offsite == []


def test_page_over_an_empty_index_says_so_in_the_chat(page: Any, tmp_path: Path, embedder: Any, artifacts: Path) -> None:
    from corpusqa.settings import load_settings
    from rag import Engine
    from ui.server import build_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    with serve_asgi(build_app(Engine(settings, embedder), settings)) as url:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#question textarea")
        reply = _ask(page, EXAMPLE_QUESTION)
        page.screenshot(path=artifacts / "12-empty-index.png")
        error = reply.locator(".cqa-error")
        assert error.count() == 1 and "is empty" in error.inner_text()
        assert reply.locator(".cqa-timings").count() == 0
    assert page.offsite == []


def test_page_holds_a_three_turn_conversation(page: Any, live_page: Any, artifacts: Path) -> None:
    """Follow-ups lean on the chat's earlier turns; each answer cites its own passage; New conversation forgets."""
    _open(page, live_page)
    first = _ask(page, "Who is Mark Frerichs?")
    assert "Frerichs" in first.locator(".cqa-source").first.inner_text()
    second = _ask(page, "Where was he captured?")
    assert second.locator(".cqa-searched").inner_text() == "Searched for: Where was Mark Frerichs captured?"
    assert "Khost" in second.locator(".cqa-answer").inner_text()
    assert "Khost" in second.locator(".cqa-source").first.locator("mark").inner_text()
    third = _ask(page, "How old is he?")
    assert third.locator(".cqa-searched").inner_text() == "Searched for: How old is Mark Frerichs?"
    assert "57" in third.locator(".cqa-answer").inner_text()
    assert "57-year-old" in third.locator(".cqa-source").first.locator("mark").inner_text()
    _show_top_of(second)
    page.screenshot(path=artifacts / "conversation-three-turns.png")

    page.click("#new-conversation")
    page.wait_for_function("() => document.querySelectorAll('#chat .message.bot').length === 0")
    fresh = _ask(page, "Where was he captured?")
    assert fresh.locator(".cqa-searched").count() == 0  # nothing to lean on any more


def test_cli_ui_stops_cleanly_on_ctrl_c(page: Any, live_page: Any) -> None:
    """Last in the module: it stops the shared page. An open tab keeps a stream that shutdown must cut."""
    _open(page, live_page)
    _ask(page, UNANSWERABLE)
    live_page.process.send_signal(signal.SIGINT)
    assert live_page.process.wait(timeout=30) == 0
    log = live_page.log.read_text()
    assert "Stopped." in log and "Traceback" not in log and "ERROR" not in log, log
    assert log.splitlines()[-2].startswith("Chat page on http://127.0.0.1:") and log.splitlines()[-1] == "Stopped."
