"""Hybrid retrieval: the fusion arithmetic, and BM25 queried without llama-index equals llama-index."""

from __future__ import annotations

import pytest

from corpusqa.settings import Settings
from ingest.keyword import KeywordIndex
from ingest.state import read_state
from rag import Engine
from rag.retriever import FusionWeights, fuse


@pytest.mark.parametrize(
    ("bm25", "dense", "weights", "expected"),
    [
        (["a", "b"], ["b", "a"], FusionWeights(1.0, 1.0, 60), ["a", "b"]),  # tie broken by id
        (["a", "b"], ["b", "a"], FusionWeights(1.0, 0.5, 60), ["a", "b"]),
        (["a", "b"], ["b", "a"], FusionWeights(0.5, 1.0, 60), ["b", "a"]),
        (["a"], ["c"], FusionWeights(1.0, 0.0, 60), ["a", "c"]),
        ([], ["c", "d"], FusionWeights(1.0, 1.0, 5), ["c", "d"]),
    ],
)
def test_fuse_orders_by_weighted_reciprocal_rank(
    bm25: list[str], dense: list[str], weights: FusionWeights, expected: list[str]
) -> None:
    assert [item[0] for item in fuse(bm25, dense, weights)] == expected


def test_fuse_reports_each_rank() -> None:
    fused = {item[0]: item for item in fuse(["a", "b"], ["b"], FusionWeights(1.0, 1.0, 10))}
    assert fused["a"][2:] == (1, 0)
    assert fused["b"][2:] == (2, 1)
    assert fused["b"][1] == pytest.approx(1 / 12 + 1 / 11)


def _llama_index_retriever(folder):  # type: ignore[no-untyped-def]
    """llama-index's BM25Retriever over a generation's chunks (what built the keyword index before #28)."""
    import json

    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    from ingest.keyword import keyword_text
    from ingest.text import BM25_TOKEN_PATTERN, stemmer

    records = [json.loads(line) for line in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    nodes = [TextNode(id_=chunk_id, text=keyword_text(text, meta)) for chunk_id, text, meta in records]
    return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=10, stemmer=stemmer(), token_pattern=BM25_TOKEN_PATTERN)


@pytest.mark.parametrize(
    "query",
    ["How many Taliban prisoners were held in total?", "Khalilzad Doha channels", "ceasefire", "zzzz unknownword", "the talks"],
)
def test_keyword_search_matches_llama_index_retriever(bundled_index: Settings, query: str) -> None:
    """The keyword index, built a batch at a time with bm25s and read without llama-index, ranks and scores as
    llama-index's BM25Retriever built over the same chunks does."""
    from llama_index.core.schema import QueryBundle

    state = read_state(bundled_index.index_dir)
    assert state is not None
    folder = bundled_index.index_dir / state.bm25_dir
    ours = KeywordIndex.load(folder).search(query, 10)
    reference = _llama_index_retriever(folder)
    theirs = [(hit.node.node_id, float(hit.score or 0)) for hit in reference.retrieve(QueryBundle(query)) if (hit.score or 0) > 0]
    assert [round(s, 5) for _, s in ours] == [round(s, 5) for _, s in theirs]
    # the same chunks at each score; equal scores in row order here, in bm25s's selection's order there
    # (the last score's chunks may be cut at the 10th place differently)
    def groups(hits: list[tuple[str, float]]) -> list[set[str]]:
        return [{i for i, s in hits if round(s, 5) == score} for score in sorted({round(s, 5) for _, s in hits}, reverse=True)]

    assert groups(ours)[:-1] == groups(theirs)[:-1]
    assert ours or query.startswith("zzzz")


def test_keyword_search_ranks_equal_scores_in_row_order_and_cuts_them_the_same_way() -> None:
    """Equal scores (the same text in several chunks) come in row order, also where the limit cuts them."""
    texts = [("z-first", "the lighthouse keeper counts gulls")]
    texts += [(f"tie-{n}", "the lighthouse keeper") for n in (7, 3, 9, 1)]  # ids not in row order
    texts += [("other", "a ferry timetable")]
    index = KeywordIndex.build(texts)
    assert index is not None
    found = index.search("lighthouse keeper", 10)
    assert [chunk_id for chunk_id, _ in found] == ["tie-7", "tie-3", "tie-9", "tie-1", "z-first"]  # longer: lower
    assert len({score for _, score in found[:4]}) == 1
    assert [chunk_id for chunk_id, _ in index.search("lighthouse keeper", 3)] == ["tie-7", "tie-3", "tie-9"]


def test_retrieve_returns_top_k_with_dense_best_kept(engine: Engine) -> None:
    hits = engine.retrieve("How many Taliban prisoners were held in total?", top_k=3)
    assert len(hits) == 3
    assert any(hit.dense_rank == 1 for hit in hits)
    assert [hit.score for hit in hits[:-1]] == sorted([hit.score for hit in hits[:-1]], reverse=True)


def test_keyword_load_maps_rows_without_the_corpus_and_reads_old_folders(bundled_index: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    state = read_state(bundled_index.index_dir)
    assert state is not None
    folder = bundled_index.index_dir / state.bm25_dir
    loaded = KeywordIndex.load(folder)
    assert loaded._bm25.corpus is None  # the chunk texts stay on disk (#28)
    query = "How many Taliban prisoners were held in total?"
    assert not (folder / "corpus.jsonl").exists(), "the chunk texts are written once, in chunks.jsonl"
    # a folder written by llama-index's retriever before ids.json existed: the ids come from its corpus.jsonl
    old = tmp_path / "bm25-old"
    shutil.copytree(folder, old)
    _llama_index_retriever(folder).persist(str(old))
    (old / "ids.json").unlink()
    assert (old / "corpus.jsonl").is_file()
    assert KeywordIndex.load(old).ids == loaded.ids and KeywordIndex.load(old).search(query, 10) == loaded.search(query, 10)
