"""Hybrid retrieval: BM25 and dense (MiniLM) rankings fused by weighted reciprocal rank."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from corpusqa.types import ScoredChunk
from ingest.keyword import KeywordIndex
from ingest.reading import ChunkReader

__all__ = ["FusionWeights", "HybridRetriever", "choose", "fuse"]


@dataclass(frozen=True)
class FusionWeights:
    """Weights of weighted reciprocal-rank fusion (the defaults: evals/fusion.json, `python -m evals.fit_fusion`)."""

    bm25: float
    dense: float
    rrf_k: int


def fuse(
    bm25_ids: list[str], dense_ids: list[str], weights: FusionWeights
) -> list[tuple[str, float, int, int]]:
    """(id, fused score, bm25 rank, dense rank), best first; ranks are 1-based, 0 when absent."""
    scores: dict[str, float] = {}
    ranks: dict[str, list[int]] = {}
    for position, chunk_id in enumerate(bm25_ids, start=1):
        scores[chunk_id] = scores.get(chunk_id, 0.0) + weights.bm25 / (weights.rrf_k + position)
        ranks.setdefault(chunk_id, [0, 0])[0] = position
    for position, chunk_id in enumerate(dense_ids, start=1):
        scores[chunk_id] = scores.get(chunk_id, 0.0) + weights.dense / (weights.rrf_k + position)
        ranks.setdefault(chunk_id, [0, 0])[1] = position
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(chunk_id, score, ranks[chunk_id][0], ranks[chunk_id][1]) for chunk_id, score in ordered]


class HybridRetriever:
    """Top-k chunks for a question from one index snapshot."""

    def __init__(
        self, store: ChunkReader, keyword: KeywordIndex | None, weights: FusionWeights, ids: Collection[str]
    ) -> None:
        self.store = store
        self.keyword = keyword
        self.weights = weights
        # The snapshot's chunk ids: results are limited to them, so a question asked while a re-ingest
        # writes never mixes a file's old and new chunks. Only the hits' texts are read from the store.
        self.ids = ids

    def rankings(self, question: str, vector: np.ndarray, depth: int) -> tuple[list[str], list[str]]:
        """The BM25 and the dense ranking of the snapshot's chunk ids, `depth` deep each, best first."""
        ids = self.ids
        bm25 = [chunk_id for chunk_id, _ in self.keyword.search(question, depth) if chunk_id in ids] if self.keyword else []
        dense = (
            [chunk_id for chunk_id, _ in self.store.query(vector, depth, ids) if chunk_id in ids]
            if self.weights.dense > 0
            else []
        )
        return bm25, dense

    def retrieve(self, question: str, vector: np.ndarray, top_k: int) -> list[ScoredChunk]:
        """Fused ranking of both retrievers, cut to top_k."""
        bm25, dense = self.rankings(question, vector, max(20, top_k * 4))
        chosen = choose(bm25, dense, self.weights, top_k)
        chunks = self.store.get_chunks([item[0] for item in chosen])
        return [
            ScoredChunk(chunks[chunk_id], score, bm25_rank, dense_rank)
            for chunk_id, score, bm25_rank, dense_rank in chosen
            if chunk_id in chunks
        ]


def choose(bm25: list[str], dense: list[str], weights: FusionWeights, top_k: int) -> list[tuple[str, float, int, int]]:
    """The top_k of the fused rankings (as `fuse` gives them), keeping the dense side's best passage."""
    fused = fuse(bm25, dense, weights)
    chosen = fused[:top_k]
    # Keep the dense side's best passage even when BM25 outvotes it: it is the one that finds
    # paraphrased questions sharing few words with the text (and BM25 ranks first far more often).
    if dense and weights.dense > 0 and top_k > 1 and dense[0] not in {item[0] for item in chosen}:
        chosen = chosen[:-1] + [item for item in fused if item[0] == dense[0]]
    return chosen
