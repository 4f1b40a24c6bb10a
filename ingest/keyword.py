"""The BM25 side of the index: llama-index's BM25Retriever, persisted next to Chroma."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from corpusqa.types import Chunk
from ingest.text import BM25_TOKEN_PATTERN, STOPWORDS, stem, stemmer, terms

# STOPWORDS, stem and terms live in ingest.text; re-exported for callers of the old place.
__all__ = ["STOPWORDS", "KeywordIndex", "stem", "terms"]


def bm25_text(chunk: Chunk) -> str:
    """What BM25 indexes for a chunk: its headline (and its table's caption) and its text."""
    if chunk.table is not None and chunk.table.name != chunk.title:
        return f"{chunk.title}\n{chunk.table.name}\n{chunk.text}"
    return f"{chunk.title}\n{chunk.text}"


class KeywordIndex:
    """BM25 over chunk texts; `search` returns (chunk id, score), best first."""

    def __init__(self, retriever: Any, size: int, document_frequency: dict[str, int]) -> None:
        self._retriever = retriever
        self._bm25: Any = retriever.bm25 if retriever is not None else None
        self._node_ids: list[str] = [str(entry["node_id"]) for entry in retriever.corpus] if retriever is not None else []
        self.size = size
        self.document_frequency = document_frequency

    @property
    def ids(self) -> list[str]:
        """Chunk ids in this index (the chunks of one index generation)."""
        return list(self._node_ids)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term (BM25's smoothed form; unseen terms score high)."""
        df = self.document_frequency.get(term, 0)
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    @classmethod
    def build(cls, chunks: list[Chunk]) -> KeywordIndex | None:
        """A fresh index over `chunks` (None when there are none)."""
        if not chunks:
            return None
        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever

        nodes = [TextNode(id_=chunk.id, text=bm25_text(chunk)) for chunk in chunks]
        retriever = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=min(10, len(nodes)), stemmer=stemmer(), token_pattern=BM25_TOKEN_PATTERN
        )
        df: Counter[str] = Counter()
        for chunk in chunks:
            df.update(set(terms(bm25_text(chunk))))
        return cls(retriever, len(nodes), dict(df))

    def persist(self, path: Path) -> None:
        """Write to a folder."""
        path.mkdir(parents=True, exist_ok=True)
        self._retriever.persist(str(path), show_progress=False)
        (path / "terms.json").write_text(json.dumps({"n": self.size, "df": self.document_frequency}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> KeywordIndex:
        """Read a folder written by `persist` with bm25s alone (see `search`)."""
        import bm25s

        bm25 = bm25s.BM25.load(str(path), load_corpus=True, show_progress=False)
        node_ids = [str(entry["node_id"]) for entry in bm25.corpus]
        terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        index = cls(None, int(terms["n"]), dict(terms["df"]))
        index._bm25 = bm25
        index._node_ids = node_ids
        return index

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """Best chunks for a query; chunks with a zero score are left out.

        Queries the bm25s index that llama-index's BM25Retriever built and persisted, the way that
        retriever's `_retrieve` does (same tokenizer, stemmer and token pattern), without importing
        llama_index.core (1.9 s) on the query path; a test checks both give the same ranking.
        """
        import bm25s

        k = max(1, min(limit, self.size))
        tokens = bm25s.tokenize(query, stemmer=stemmer(), token_pattern=BM25_TOKEN_PATTERN, show_progress=False)
        if not tokens.vocab:
            return []
        try:
            indexes, scores = self._bm25.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        except ValueError:  # no query token is in the index vocabulary
            return []
        return [
            (self._node_ids[int(i)] if not isinstance(i, dict) else str(i["node_id"]), float(score))
            for i, score in zip(indexes[0], scores[0])
            if score > 0
        ]
