"""The BM25 side of the index: bm25s, built and persisted next to Chroma, read without llama-index."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import CorpusQAError
from ingest.reading import best_first
from ingest.text import BM25_TOKEN_PATTERN, refused, stemmer, terms

__all__ = ["KeywordIndex", "keyword_text"]


_IDS = "ids.json"
# Texts tokenized at once while an index is built (memory: one batch of texts, not the corpus).
_TOKENIZE_BATCH = 1000


def _node_ids(path: Path) -> list[str]:
    """The chunk ids of a persisted index in row order (from corpus.jsonl, one line at a time, for a folder
    written before ids.json existed)."""
    ids_file = path / _IDS
    if ids_file.is_file():
        return [str(node_id) for node_id in json.loads(ids_file.read_text(encoding="utf-8"))]
    with (path / "corpus.jsonl").open(encoding="utf-8") as lines:
        return [str(json.loads(line)["node_id"]) for line in lines if line.strip()]


def _import_bm25s() -> Any:
    """`import bm25s` without scipy (a sixth of a cold `ask`, #28): bm25s imports scipy.sparse only for its
    optional csc_backend="scipy", and neither we nor llama-index's BM25Retriever choose it."""
    if "bm25s" in sys.modules:
        return sys.modules["bm25s"]
    with refused("scipy"):
        import bm25s
    return bm25s


def bm25_text(title: str, text: str, table: str = "") -> str:
    """What BM25 indexes for a chunk: its headline (and its table's caption) and its text."""
    if table and table != title:
        return f"{title}\n{table}\n{text}"
    return f"{title}\n{text}"


def keyword_text(text: str, meta: dict[str, Any]) -> str:
    """What BM25 indexes for a chunk stored with Chroma metadata `meta`."""
    table = json.loads(str(meta["table"]))["name"] if meta.get("table") else ""
    return bm25_text(str(meta["title"]), text, table)


class KeywordIndex:
    """BM25 over chunk texts; `search` returns (chunk id, score), best first."""

    def __init__(self, bm25: Any, node_ids: list[str], size: int, document_frequency: dict[str, int]) -> None:
        self._bm25 = bm25
        self._node_ids = node_ids
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
    def build(cls, texts: Iterable[tuple[str, str]]) -> KeywordIndex | None:
        """A fresh index over (chunk id, `bm25_text`) pairs (None when there are none).

        The scores llama-index's BM25Retriever gave (bm25s, Lucene BM25, the same tokens: a test compares
        the two), built a batch of texts at a time with bm25s's own streaming Tokenizer. The retriever held
        every chunk three times while it built (its nodes, its corpus of node dicts, their texts): memory
        that grew with the corpus at every commit (#28). Here a chunk is its token ids (int32) and its id.
        """
        bm25s = _import_bm25s()
        from bm25s.tokenization import Tokenizer

        tokenizer = Tokenizer(lower=True, splitter=BM25_TOKEN_PATTERN, stopwords="en", stemmer=stemmer())
        df: Counter[str] = Counter()
        node_ids: list[str] = []
        token_ids: list[Any] = []
        batch: list[str] = []

        def flush() -> None:
            rows = tokenizer.tokenize(batch, update_vocab=True, return_as="ids", show_progress=False)
            token_ids.extend(np.asarray(row, dtype=np.int32) for row in rows)
            batch.clear()

        for chunk_id, text in texts:
            node_ids.append(chunk_id)
            batch.append(text)
            df.update(set(terms(text)))
            if len(batch) >= _TOKENIZE_BATCH:
                flush()
        if batch:
            flush()
        if not node_ids:
            return None
        bm25 = bm25s.BM25()
        bm25.index((token_ids, tokenizer.get_vocab_dict()), show_progress=False)
        return cls(bm25, node_ids, len(node_ids), dict(df))

    def persist(self, path: Path) -> None:
        """Write to a folder: bm25s's files (without a corpus: questions read texts from the generation's
        chunks.jsonl), the chunk ids in row order, and the terms' document frequencies."""
        path.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(path), show_progress=False)
        (path / _IDS).write_text(json.dumps(self._node_ids), encoding="utf-8")
        (path / "terms.json").write_text(json.dumps({"n": self.size, "df": self.document_frequency}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> KeywordIndex:
        """Read a folder written by `persist` with bm25s alone (see `search`): its score matrix memory-mapped,
        its corpus (the chunk texts, which questions read from the store) never loaded."""
        bm25s = _import_bm25s()
        bm25 = bm25s.BM25.load(str(path), load_corpus=False, mmap=True, show_progress=False)
        node_ids = _node_ids(path)
        terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        return cls(bm25, node_ids, int(terms["n"]), dict(terms["df"]))

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """Best chunks for a query; chunks with a zero score are left out. Equal scores rank the earlier row
        first.

        Scores the bm25s index as llama-index's BM25Retriever `_retrieve` does (same tokenizer, stemmer, token
        pattern and bm25s scores), without importing llama_index.core (1.9 s) on the query path; a test checks
        that both give the same ranking over the same chunks. The top is chosen here, not by bm25s's
        `retrieve`: its `argpartition` over every chunk's score, most of them 0, took 6.7 ms on 47,119 chunks
        and 37 ms on 243,694 (numpy's selection slows down on many equal values), and left the order of equal
        scores to the selection's implementation (the earlier row first on one query, the later on another).
        Here only the chunks that score are ranked, and equal scores in row order.
        """
        bm25s = _import_bm25s()
        k = max(1, min(limit, self.size))
        tokens = bm25s.tokenize(query, stemmer=stemmer(), token_pattern=BM25_TOKEN_PATTERN, show_progress=False)
        known = self._bm25.vocab_dict
        if not any(token and token in known for token in tokens.vocab):
            return []  # no query word is in the index: the one expected way to find nothing
        try:
            words = bm25s.tokenization.convert_tokenized_to_string_list(tokens)[0]
            scores = np.asarray(self._bm25.get_scores(words))
            if not len(scores) == self.size == len(self._node_ids):  # files of different corpora in one folder
                raise ValueError(f"{len(scores)} scores for {self.size} counted and {len(self._node_ids)} listed chunks")
        except (ValueError, KeyError) as exc:  # anything else bm25s refuses is a broken index, not "no hits"
            raise CorpusQAError(
                f"The keyword index could not be searched ({str(exc)[:120]}); run `corpusqa ingest` to rebuild it."
            ) from exc
        rows = np.flatnonzero(scores > 0)
        found = scores[rows]
        order = best_first(found, k)  # `rows` ascend, so equal scores come in row order
        return [(self._node_ids[int(rows[i])], float(found[i])) for i in order]
