"""The bounded search finds what the whole scan finds, scoring a fraction of the rows, from files a
generation writes at commit; a generation without them, or with damaged ones, is searched whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest import sentence_bound
from ingest.reading import VECTORS, exact_search, write_sentence_matrix
from ingest.sentence_bound import BASIS, HEAD, SentenceBound, write_bound


def _clustered(rows: int, dim: int, seed: int = 3) -> np.ndarray:
    """Unit vectors around 40 topics in an 8-dimensional subspace, plus noise in every direction: few
    directions carry most of the variance, as in sentence embeddings."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, 8)) @ rng.standard_normal((8, dim))
    vectors = topics[rng.integers(0, 40, rows)] + 0.3 * rng.standard_normal((rows, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _write(folder: Path, vectors: np.ndarray) -> SentenceBound:
    np.save(folder / VECTORS, vectors)
    write_bound(folder, folder / VECTORS)
    bound = SentenceBound.open(folder, vectors)
    assert bound is not None
    return bound


def test_bounded_search_equals_the_whole_scan_and_scores_few_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentence_bound, "_BLOCK", 997)  # the files are written a block at a time
    vectors = _clustered(20_000, 48)
    bound = _write(tmp_path, vectors)
    rng = np.random.default_rng(11)
    chunk_of = str  # one chunk a row: the chunk ranking is the sentence ranking
    pruned = 0
    for row in rng.integers(0, len(vectors), 25):  # questions near a sentence, as most are
        query = vectors[row] + 0.1 * rng.standard_normal(48).astype(np.float32)
        query /= np.linalg.norm(query)
        whole = exact_search(vectors, chunk_of, query, 20)
        bounded = exact_search(vectors, chunk_of, query, 20, bound=bound)
        assert [chunk for chunk, _ in bounded] == [chunk for chunk, _ in whole]
        assert np.allclose([s for _, s in bounded], [s for _, s in whole], atol=1e-6)
        rows = bound.candidates(vectors, query, 80)
        if rows is not None:
            assert len(rows) <= len(vectors) // 8
            pruned += 1
    assert pruned == 25  # the bounds do rule rows out


def test_questions_far_from_every_sentence_still_get_the_exact_top(tmp_path: Path) -> None:
    vectors = _clustered(5_000, 32, seed=5)
    bound = _write(tmp_path, vectors)
    rng = np.random.default_rng(2)
    for _ in range(10):
        query = rng.standard_normal(32).astype(np.float32)
        query /= np.linalg.norm(query)
        whole = exact_search(vectors, str, query, 20)
        assert [c for c, _ in exact_search(vectors, str, query, 20, bound=bound)] == [c for c, _ in whole]


def test_a_generation_writes_the_bound_files_and_a_missing_or_damaged_one_means_the_whole_scan(tmp_path: Path) -> None:
    vectors = _clustered(300, 16)
    ids = [f"doc.md#{row}:0" for row in range(300)]
    chunk_ids = [i.rsplit(":", 1)[0] for i in ids]
    write_sentence_matrix(tmp_path, [(ids, chunk_ids, vectors)], sorted(set(chunk_ids)))
    assert (tmp_path / HEAD).is_file() and (tmp_path / BASIS).is_file()
    stored = np.load(tmp_path / VECTORS)
    bound = SentenceBound.open(tmp_path, stored)
    assert bound is not None
    query = stored[7]
    assert exact_search(stored, str, query, 5, bound=bound) == exact_search(stored, str, query, 5)  # small: scanned whole
    assert SentenceBound.open(tmp_path, stored[1:]) is None  # files of another matrix
    assert SentenceBound.open(tmp_path, stored[::-1].copy()) is None  # the same shape, other rows
    (tmp_path / HEAD).write_bytes((tmp_path / HEAD).read_bytes()[:200])  # cut short
    assert SentenceBound.open(tmp_path, stored) is None
    (tmp_path / HEAD).unlink()
    assert SentenceBound.open(tmp_path, stored) is None


def test_the_bound_of_an_empty_matrix(tmp_path: Path) -> None:
    write_sentence_matrix(tmp_path, [], ["a.md#0"])
    bound = SentenceBound.open(tmp_path, np.load(tmp_path / VECTORS))
    assert bound is not None and bound.short.shape == (0, 0)
    assert exact_search(np.zeros((0, 0), np.float32), str, np.zeros(0, np.float32), 5, bound=bound) == []


def test_a_generation_without_the_bound_files_gets_them_from_a_no_change_ingest(
    tmp_path: Path, corpus_copy: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """An index written before the bound files answers by the whole scan; the next ingest, with nothing to
    write, adds them to the committed generation, and the same question finds the same passages."""
    from corpusqa.settings import load_settings
    from ingest.state import read_state
    from rag import Engine

    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    state = read_state(settings.index_dir)
    assert state is not None
    folder = settings.index_dir / state.bm25_dir
    question = "Which congressman raised the case of Mark Frerichs?"
    before = [(hit.chunk.id, hit.score) for hit in engine.retrieve(question)]
    (folder / HEAD).unlink()
    (folder / BASIS).unlink()  # as a generation written before them

    report = Engine(settings, embedder).ingest([corpus_copy])

    assert report.added == report.updated == report.deleted == []
    after = read_state(settings.index_dir)
    assert after is not None and after.bm25_dir == state.bm25_dir, "the same generation, not a new one"
    assert SentenceBound.open(folder, np.load(folder / VECTORS)) is not None
    assert [(hit.chunk.id, hit.score) for hit in Engine(settings, embedder).retrieve(question)] == before
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")], "no temporary file left"


def test_equal_scores_at_the_cut_are_taken_in_row_order(tmp_path: Path) -> None:
    """A sentence repeated in many chunks scores the same in each: which of them make the top is fixed."""
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    repeated = vectors[0].copy()
    vectors[rng.choice(np.arange(1, 600), 150, replace=False)] = repeated  # the same sentence in 150 chunks
    rows = sorted(int(r) for r in np.flatnonzero((vectors == repeated).all(axis=1)))
    bound = _write(tmp_path, vectors)
    for search_bound in (None, bound):
        found = exact_search(vectors, str, repeated, 20, bound=search_bound)
        assert [chunk for chunk, _ in found] == [str(row) for row in rows[:20]]
