"""The engine end to end on the real corpus, the real MiniLM model and real Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE_QUESTION

from corpusqa.errors import EmptyQuestionError, IndexNotFoundError, InvalidSettingError
from corpusqa.settings import load_settings
from corpusqa.types import Answer
from rag import Engine
from rag.extractive import ABSTAIN_TEXT

EVIDENCE = "out of 13,000 to 14,000 prisoners"


def test_engine_answers_example_question_with_cited_evidence(engine: Engine) -> None:
    answer = engine.ask(EXAMPLE_QUESTION)
    assert not answer.abstained
    assert "13,000 to 14,000" in answer.answer
    assert answer.answer.endswith("[1]")
    assert len(answer.citations) == 1
    citation = answer.citations[0]
    assert EVIDENCE in citation.text
    assert citation.highlight in citation.text and "13,000 to 14,000" in citation.highlight
    assert citation.source == "afghan_prisoner_release_2020.txt"
    assert citation.title == "Khalilzad Hopes Intra-Afghan Talks Conclude in '100 Days'"
    assert citation.kind == "article"
    assert citation.start_line <= 104 <= citation.end_line


def test_engine_answer_json_matches_contract(engine: Engine) -> None:
    data = engine.ask(EXAMPLE_QUESTION).to_json()
    assert set(data) >= {
        "question", "answer", "abstained", "backend", "seconds", "citations", "short_answer", "confidence", "band",
    }
    assert data["band"] in ("answer", "possibly", "abstain") and data["abstained"] is (data["band"] == "abstain")
    assert data["short_answer"] is None or data["short_answer"] in data["answer"]
    assert set(data) >= {"question", "answer", "abstained", "backend", "seconds", "citations"}
    assert data["claims"] == [] and data["unsupported"] is False and data["model_answer"] is None
    assert data["backend"] == "extractive" and isinstance(data["seconds"], float)
    assert set(data["citations"][0]) == {"id", "source", "title", "kind", "start_line", "end_line", "text", "score", "page", "url", "ocr", "ocr_confidence", "table"}
    assert data["citations"][0]["page"] is None  # a page only for PDFs


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who wrote on Twitter that President Ghani had issued a decree to release Taliban prisoners?", "Khalilzad"),
        ("How old is the U.S. government contractor Mark Frerichs?", "57"),
        ("In which Afghan province was Mark Frerichs reportedly captured?", "Khost"),
        ("Within how many days does Khalilzad hope the intra-Afghan talks will be concluded?", "100 days"),
    ],
)
def test_engine_answers_unseen_phrasings(engine: Engine, question: str, expected: str) -> None:
    answer = engine.ask(question)
    assert not answer.abstained, question
    assert expected in answer.answer
    assert any(expected in citation.text for citation in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "What is the boiling point of mercury in kelvin?",
        "Who won the 2018 football World Cup final?",
    ],
)
def test_engine_abstains_when_documents_do_not_say(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained
    assert answer.answer == ABSTAIN_TEXT
    assert answer.citations == []
    assert answer.retrieved, "the closest passages are still returned for display"


def test_engine_stream_yields_text_then_answer(engine: Engine) -> None:
    events = list(engine.stream(EXAMPLE_QUESTION))
    assert isinstance(events[-1], Answer)
    assert "".join(e for e in events if isinstance(e, str)) == events[-1].answer
    timings = events[-1].timings
    assert timings.embedding > 0 and timings.retrieval > 0 and timings.answering > 0
    assert events[-1].seconds >= timings.total


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "The question is empty"),
        ("   \n\t ", "The question is empty"),
        ("\x00\x01\x02", "The question is empty"),
        ("why " * 1000, "keep it under 2,000"),
    ],
)
def test_engine_rejects_bad_questions(engine: Engine, question: str, message: str) -> None:
    with pytest.raises(EmptyQuestionError, match=message):
        engine.ask(question)


def test_engine_strips_control_characters(engine: Engine) -> None:
    answer = engine.ask("How many Taliban\x07 prisoners were held\x1b in total?")
    assert answer.question == EXAMPLE_QUESTION


def test_engine_without_index_says_to_ingest(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(load_settings(index_dir=tmp_path / "nothing"), embedder)
    with pytest.raises(IndexNotFoundError, match="run `corpusqa ingest` first"):
        engine.ask(EXAMPLE_QUESTION)


def test_a_question_to_a_missing_index_builds_no_model_and_makes_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped --index-dir: the question stops with its sentence, without exporting the embedding model into
    the folder it names (15 s, and the folder made) — the model loads ahead only for an index that exists."""
    import threading

    from ingest.embedder import Embedder

    monkeypatch.delenv("CORPUSQA_MODEL_CACHE_DIR")  # the model's export is then kept in the index folder
    settings = load_settings(index_dir=tmp_path / "typo")
    assert settings.models_dir == settings.index_dir / "models"
    engine = Engine(settings, Embedder.from_settings(settings))
    for call in (engine.ask, engine.search):
        with pytest.raises(IndexNotFoundError, match="run `corpusqa ingest` first"):
            call(EXAMPLE_QUESTION)
    for thread in threading.enumerate():
        if thread.name == "corpusqa-model-load":
            thread.join()
    assert not settings.index_dir.exists()


def test_engine_rejects_unknown_backend(engine: Engine) -> None:
    with pytest.raises(InvalidSettingError, match="Unknown backend"):
        engine.ask(EXAMPLE_QUESTION, backend="magic")


def test_engine_sees_reingest_from_another_engine(tmp_path: Path, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    reader = Engine(settings, embedder)
    writer = Engine(settings, embedder)
    writer.ingest([corpus_copy])
    assert reader.ask("What colour is the zebra Mortimer?").abstained
    (corpus_copy / "zoo.md").write_text("# Zoo news\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    writer.ingest([corpus_copy])
    answer = reader.ask("What colour is the zebra Mortimer?")
    assert not answer.abstained and "purple" in answer.answer
    assert answer.citations[0].source == "zoo.md" and answer.citations[0].title == "Zoo news"


def test_engine_serves_reingest_done_by_another_process(tmp_path: Path, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """A running engine (the page) sees an ingest done by the CLI in another process (chroma #3792)."""
    import json
    import os
    import subprocess
    import sys

    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    reader = Engine(settings, embedder)
    reader.ingest([corpus_copy])
    before = reader.ask("What colour is the zebra Mortimer?")
    assert before.abstained
    (corpus_copy / "zoo.md").write_text("# Zoo news\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    cli = Path(sys.executable).parent / "corpusqa"
    done = subprocess.run(
        [str(cli), "ingest", "--index-dir", str(settings.index_dir), str(corpus_copy), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CORPUSQA_CORPUS_DIR": str(corpus_copy)},  # so both name its files alike
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 1  # zoo.md only: nothing renamed, nothing re-embedded
    after = reader.ask("What colour is the zebra Mortimer?")
    assert not after.abstained and "purple" in after.answer
    assert after.citations[0].source == "zoo.md"


def test_engine_short_answer_quotes_its_sentence_once(engine) -> None:  # type: ignore[no-untyped-def]
    # the evidence sentence opens with its own quotation mark; the answer must not double it
    answer = engine.ask(EXAMPLE_QUESTION)
    assert answer.short_answer == "13,000 to 14,000"
    assert "““" not in answer.answer and "””" not in answer.answer
    assert f"{answer.short_answer} — “The Taliban wanted 5,000" in answer.answer
