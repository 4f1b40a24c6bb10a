"""The chat page without a browser: formatting, uploads, handlers over the real engine, the real server."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER, NEW_DOC, NEW_DOC_NAME, NEW_DOC_QUESTION, UNANSWERABLE
from support.openai_server import FakeOpenAIServer
from support.servers import free_port, serve_asgi

import ui.web
from corpusqa.settings import Settings, load_settings
from corpusqa.types import Answer, Chunk, Citation, ScoredChunk, Timings
from rag import Engine
from ui import web_documents
from ui.cli import cli
from ui.server import build_app
from ui.web import ChatPage, build_blocks, highlight_passage, render_answer, render_error, turns_from_chat
from ui.web_documents import SavedUpload, UploadRejected, render_report, save_uploads, upload_target


def _noop_progress(*args: Any, **kwargs: Any) -> None:
    """Stands in for gr.Progress when a handler is called outside a Gradio event."""


def _final(page: ChatPage, question: str, backend: str = "extractive", top_k: int = 5) -> tuple[str, Any, int]:
    """Drive the chat handler to the end: (last message, last JSON value, number of yields)."""
    events = list(page.ask(question, [], backend, top_k))
    message, details = events[-1]
    return message, details, len(events)


@contextmanager
def _gradio_client(url: str, **kwargs: Any) -> Iterator[Any]:
    """gradio_client over the page; its telemetry is on unless switched off explicitly."""
    from gradio_client import Client

    client = Client(url + "/", verbose=False, analytics_enabled=False, download_files=False, **kwargs)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def private_index(tmp_path: Path, corpus_copy: Path, embedder: Any) -> Settings:
    """Settings of an index of its own (over a writable corpus copy), for tests that change it."""
    settings = load_settings(index_dir=tmp_path / "private-index", corpus_dir=corpus_copy)
    Engine(settings, embedder).ingest([corpus_copy])
    return settings


# ---- module surface ---------------------------------------------------------------------------------


def test_web_all_names_exist() -> None:
    assert sorted(ui.web.__all__) == sorted(set(ui.web.__all__))
    for name in ui.web.__all__:
        assert hasattr(ui.web, name), name


def test_web_example_questions_are_in_no_eval_question_set() -> None:
    # the page must not show off with the eval's own wording; the project's own example may stay (issue #23)
    import json
    import re

    def norm(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.lower()))

    asked = set()
    for path in (Path(__file__).resolve().parents[2] / "evals" / "corpora").glob("*/questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            asked |= {norm(q) for q in [item["question"], *item.get("paraphrases", [])]}
    assert len(asked) > 500
    assert ui.web.EXAMPLE_QUESTIONS[0] == EXAMPLE_QUESTION
    assert [q for q in ui.web.EXAMPLE_QUESTIONS[1:] if norm(q) in asked] == []


def test_web_import_switches_off_gradio_analytics() -> None:
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


# ---- formatting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentence", "expected"),
    [
        ("One. Two is here. Three.", "Two is here.", "One. <mark>Two is here.</mark> Three."),
        ("One.\nTwo  is\nhere. Three.", "Two is here.", "One. <mark>Two is here.</mark> Three."),
        ("A <b>bold</b> claim & more.", "A <b>bold</b> claim & more.", "<mark>A &lt;b&gt;bold&lt;/b&gt; claim &amp; more.</mark>"),
        ("<script>alert(1)</script> Fine.", "", "&lt;script&gt;alert(1)&lt;/script&gt; Fine."),
        ("Para one.\n\nPara two.", "Para two.", "Para one.<br><mark>Para two.</mark>"),
        ("Nothing matches here.", "Absent sentence.", "Nothing matches here."),
    ],
)
def test_highlight_passage_marks_and_escapes(text: str, sentence: str, expected: str) -> None:
    assert highlight_passage(text, sentence) == expected


def _chunk(number: int, kind: str = "article") -> Chunk:
    text = f"Intro sentence {number}. The <key> fact {number} is here & now.\n\nA closing line."
    return Chunk(f"c{number}", text, f"doc{number}.txt", f"Headline {number}", kind, 10 * number, 10 * number + 4, 0, len(text), "h")


def _answer(abstained: bool, kind: str = "article") -> Answer:
    chunks = [_chunk(n, kind) for n in (1, 2, 3, 4)]
    retrieved = [ScoredChunk(chunk, 1.0 / n) for n, chunk in enumerate(chunks, start=1)]
    citations = [] if abstained else [
        Citation(1, "doc1.txt", "Headline 1", kind, 10, 14, chunks[0].text, 0.9, "c1", "The <key> fact 1 is here & now.")
    ]
    text = "The documents do not say." if abstained else "The <key> fact 1 is here & now. [1] [7]"
    return Answer("q", text, abstained, "extractive", 0.1234, citations, Timings(0.012, 0.003, 0.1084), retrieved)


def test_render_answer_links_markers_to_the_highlighted_passage() -> None:
    html = render_answer(_answer(abstained=False), "cqa-abc")
    assert '<a class="cqa-cite" href="#cqa-abc-1"' in html
    assert "[7]" in html and 'href="#cqa-abc-7"' not in html  # a marker with no citation stays text
    assert 'id="cqa-abc-1"' in html
    assert "Headline 1" in html and "<code>doc1.txt</code>" in html and "lines 10–14" in html and "article" in html
    assert "<mark>The &lt;key&gt; fact 1 is here &amp; now.</mark>" in html
    assert "<key>" not in html  # nothing from a document reaches the page unescaped
    assert "\n" not in html  # a blank line would end the HTML block inside the chat's Markdown
    assert "123 ms in all: embedding 12 ms · retrieval 3 ms · answering 108 ms (extractive)" in html


def test_render_answer_labels_reader_comments() -> None:
    assert "reader comment" in render_answer(_answer(abstained=False, kind="comment"), "a")


def test_render_answer_abstention_says_so_and_shows_closest_passages() -> None:
    html = render_answer(_answer(abstained=True), "cqa-x")
    assert "The documents do not answer this question." in html
    assert "Closest passages found (they do not answer the question)" in html
    assert html.count('class="cqa-source"') == 3
    assert "<mark>" not in html and "cqa-cite" not in html


def test_render_error_is_one_escaped_line() -> None:
    html = render_error(ValueError("No <index> in /tmp/x; run `corpusqa ingest` first."))
    assert html == (
        '<div class="cqa-error"><strong>Could not answer:</strong> '
        "No &lt;index&gt; in /tmp/x; run `corpusqa ingest` first.</div>"
    )


def test_render_report_without_report_lists_rejected_uploads() -> None:
    from corpusqa.types import Skipped

    assert render_report(None, [Skipped("a.exe", "unsupported <type>")]) == (
        "<ul><li>not uploaded: <code>a.exe</code>: unsupported &lt;type&gt;</li></ul>"
    )


# ---- uploads --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["notes.txt", "Report 2020.PDF", "page.html", "readme.markdown", "x.htm", "é.md"])
def test_upload_target_accepts_plain_names_of_supported_types(tmp_path: Path, name: str) -> None:
    assert upload_target(tmp_path, name) == tmp_path.resolve() / name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.txt", "plain name"),
        ("sub/inner.txt", "plain name"),
        ("..\\escape.txt", "plain name"),
        ("/etc/passwd.txt", "plain name"),
        ("..", "plain name"),
        ("", "plain name"),
        ("bad\x00name.txt", "plain name"),
        ("new\nline.txt", "plain name"),
        (".hidden.txt", "hidden"),
        (".env", "hidden"),
        ("tool.exe", "unsupported file type .exe"),
        ("archive.tar.gz", "unsupported file type .gz"),
        ("noextension", "unsupported file type (none)"),
        ("x" * 300 + ".txt", "too long"),
    ],
)
def test_upload_target_rejects_bad_names(tmp_path: Path, name: str, reason: str) -> None:
    with pytest.raises(UploadRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        upload_target(tmp_path, name)


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("\u202etxt.exe.md", "txt.exe.md"),  # displayed as "dm.exe.txt" with the override kept
        ("no\u200btes.txt", "notes.txt"),
        ("\ufeffreport.md", "report.md"),
        ("\u2066a\u2069\u200f.html", "a.html"),
    ],
)
def test_upload_target_drops_bidi_and_invisible_characters(tmp_path: Path, name: str, saved: str) -> None:
    assert upload_target(tmp_path, name) == tmp_path.resolve() / saved


def test_upload_target_judges_the_name_without_its_invisible_characters(tmp_path: Path) -> None:
    with pytest.raises(UploadRejected, match="hidden"):
        upload_target(tmp_path, "\u200b.env.md")
    with pytest.raises(UploadRejected, match="plain name"):
        upload_target(tmp_path, "\u202e\u200b")


def test_upload_target_rejects_a_symlink_that_leads_outside(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "trap.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(UploadRejected, match="outside the corpus folder"):
        upload_target(corpus, "trap.txt")


def test_save_uploads_writes_only_good_files_into_the_corpus(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "good.md").write_text("# Good\n\nSome text.\n")
    (incoming / "big.txt").write_bytes(b"x" * 3000)
    (incoming / "empty.txt").write_bytes(b"")
    (incoming / "tool.exe").write_bytes(b"MZ")
    corpus = tmp_path / "corpus"  # created on demand
    files = [incoming / name for name in ("good.md", "big.txt", "empty.txt", "tool.exe")]
    saved, rejected = save_uploads(files, corpus, max_mb=0.002, inbox=incoming)
    assert saved == [SavedUpload("good.md")]
    assert {(r.path, r.reason.split(" (")[0]) for r in rejected} == {
        ("big.txt", "the file is larger than 0.002 MB"),
        ("empty.txt", "the file is empty"),
        ("tool.exe", "unsupported file type .exe"),
    }
    assert sorted(os.listdir(corpus)) == ["good.md"]  # no temporary files left behind
    assert (corpus / "good.md").read_text() == "# Good\n\nSome text.\n"
    assert stat.S_IMODE((corpus / "good.md").stat().st_mode) == 0o644


def test_save_uploads_refuses_an_existing_name_unless_asked_to_replace(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc.txt").write_text("old text")
    new = tmp_path / "doc.txt"
    new.write_text("new text")
    saved, rejected = save_uploads([new], corpus, max_mb=1, inbox=tmp_path)
    assert saved == [] and [r.path for r in rejected] == ["doc.txt"]
    assert "exists" in rejected[0].reason and "Replace documents of the same name" in rejected[0].reason
    assert (corpus / "doc.txt").read_text() == "old text"
    trash = tmp_path / "index" / "trash"
    saved, rejected = save_uploads([new], corpus, max_mb=1, inbox=tmp_path, replace=True, trash=trash)
    assert rejected == [] and saved[0].name == "doc.txt" and saved[0].previous is not None
    assert (corpus / "doc.txt").read_text() == "new text"
    assert saved[0].previous.parent == trash and saved[0].previous.read_text() == "old text"
    assert sorted(os.listdir(corpus)) == ["doc.txt"]  # no staging folder left behind


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("doc.txt", b"   \n\t\n  ", "empty file"),
        ("doc.txt", bytes(range(256)) * 8, "binary"),
        ("scan.pdf", b"this is not a PDF at all", "cannot be ingested"),
    ],
)
def test_save_uploads_never_replaces_a_document_with_an_unreadable_file(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_bytes(b"%PDF-old" if name.endswith(".pdf") else b"The good old text.")
    before = (corpus / name).read_bytes()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes(content)
    saved, rejected = save_uploads([inbox / name], corpus, 1, inbox, replace=True, trash=tmp_path / "trash")
    assert saved == [] and reason in rejected[0].reason, rejected
    assert (corpus / name).read_bytes() == before
    assert os.listdir(corpus) == [name] and not (tmp_path / "trash").exists()


def test_save_uploads_keeps_a_limited_number_of_old_versions(tmp_path: Path) -> None:
    corpus, inbox, trash = tmp_path / "corpus", tmp_path / "inbox", tmp_path / "trash"
    inbox.mkdir()
    corpus.mkdir()
    (corpus / "doc.md").write_text("version 0")
    for number in range(1, 6):
        (inbox / "doc.md").write_text(f"version {number}")
        saved, _ = save_uploads([inbox / "doc.md"], corpus, 1, inbox, replace=True, trash=trash, keep=3)
        assert saved[0].previous is not None and saved[0].previous.read_text() == f"version {number - 1}"
    assert sorted(path.read_text() for path in trash.iterdir()) == ["version 2", "version 3", "version 4"]
    assert (corpus / "doc.md").read_text() == "version 5"


@pytest.mark.parametrize("keep", [1, 2])
def test_save_uploads_never_drops_the_version_it_just_kept(tmp_path: Path, keep: int) -> None:
    """A trash entry stamped later than now (the clock was set back, or summer time ended) must not push
    the version just replaced out of a full trash: that version exists nowhere else."""
    corpus, inbox, trash = tmp_path / "corpus", tmp_path / "inbox", tmp_path / "trash"
    for folder in (corpus, inbox, trash):
        folder.mkdir()
    (trash / "29991231T235959000000000-other.md").write_text("a version kept under a clock that ran ahead")
    (corpus / "doc.md").write_text("the only copy of version 1")
    (inbox / "doc.md").write_text("version 2")

    saved, rejected = save_uploads([inbox / "doc.md"], corpus, 1, inbox, replace=True, trash=trash, keep=keep)

    assert rejected == [] and saved[0].previous is not None
    assert saved[0].previous.read_text() == "the only copy of version 1"
    assert len(list(trash.iterdir())) == keep


def test_save_uploads_never_overwrites_a_file_that_appeared_while_it_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another server on the same folder (or an editor) saves doc.md while this upload is being read:
    without replace, the upload must not silently overwrite it."""
    corpus, inbox = tmp_path / "corpus", tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "doc.md").write_text("# Upload\n\nThe upload says the heron fishes at dawn.\n")
    real_check = web_documents._check_readable

    def check_while_another_writer_saves(path: Path, max_mb: float) -> None:
        real_check(path, max_mb)
        (corpus / "doc.md").write_text("the other writer's only copy")

    monkeypatch.setattr(web_documents, "_check_readable", check_while_another_writer_saves)
    saved, rejected = save_uploads([inbox / "doc.md"], corpus, 1, inbox, trash=tmp_path / "trash")

    assert saved == [] and [r.reason for r in rejected] == [
        "a document of that name exists; tick “Replace documents of the same name” to replace it"
    ]
    assert (corpus / "doc.md").read_text() == "the other writer's only copy"
    assert [p.name for p in corpus.iterdir()] == ["doc.md"]  # no staging folder left behind


