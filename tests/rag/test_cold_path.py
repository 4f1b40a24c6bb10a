"""A cold `corpusqa ask` loads only what a question needs, from the generation's own files, with the same answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER
from support.imports import cli_listing_modules

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings, load_settings
from ingest.embedder import Embedder
from ingest.reading import CHUNKS, OFFSETS, VECTORS, GenerationFiles, has_generation_files
from ingest.state import read_state
from ingest.store import ChunkStore
from rag import Engine

# What a question must never import: the store of record, the training and UI stacks, SciPy (bm25s's optional
# backend) and llama-index (which built the keyword index at ingest).
HEAVY = ("chromadb", "torch", "gradio", "fastapi", "llama_index", "sklearn", "scipy", "transformers", "sentence_transformers")

ASK_AND_LIST_MODULES = cli_listing_modules(HEAVY)

QUESTIONS = [
    EXAMPLE_QUESTION,
    "Who is the National Security Council spokesman?",
    "When did Ghani sign the decree?",
    "What is the capital of Peru?",
    "How many prisoners did the Taliban want released?",
]


def _without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    answer.pop("seconds", None)
    answer.pop("timings", None)
    return answer


def _answers(settings: Settings, embedder: Embedder) -> list[dict[str, Any]]:
    engine = Engine(settings, embedder)
    return [_without_timings(engine.ask(question).to_json()) for question in QUESTIONS]


def _folder(settings: Settings) -> Path:
    state = read_state(settings.index_dir)
    assert state is not None
    return settings.index_dir / state.bm25_dir


def test_cold_ask_imports_no_chromadb_torch_gradio_fastapi_llama_index_or_sklearn(bundled_index: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-c", ASK_AND_LIST_MODULES, "ask", "--json", "--index-dir", str(bundled_index.index_dir), EXAMPLE_QUESTION],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert EXAMPLE_ANSWER in json.loads(result.stdout)["answer"]
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_cold_path_answers_equal_the_answers_read_from_chroma(tmp_path: Path, bundled_index: Settings, embedder: Embedder) -> None:
    """The generation's files give the answers Chroma gave before them (the fallback for an older index)."""
    shutil.copytree(bundled_index.index_dir, tmp_path / "old")
    older = load_settings(index_dir=tmp_path / "old", corpus_dir=bundled_index.corpus_dir)
    for name in (CHUNKS, OFFSETS, VECTORS):  # an index written before the files: Chroma answers
        (_folder(older) / name).unlink()
    from_files = _answers(bundled_index, embedder)
    from_chroma = _answers(older, embedder)
    assert isinstance(Engine(older, embedder)._current().reader, ChunkStore)
    assert from_files == from_chroma
    assert EXAMPLE_ANSWER in from_files[0]["answer"]

    # the next ingest of the older index, with nothing changed, writes the files
    Engine(older, embedder).ingest([bundled_index.corpus_dir])
    assert has_generation_files(_folder(older))
    assert isinstance(Engine(older, embedder)._current().reader, GenerationFiles)
    assert _answers(older, embedder) == from_files


def test_generation_files_read_what_chroma_holds(bundled_index: Settings, embedder: Embedder) -> None:
    engine = Engine(bundled_index, embedder)
    snapshot = engine._current()
    files, store = snapshot.reader, snapshot.store
    assert isinstance(files, GenerationFiles)
    ids = sorted(snapshot.ids)
    chunks = files.get_chunks(ids)
    assert chunks == store.get_chunks(ids)
    assert files.get_chunks(["no-such-chunk"]) == {}
    ours, theirs = files.sentence_vectors(list(chunks.values())), store.sentence_vectors(list(chunks.values()))
    assert ours.keys() == theirs.keys() == set(ids)
    assert all(np.array_equal(ours[chunk_id], theirs[chunk_id]) for chunk_id in ids)
    for question in QUESTIONS:
        vector = embedder.embed_query(question)
        assert files.query(vector, 20) == store.query(vector, 20, snapshot.ids)


def test_damaged_generation_files_end_in_one_sentence(tmp_path: Path, bundled_index: Settings, embedder: Embedder) -> None:
    shutil.copytree(bundled_index.index_dir, tmp_path / "copy")
    settings = load_settings(index_dir=tmp_path / "copy", corpus_dir=bundled_index.corpus_dir)
    records = _folder(settings) / CHUNKS
    records.write_bytes(records.read_bytes()[:-10])
    with pytest.raises(CorpusQAError, match=r"damaged; run `corpusqa ingest` to rebuild them\.$"):
        Engine(settings, embedder).ask(EXAMPLE_QUESTION)
    Engine(settings, embedder).ingest([bundled_index.corpus_dir])  # as the sentence says: that rebuilds them
    assert EXAMPLE_ANSWER in Engine(settings, embedder).ask(EXAMPLE_QUESTION).answer


def test_a_question_holding_a_generation_reads_it_after_a_reingest_removed_its_folder(
    tmp_path: Path, corpus_copy: Path, embedder: Embedder
) -> None:
    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    Engine(settings, embedder).ingest([corpus_copy])
    reader = Engine(settings, embedder)
    held = reader._current()
    old_folder = _folder(settings)
    (corpus_copy / "zoo.md").write_text("# Zoo\n\nThe zebra Mortimer is orange with blue stripes.\n", encoding="utf-8")
    Engine(settings, embedder).ingest([corpus_copy])
    assert not old_folder.exists()  # the commit removed the old generation's folder
    # the old snapshot still reads its own generation (its files are mapped), never the new one's chunks
    chunks = held.reader.get_chunks(sorted(held.ids))
    assert len(chunks) == len(held.ids) and not any(chunk.source.endswith("zoo.md") for chunk in chunks.values())
    assert "orange" in reader.ask("What colour is the zebra Mortimer?").answer  # the next question: the new one
