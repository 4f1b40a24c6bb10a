"""The BM25 side of the index: llama-index's BM25Retriever, persisted next to Chroma."""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpusqa.types import Chunk

__all__ = ["KeywordIndex", "STOPWORDS", "stem", "terms"]

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
# Question words that NLTK's list keeps but that never carry a question's topic.
_EXTRA_STOPWORDS = frozenset({"many", "much", "according", "also", "would", "could"})


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # NLTK's English list as shipped inside llama-index-core (read as a file: importing nltk costs 1.4 s).
    import llama_index.core

    path = Path(llama_index.core.__file__).parent / "_static/nltk_cache/corpora/stopwords/english"
    return frozenset(path.read_text(encoding="utf-8").split()) | _EXTRA_STOPWORDS


class _Stop:
    def __contains__(self, word: object) -> bool:
        return word in _stopwords()


STOPWORDS = _Stop()


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word (as `terms` uses)."""
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text` (stopwords dropped; numbers kept without commas)."""
    words = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if word[0].isdigit():
            word = word.replace(",", "")
        else:
            word = re.sub(r"['’]s$", "", word)
        if word in STOPWORDS:
            continue
        words.append(word)
    return list(_stemmer().stemWords(words))


def bm25_text(chunk: Chunk) -> str:
    """What BM25 indexes for a chunk: its headline and its text."""
    return f"{chunk.title}\n{chunk.text}"


class KeywordIndex:
    """BM25 over chunk texts; `search` returns (chunk id, score), best first."""

    def __init__(self, retriever: Any, size: int, document_frequency: dict[str, int]) -> None:
        self._retriever = retriever
        self.size = size
        self.document_frequency = document_frequency

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
        retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(10, len(nodes)))
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
        """Read a folder written by `persist`."""
        from llama_index.retrievers.bm25 import BM25Retriever

        # bm25s logs a warning when top_k exceeds the corpus; we clamp per query instead.
        logging.getLogger("llama_index.retrievers.bm25.base").setLevel(logging.ERROR)
        retriever = BM25Retriever.from_persist_dir(str(path), show_progress=False)
        terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        return cls(retriever, int(terms["n"]), dict(terms["df"]))

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """Best chunks for a query; chunks with a zero score are left out."""
        from llama_index.core.schema import QueryBundle

        self._retriever.similarity_top_k = max(1, min(limit, self.size))
        try:
            hits = self._retriever.retrieve(QueryBundle(query))
        except ValueError:  # bm25s raises on a query with no indexable token
            return []
        return [(hit.node.node_id, float(hit.score or 0.0)) for hit in hits if (hit.score or 0.0) > 0]