def test_save_uploads_refuses_files_that_were_not_uploaded(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("server-side secret")
    (inbox / "link.txt").symlink_to(secret)
    corpus = tmp_path / "corpus"
    saved, rejected = save_uploads([secret, inbox / "link.txt", inbox / ".." / "secret.txt"], corpus, 1, inbox)
    assert saved == []
    assert {r.reason for r in rejected} == {"the file was not uploaded through the page"}
    assert os.listdir(corpus) == []


def test_save_uploads_refuses_a_name_taken_by_a_looping_link(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    upload = inbox / "loop.md"
    upload.write_text("# Loop\n\nA note about herons.\n", encoding="utf-8")
    saved, rejected = save_uploads([upload], corpus, 1, inbox)
    assert saved == [] and [r.reason for r in rejected] == [
        "a broken link of that name is in the corpus folder; remove it first"
    ]


# ---- handlers over the real engine ---------------------------------------------------------------------


def test_page_ask_answers_the_example_question_with_a_highlighted_source(engine: Engine, bundled_index: Settings) -> None:
    message, details, _ = _final(ChatPage(engine, bundled_index), EXAMPLE_QUESTION)
    assert details["abstained"] is False, message
    assert EXAMPLE_ANSWER in details["answer"]
    assert EXAMPLE_ANSWER in message
    marked = message.split("<mark>", 1)[1].split("</mark>", 1)[0]
    assert EXAMPLE_ANSWER in marked
    assert "afghan_prisoner_release_2020.txt" in message and "cqa-cite" in message
    assert details["citations"][0]["source"] == "afghan_prisoner_release_2020.txt"
    assert set(details["timings"]) == {"embedding", "retrieval", "answering"}


def test_page_ask_follows_up_on_the_chat_history(engine: Engine, bundled_index: Settings) -> None:
    """The chat's messages are the conversation: a follow-up is searched as a standalone question, shown."""
    page = ChatPage(engine, bundled_index)
    first, _ = list(page.ask("Who is Mark Frerichs?", [], "extractive", 5))[-1]
    history = [{"role": "user", "content": "Who is Mark Frerichs?"}, {"role": "assistant", "content": first}]
    second, details = list(page.ask("Where was he captured?", history, "extractive", 5))[-1]
    assert details["standalone_question"] == "Where was Mark Frerichs captured?"
    assert "Searched for: <span class=\"cqa-standalone\">Where was Mark Frerichs captured?</span>" in second
    assert "Khost" in details["answer"] and "Khost" in details["citations"][0]["text"]
    # the third turn reads the second's rewording back from the chat
    history += [{"role": "user", "content": [{"type": "text", "text": "Where was he captured?"}]},
                {"role": "assistant", "content": second}]
    turns = turns_from_chat(history)
    assert [turn.standalone for turn in turns] == ["", "Where was Mark Frerichs captured?"]
    assert turns[0].answer == details_answer(first)
    _, details = list(page.ask("How old is he?", history, "extractive", 5))[-1]
    assert details["standalone_question"] == "How old is Mark Frerichs?"
    assert "57" in details["answer"]


def details_answer(message: str) -> str:
    """The answer text as the chat shows it (markup dropped)."""
    import html
    import re

    shown = re.search(r'<div class="cqa-answer">(.*?)</div>', message, re.DOTALL)
    assert shown is not None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", shown.group(1))).split())


def test_turns_from_chat_skips_unanswered_and_reads_plain_replies() -> None:
    history = [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "<div class=\"cqa-answer\">One &amp; two <a href=\"#x\">[1]</a></div>"},
        {"role": "user", "content": "Second?"},
        {"role": "assistant", "content": "plain text reply"},
        {"role": "user", "content": "Unanswered?"},
    ]
    assert [(t.question, t.answer) for t in turns_from_chat(history)] == [
        ("First?", "One & two [1]"), ("Second?", "plain text reply"),
    ]


def test_page_ask_abstains_plainly_with_closest_passages(engine: Engine, bundled_index: Settings) -> None:
    message, details, _ = _final(ChatPage(engine, bundled_index), UNANSWERABLE)
    assert details["abstained"] is True and details["citations"] == []
    assert "The documents do not answer this question." in message
    assert "Closest passages found" in message and message.count('class="cqa-source"') == 3


def test_page_ask_uses_the_chosen_top_k(engine: Engine, bundled_index: Settings) -> None:
    message, _, _ = _final(ChatPage(engine, bundled_index), UNANSWERABLE, top_k=1)
    assert message.count('class="cqa-source"') == 1


@pytest.mark.parametrize(
    ("question", "backend", "fragment"),
    [
        ("   ", "extractive", "The question is empty"),
        ("x" * 5000, "extractive", "characters long"),
        ("anything", "nonsense", "Unknown backend"),
    ],
)
def test_page_ask_turns_errors_into_one_chat_message(
    engine: Engine, bundled_index: Settings, question: str, backend: str, fragment: str
) -> None:
    message, details, count = _final(ChatPage(engine, bundled_index), question, backend=backend)
    assert count == 1
    assert message.startswith('<div class="cqa-error">') and fragment in message
    assert fragment in details["error"]


def test_page_ask_without_an_index_says_how_to_build_one(tmp_path: Path, embedder: Any) -> None:
    settings = load_settings(index_dir=tmp_path / "none")
    page = ChatPage(Engine(settings, embedder), settings)
    message, details, _ = _final(page, EXAMPLE_QUESTION)
    assert "No index in" in message and "corpusqa ingest" in message and "No index in" in details["error"]
    assert "Re-ingest" in page.status()
    assert "No index in" in page.status_json()["error"]


def test_page_ask_over_an_empty_index_says_so(tmp_path: Path, embedder: Any) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.docx").write_bytes(b"PK")
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    page = ChatPage(Engine(settings, embedder), settings)
    message, details, count = _final(page, EXAMPLE_QUESTION)
    assert count == 1 and message.startswith('<div class="cqa-error">')
    assert "is empty" in details["error"] and "0 documents, 0 chunks" in page.status()


def test_page_ask_reports_an_unreachable_llm_server(bundled_index: Settings, embedder: Any) -> None:
    settings = bundled_index.model_copy(update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1"})
    message, details, _ = _final(ChatPage(Engine(settings, embedder), settings), EXAMPLE_QUESTION, backend="openai")
    assert message.startswith('<div class="cqa-error">')
    assert "127.0.0.1" in details["error"] and "Traceback" not in message


def test_page_ask_streams_an_llm_answer_then_links_its_citations(bundled_index: Settings, embedder: Any) -> None:
    with FakeOpenAIServer(words_per_chunk=1) as llm:
        settings = bundled_index.model_copy(update={"openai_base_url": llm.base_url, "openai_model": "fake-model"})
        page = ChatPage(Engine(settings, embedder), settings)
        # a question the test server's quote answers (issue #27 shows other quotes as "may not say")
        events = list(page.ask("How many Taliban prisoners will be released by the Afghan government?", [], "openai", 5))
    partial = [message for message, _ in events[:-1]]
    assert len(partial) > 3 and all(message.startswith('<div class="cqa-answer">') for message in partial)
    assert len(partial[-1]) > len(partial[0])
    message, details = events[-1]
    assert details["backend"] == "openai" and details["citations"], details
    number = details["citations"][0]["id"]
    assert 'href="#cqa-' in message and f">[{number}]</a>" in message
    assert "(openai)" in message


def test_page_upload_saves_ingests_and_answers_from_the_new_document(private_index: Settings, embedder: Any) -> None:
    upload_dir = private_index.index_dir.parent / "browser-upload"
    upload_dir.mkdir()
    page = ChatPage(Engine(private_index, embedder), private_index, inbox=upload_dir)
    (upload_dir / NEW_DOC_NAME).write_text(NEW_DOC)
    (upload_dir / "tool.exe").write_bytes(b"MZ")
    calls: list[tuple[Any, ...]] = []
    summary, status, cleared = page.upload(
        [str(upload_dir / NEW_DOC_NAME), str(upload_dir / "tool.exe")], progress=lambda *a, **k: calls.append(a + (k,))
    )
    assert "1 added" in summary and f"added: <code>{NEW_DOC_NAME}</code>" in summary
    assert "not uploaded: <code>tool.exe</code>: unsupported file type .exe" in summary
    assert f"<code>{NEW_DOC_NAME}</code>" in status and "2 documents" in status
    assert cleared is None
    assert (private_index.corpus_dir / NEW_DOC_NAME).read_text() == NEW_DOC
    assert not (private_index.corpus_dir / "tool.exe").exists()
    assert any(k.get("desc") == "Indexing documents" for *_, k in calls)
    message, details, _ = _final(page, NEW_DOC_QUESTION)
    assert "Amina Juma" in details["answer"], message
    assert details["citations"][0]["source"] == NEW_DOC_NAME


def test_page_upload_drops_a_file_that_ingest_cannot_read(private_index: Settings, embedder: Any) -> None:
    inbox = private_index.index_dir.parent / "inbox"
    inbox.mkdir()
    (inbox / "scan.pdf").write_bytes(b"this is not a PDF at all")
    page = ChatPage(Engine(private_index, embedder), private_index, inbox=inbox)
    summary, status, _ = page.upload([str(inbox / "scan.pdf")], progress=_noop_progress)
    assert "not uploaded: <code>scan.pdf</code>: it cannot be ingested" in summary, summary
    assert not (private_index.corpus_dir / "scan.pdf").exists() and "scan.pdf" not in status
    assert "1 unchanged" in page.reingest(progress=_noop_progress)[0]


def test_page_upload_never_loses_the_document_it_would_replace(private_index: Settings, embedder: Any) -> None:
    """Issue #13 item 1: a blank file of an indexed document's name left nothing behind."""
    name = "afghan_prisoner_release_2020.txt"
    original = (private_index.corpus_dir / name).read_bytes()
    inbox = private_index.index_dir.parent / "inbox"
    inbox.mkdir()
    (inbox / name).write_text("   \n\n   \n")
    page = ChatPage(Engine(private_index, embedder), private_index, inbox=inbox)
    for replace in (False, True):
        summary, status, _ = page.upload([str(inbox / name)], replace, progress=_noop_progress)
        assert f"not uploaded: <code>{name}</code>" in summary, summary
        assert (private_index.corpus_dir / name).read_bytes() == original
        assert f"<code>{name}</code>" in status
    message, details, _ = _final(page, EXAMPLE_QUESTION)
    assert EXAMPLE_ANSWER in details["answer"], message


def test_page_upload_replaces_only_when_asked_and_keeps_the_old_version(private_index: Settings, embedder: Any) -> None:
    name = "afghan_prisoner_release_2020.txt"
    original = (private_index.corpus_dir / name).read_bytes()
    inbox = private_index.index_dir.parent / "inbox"
    inbox.mkdir()
    (inbox / name).write_text(NEW_DOC)
    page = ChatPage(Engine(private_index, embedder), private_index, inbox=inbox)
    # an API caller's "false" (or anything but the checkbox's true) is not a request to replace
    for not_asked in (False, None, "false", "0", 1):
        summary, _, _ = page.upload([str(inbox / name)], not_asked, progress=_noop_progress)  # type: ignore[arg-type]
        assert "exists" in summary and (private_index.corpus_dir / name).read_bytes() == original, not_asked
    summary, status, _ = page.upload([str(inbox / name)], True, progress=_noop_progress)
    assert f"updated: <code>{name}</code>" in summary and "previous version is kept as" in summary, summary
    assert f"<code>{name}</code>" in status
    assert (private_index.corpus_dir / name).read_text() == NEW_DOC
    kept = list((private_index.index_dir / "trash").iterdir())
    assert [path.read_bytes() for path in kept] == [original] and kept[0].name.endswith(name)
    message, details, _ = _final(page, NEW_DOC_QUESTION)
    assert "Amina Juma" in details["answer"], message


def test_page_upload_of_only_bad_files_reports_without_ingesting(private_index: Settings, embedder: Any) -> None:
    page = ChatPage(Engine(private_index, embedder), private_index, inbox=private_index.index_dir.parent)
    bad = private_index.index_dir.parent / ".secret.txt"
    bad.write_text("hidden")
    summary, _, _ = page.upload([str(bad)], progress=_noop_progress)
    assert summary == "<ul><li>not uploaded: <code>.secret.txt</code>: hidden files are not accepted</li></ul>"
    assert summary == page.upload([str(bad)], progress=_noop_progress)[0]
    assert page.upload(None, progress=_noop_progress)[0] == "<p>No files were given.</p>"


def test_page_reingest_reports_changes_and_skipped_files(private_index: Settings, embedder: Any) -> None:
    page = ChatPage(Engine(private_index, embedder), private_index)
    corpus = private_index.corpus_dir
    (corpus / "notes.docx").write_bytes(b"PK")  # a broken Word file
    (corpus / "sheet.xlsx").write_bytes(b"PK")
    (corpus / NEW_DOC_NAME).write_text(NEW_DOC)
    summary, status = page.reingest(progress=_noop_progress)
    assert "1 added, 0 updated, 1 unchanged, 0 deleted, 2 skipped" in summary
    assert "skipped: <code>notes.docx</code>: not a valid Word (.docx) file" in summary
    assert "skipped: <code>sheet.xlsx</code>: unsupported file type .xlsx" in summary
    (corpus / NEW_DOC_NAME).unlink()
    summary, status = page.reingest(progress=_noop_progress)
    assert f"deleted: <code>{NEW_DOC_NAME}</code>" in summary and NEW_DOC_NAME not in status


def test_page_reingest_builds_a_missing_index(tmp_path: Path, corpus_copy: Path, embedder: Any) -> None:
    settings = load_settings(index_dir=tmp_path / "fresh", corpus_dir=corpus_copy)
    page = ChatPage(Engine(settings, embedder), settings)
    assert "No index in" in page.status()
    summary, status = page.reingest(progress=_noop_progress)
    assert "1 added" in summary and "afghan_prisoner_release_2020.txt" in status
    message, details, _ = _final(page, EXAMPLE_QUESTION)
    assert EXAMPLE_ANSWER in details["answer"], message


def test_page_reingest_of_a_missing_corpus_folder_is_a_message(private_index: Settings, embedder: Any) -> None:
    settings = private_index.model_copy(update={"corpus_dir": private_index.corpus_dir / "missing"})
    summary, status = ChatPage(Engine(settings, embedder), settings).reingest(progress=_noop_progress)
    assert summary.startswith('<div class="cqa-error">') and "No such file or folder" in summary
    assert "afghan_prisoner_release_2020.txt" in status


def test_build_blocks_exposes_named_api_endpoints(engine: Engine, bundled_index: Settings) -> None:
    blocks = build_blocks(engine, bundled_index)
    info = blocks.get_api_info()
    assert {"/ask", "/status", "/ingest", "/upload"} <= set(info["named_endpoints"])
    assert [p["parameter_name"] for p in info["named_endpoints"]["/ask"]["parameters"]] == ["message", "backend", "top_k"]
    assert blocks.analytics_enabled is False


# ---- the real server: one app with the API, the page and its Gradio API ---------------------------------


@pytest.fixture
def page_url(engine: Engine, bundled_index: Settings) -> Iterator[str]:
    with serve_asgi(build_app(engine, bundled_index)) as url:
        yield url


def test_server_serves_page_and_http_api_on_one_port(page_url: str) -> None:
    page = httpx.get(page_url + "/", timeout=30)
    assert page.status_code == 200 and '"title":"corpusqa"' in page.text
    assert httpx.get(page_url + "/healthz", timeout=30).json() == {"status": "ok"}


def test_gradio_client_ask_returns_message_and_answer_json(page_url: str) -> None:
    with _gradio_client(page_url) as client:
        message, details = client.predict(EXAMPLE_QUESTION, "extractive", 3, api_name="/ask")
    assert EXAMPLE_ANSWER in details["answer"], details
    assert details["citations"][0]["source"] == "afghan_prisoner_release_2020.txt"
    assert "<mark>" in message and EXAMPLE_ANSWER in message


def test_gradio_client_status_abstention_and_errors(page_url: str) -> None:
    with _gradio_client(page_url) as client:
        status = client.predict(api_name="/status")
        abstained = client.predict(UNANSWERABLE, "extractive", 2, api_name="/ask")
        message, details = client.predict("", "extractive", 3, api_name="/ask")
    assert status["document_count"] == 1 and status["chunks"] > 0
    assert abstained[1]["abstained"] is True and abstained[0].count('class="cqa-source"') == 2
    assert details == {"error": "The question is empty; type a question about your documents."}
    assert message.startswith('<div class="cqa-error">')


def test_a_null_message_gets_the_empty_question_sentence(page_url: str) -> None:
    with _gradio_client(page_url) as client:
        message, details = client.predict(None, "extractive", 3, api_name="/ask")
    assert details == {"error": "The question is empty; type a question about your documents."}
    assert message.startswith('<div class="cqa-error">')
    event = httpx.post(page_url + "/gradio_api/call/ask", json={"data": [None, "extractive", 3]}, timeout=30)
    stream = httpx.get(f"{page_url}/gradio_api/call/ask/{event.json()['event_id']}", timeout=60).text
    assert "The question is empty" in stream and "NoneType" not in stream and "event: error" not in stream


def test_gradio_checks_named_files_only_once_the_blocks_has_launched() -> None:
    """mount_page sets blocks.has_launched, which Gradio reads and mount_gradio_app never sets; this fails
    loudly when a Gradio release stops reading it (then the file check needs another switch)."""
    import inspect

    from gradio import processing_utils

    assert "has_launched" in inspect.getsource(processing_utils._check_allowed), (
        "gradio.processing_utils._check_allowed no longer reads Blocks.has_launched: fix ui/web.mount_page"
    )


def test_server_refuses_a_server_path_posing_as_an_upload(private_index: Settings, embedder: Any, tmp_path: Path) -> None:
    secret = Path(tempfile.gettempdir()) / f"corpusqa-secret-{os.getpid()}.txt"
    secret.write_text("The vault code is 4321.")
    payload = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], False]}
    try:
        with serve_asgi(build_app(Engine(private_index, embedder), private_index)) as url:
            event = httpx.post(url + "/gradio_api/call/upload", json=payload, timeout=30).json()["event_id"]
            stream = httpx.get(f"{url}/gradio_api/call/upload/{event}", timeout=60).text
    finally:
        secret.unlink()
    # Gradio refuses it (InvalidPathError); with show_error off its text, which names the path, stays in the log
    assert "event: error" in stream and secret.name not in stream
    assert not (private_index.corpus_dir / secret.name).exists()


