"""Engine.search and Engine.document over the real bundled index (real MiniLM, real Chroma)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_DIR, EXAMPLE_QUESTION

from corpusqa.errors import EmptyQuestionError, IndexNotFoundError, InvalidSettingError, SourceNotFoundError
from corpusqa.settings import Settings, load_settings
from corpusqa.types import Chunk, Citation, SearchResult
from ingest.store import open_store
from rag import Engine
from rag.documents import document_lines

SOURCE = "afghan_prisoner_release_2020.txt"
CITATION_KEYS = {"id", "source", "title", "kind", "start_line", "end_line", "text", "score", "page", "url", "ocr", "ocr_confidence", "table"}


def test_search_returns_the_fused_top_k_with_citation_fields_and_best_sentences(engine: Engine) -> None:
    result = engine.search(EXAMPLE_QUESTION, 5)

    assert isinstance(result, SearchResult)
    assert result.query == EXAMPLE_QUESTION
    assert [hit.id for hit in result.results] == [1, 2, 3, 4, 5]
    retrieved = engine.retrieve(EXAMPLE_QUESTION, 5)
    assert [hit.chunk_id for hit in result.results] == [scored.chunk.id for scored in retrieved]
    for hit in result.results:
        assert isinstance(hit, Citation) and hit.source == SOURCE
        assert hit.highlight and hit.highlight in hit.text  # a sentence of its own passage
    evidence = [hit for hit in result.results if "13,000 to 14,000" in hit.text]
    assert len(evidence) == 1 and "13,000 to 14,000" in evidence[0].highlight


def test_search_highlight_is_the_sentence_the_answerer_picks(engine: Engine) -> None:
    answer = engine.ask(EXAMPLE_QUESTION)
    hits = {hit.chunk_id: hit for hit in engine.search(EXAMPLE_QUESTION, 5).results}

    cited = answer.citations[0]
    assert hits[cited.chunk_id].highlight == cited.highlight


@pytest.mark.parametrize("k", [1, 3, 8])
def test_search_honours_k(engine: Engine, k: int) -> None:
    assert len(engine.search("prisoner release", k).results) == k


def test_search_default_k_is_the_top_k_setting(engine: Engine) -> None:
    assert len(engine.search("prisoner release").results) == engine.settings.top_k


def test_search_json_is_the_citation_json_plus_highlight(engine: Engine) -> None:
    body = engine.search("  Taliban   prisoners\n", 2).to_json()

    assert set(body) == {"query", "seconds", "results"}
    assert body["query"] == "Taliban prisoners"  # cleaned as questions are
    assert isinstance(body["seconds"], float) and body["seconds"] > 0
    for item in body["results"]:
        assert set(item) == CITATION_KEYS | {"highlight"}


@pytest.mark.parametrize("query", ["", "   ", "\x00\x07"])
def test_search_refuses_an_empty_query(engine: Engine, query: str) -> None:
    with pytest.raises(EmptyQuestionError, match="empty"):
        engine.search(query)


def test_search_without_an_index_says_how_to_build_one(tmp_path: Path, embedder: Any) -> None:
    engine = Engine(load_settings(index_dir=tmp_path / "nothing"), embedder)
    with pytest.raises(IndexNotFoundError, match="corpusqa ingest"):
        engine.search("anything")


# ---- documents read back from the index ---------------------------------------------------------------


def test_document_lines_are_the_file_lines_while_the_file_is_unchanged(engine: Engine) -> None:
    file_lines = (CORPUS_DIR / SOURCE).read_text(encoding="utf-8").splitlines()
    document = engine.document(SOURCE)

    assert document.start_line == 1 and document.end_line == document.last_line == len(file_lines)
    assert [text for _, text in document.lines] == [line.rstrip() for line in file_lines]


def test_document_lines_rebuilt_from_chunks_keep_every_indexed_line(engine: Engine, bundled_index: Settings) -> None:
    """The fallback when the file moved or changed: every line a chunk holds, at its own number."""
    file_lines = (CORPUS_DIR / SOURCE).read_text(encoding="utf-8").splitlines()
    chunks = open_store(bundled_index, create=False).all_chunks()
    document = document_lines(chunks, SOURCE)

    held = [(number, text) for number, text in document.lines if text]
    assert len(held) > len(file_lines) // 3
    for number, text in held:
        assert text == file_lines[number - 1].strip(), number


def test_document_falls_back_to_chunks_when_the_file_changed(
    bundled_index: Settings, corpus_copy: Path, embedder: Any, tmp_path: Path
) -> None:
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    before = engine.document(SOURCE)
    (corpus_copy / SOURCE).write_text("Rewritten after the ingest.\n", encoding="utf-8")

    after = engine.document(SOURCE)

    assert after.last_line == before.last_line  # still the indexed version, not the new file
    assert "Rewritten" not in after.text()
    assert all(text == dict(before.lines)[number] for number, text in after.lines if text)


def test_document_range_holds_a_cited_passage(engine: Engine) -> None:
    cited = engine.ask(EXAMPLE_QUESTION).citations[0]
    document = engine.document(cited.source, cited.start_line, cited.end_line)

    assert [number for number, _ in document.lines] == list(range(cited.start_line, cited.end_line + 1))
    assert "13,000 to 14,000" in document.text()
    assert document.text().splitlines()[0].lstrip().startswith(f"{cited.start_line}  ")


def test_document_range_is_clipped_to_the_document(engine: Engine) -> None:
    last = engine.document(SOURCE).last_line
    assert engine.document(SOURCE, last - 1, last + 50).end_line == last


def test_document_errors(engine: Engine) -> None:
    with pytest.raises(SourceNotFoundError, match="corpusqa status"):
        engine.document("missing.txt")
    with pytest.raises(InvalidSettingError, match="has lines 1-"):
        engine.document(SOURCE, 100_000, 100_001)


def test_document_lines_join_two_chunks_on_one_line() -> None:
    text = "First sentence here. Second one follows.\n\nThird line."

    def chunk(start: int, end: int, line: int) -> Chunk:
        return Chunk(f"c{start}", text[start:end], "n.txt", "N", "article", line, line, start, end, "h")

    cut = text.index("Second")
    chunks = [chunk(cut, text.index("\n"), 1), chunk(0, cut - 1, 1), chunk(text.index("Third"), len(text), 3)]
    document = document_lines(chunks, "n.txt")

    assert document.lines == [(1, "First sentence here. Second one follows."), (2, ""), (3, "Third line.")]
