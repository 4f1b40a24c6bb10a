"""The eval corpus loader: names, splits, gates, bad layouts, and each corpus ingested into its own index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpusqa.errors import CorpusQAError
from corpusqa.settings import load_settings
from evals.corpora import (
    CORPORA_DIR,
    corpus_index_dir,
    corpus_names,
    load_corpus,
    load_corpus_dir,
    open_corpus,
)
from evals.questions import load_questions


def _corpus(root: Path, name: str = "zoo", gate: str | None = "[min]\nanswer_accuracy = 0.5\n") -> Path:
    folder = root / name
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "zoo.md").write_text("# Zoo\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    rows = [
        {"id": "z1", "question": "What colour is the zebra Mortimer?", "accept": ["purple"],
         "evidence": "Mortimer is purple", "type": "fact", "split": "dev"},
        {"id": "z2", "question": "How old is the giraffe Gertrude?", "accept": [], "evidence": None,
         "type": "unanswerable", "split": "test", "unanswerable": "near_miss"},
    ]
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if gate is not None:
        (folder / "gate.toml").write_text(gate, encoding="utf-8")
    return folder


def test_corpus_names_lists_the_shipped_corpora() -> None:
    names = corpus_names()
    assert {"news", "squad2-complexity"} <= set(names)
    assert names == sorted(names)


def test_corpus_names_skips_folders_without_questions(tmp_path: Path) -> None:
    _corpus(tmp_path, "b")
    _corpus(tmp_path, "a")
    (tmp_path / "empty").mkdir()
    assert corpus_names(tmp_path) == ["a", "b"]
    assert corpus_names(tmp_path / "missing") == []


@pytest.mark.parametrize(("split", "ids"), [("all", ["z1", "z2"]), ("dev", ["z1"]), ("test", ["z2"])])
def test_load_corpus_filters_by_split(tmp_path: Path, split: str, ids: list[str]) -> None:
    _corpus(tmp_path)
    corpus = load_corpus("zoo", split, root=tmp_path)
    assert [q.id for q in corpus.questions] == ids
    assert corpus.split == split and corpus.documents == tmp_path / "zoo" / "docs"
    assert corpus.gate == {"min": {"answer_accuracy": 0.5}, "max": {}}


def test_load_corpus_reads_unanswerable_kind_and_in_split(tmp_path: Path) -> None:
    corpus = load_corpus_dir(_corpus(tmp_path))
    assert [q.unanswerable for q in corpus.questions] == [None, "near_miss"]
    assert [q.id for q in corpus.in_split("test")] == ["z2"]


def test_load_corpus_without_gate_has_an_empty_gate(tmp_path: Path) -> None:
    assert load_corpus_dir(_corpus(tmp_path, gate=None)).gate == {"min": {}, "max": {}}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda root: load_corpus("nope", root=root), "No eval corpus named 'nope'; choose one of: zoo"),
        (lambda root: load_corpus("zoo", "train", root=root), "Unknown split 'train'"),
        (lambda root: load_corpus_dir(root / "nodocs"), "has no docs/ folder"),
    ],
)
def test_load_corpus_errors_are_one_sentence(tmp_path: Path, action, message: str) -> None:  # type: ignore[no-untyped-def]
    _corpus(tmp_path)
    (tmp_path / "nodocs").mkdir()
    with pytest.raises(CorpusQAError, match=message):
        action(tmp_path)


@pytest.mark.parametrize("kind", ["maybe", "near_miss"])
def test_load_questions_rejects_a_bad_unanswerable_kind(tmp_path: Path, kind: str) -> None:
    # "near_miss" is a valid kind but not on an answerable question (one with evidence).
    row = {"id": "x", "question": "q?", "accept": ["a"], "evidence": "a b", "type": "fact", "split": "dev", "unanswerable": kind}
    if kind == "maybe":
        row.update(accept=[], evidence=None, type="unanswerable")
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(CorpusQAError, match="unanswerable must be one of out_of_scope, near_miss"):
        load_questions(path)


def test_open_corpus_ingests_into_its_own_index_incrementally(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = load_corpus_dir(_corpus(tmp_path / "corpora"))
    settings = load_settings(index_dir=tmp_path / "idx")
    engine, report = open_corpus(settings, corpus, embedder)
    assert engine.settings.index_dir == corpus_index_dir(tmp_path / "idx", "zoo") == tmp_path / "idx" / "evals" / "zoo"
    assert report.added == ["zoo.md"]
    answer = engine.ask("What colour is the zebra Mortimer?")
    assert "purple" in answer.answer
    _, again = open_corpus(settings, corpus, embedder)
    assert again.added == [] and again.updated == [] and again.unchanged == ["zoo.md"] and again.embedded_chunks == 0


def test_shipped_corpora_live_under_evals() -> None:
    assert CORPORA_DIR == Path(__file__).resolve().parents[2] / "evals" / "corpora"