def test_server_with_auth_requires_the_password(engine: Engine, bundled_index: Settings) -> None:
    settings = bundled_index.model_copy(update={"ui_auth": "reader:s3cret"})
    with serve_asgi(build_app(engine, settings)) as url:
        assert httpx.get(url + "/config", timeout=30).status_code == 401
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200  # the HTTP API has its own key
        with pytest.raises(ValueError, match="Could not login"), _gradio_client(url, auth=("reader", "wrong")):
            pass
        with _gradio_client(url, auth=("reader", "s3cret")) as client:
            assert client.predict(api_name="/status")["document_count"] == 1


# ---- `corpusqa ui` ----------------------------------------------------------------------------------------


def test_cli_ui_reports_a_busy_port(bundled_index: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["ui", "--index-dir", str(bundled_index.index_dir), "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert "Index: 1 documents" in result.output


def test_cli_ui_without_an_index_prints_a_hint_and_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Settings] = []
    monkeypatch.setattr("ui.server.serve", lambda engine, settings, sock: (started.append(settings), sock.close()))
    result = CliRunner().invoke(cli, ["ui", "--index-dir", str(tmp_path / "empty"), "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert "No index in" in result.output and "Documents tab can ingest" in result.output
    assert "Chat page on http://127.0.0.1:" in result.output
    assert started and started[0].ui_host == "127.0.0.1"


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_cli_ui_rejects_bad_ports(port: str) -> None:
    result = CliRunner().invoke(cli, ["ui", "--port", port])
    assert result.exit_code == 2, result.output




@pytest.mark.parametrize("how_uvicorn_returns", ["returns", "raises KeyboardInterrupt"])
def test_cli_ui_says_stopped_however_uvicorn_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how_uvicorn_returns: str
) -> None:
    """Issue #13 item 17: after a SIGINT, asyncio raises KeyboardInterrupt or returns, depending on timing."""
    import uvicorn

    def run(self: Any, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            sock.close()
        if how_uvicorn_returns != "returns":
            raise KeyboardInterrupt

    monkeypatch.setattr(uvicorn.Server, "run", run)
    result = CliRunner().invoke(cli, ["ui", "--index-dir", str(tmp_path / "empty"), "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Stopped."


def test_page_ask_hides_an_unexpected_error_and_logs_it(
    engine: Engine, bundled_index: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #13 items 15 and 16: the browser got the exception's text; tests saw a re-raise instead."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /srv/x")

    monkeypatch.setattr(engine, "stream", broken)
    message, details, count = _final(ChatPage(engine, bundled_index), EXAMPLE_QUESTION)
    assert count == 1 and message.startswith('<div class="cqa-error">')
    assert "secret" not in message and "secret" not in details["error"]
    assert "Unexpected error (RuntimeError); see the server log" in details["error"]
    assert "secret internals at /srv/x" in caplog.text and "Traceback" in caplog.text
    debugging = bundled_index.model_copy(update={"debug": True})
    with pytest.raises(RuntimeError, match="secret internals"):
        _final(ChatPage(engine, debugging), EXAMPLE_QUESTION)
