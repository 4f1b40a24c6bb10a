"""The generation's sentence matrix, written a block at a time, is the file np.save writes of the whole matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest import reading
from ingest.reading import VECTORS, write_sentence_matrix


@pytest.mark.parametrize("block", [1, 3, 5000])
def test_sentence_matrix_written_in_blocks_equals_np_save_of_the_sorted_matrix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(reading, "_BLOCK", block)  # several blocks, and one
    rng = np.random.default_rng(7)
    chunk_ids = ["b.md#0", "a.md#1", "a.md#0"]
    sentences = [(c, n) for c in chunk_ids for n in range(3)]
    order = rng.permutation(len(sentences))  # pages come in the store's order, not sorted
    ids = [f"{sentences[i][0]}:{sentences[i][1]}" for i in order]
    vectors = rng.standard_normal((len(ids), 8)).astype(np.float32)
    pages = [(ids[:4], [i.rsplit(":", 1)[0] for i in ids[:4]], vectors[:4]), (ids[4:], [i.rsplit(":", 1)[0] for i in ids[4:]], vectors[4:])]

    write_sentence_matrix(tmp_path, pages, chunk_ids[:2])  # a.md#0 is not shown: its rows are left out

    kept = sorted((sentence_id, row) for row, sentence_id in enumerate(ids) if not sentence_id.startswith("a.md#0:"))
    expected = tmp_path / "expected.npy"
    np.save(expected, vectors[[row for _, row in kept]])
    assert (tmp_path / VECTORS).read_bytes() == expected.read_bytes()


def test_sentence_matrix_of_no_sentences_is_an_empty_npy(tmp_path: Path) -> None:
    write_sentence_matrix(tmp_path, [], ["a.md#0"])
    assert np.load(tmp_path / VECTORS).shape == (0, 0)
