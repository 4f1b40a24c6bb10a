"""The exact search over every sentence vector of the index, and its copy on disk.

A question's vector is compared with every sentence vector, and each chunk ranked by its best sentence:
on the eval dev split this found the evidence far more often than chunk vectors (a passage's mean dilutes
the one sentence that answers). The matrix is read back from the store (Chroma's sentence collection and an
embedded index's vector files) once per sentence count, or memory-mapped from the copy kept beside the
generation; Chroma's approximate (HNSW) index answers when the collection's vectors cannot be read back.
Questions on an index with generation files never come here (ingest/reading.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import CorpusQAError
from ingest.reading import best_per_chunk, exact_search, sentence_depth
from ingest.state import remove_path

__all__ = ["SentenceMatrix"]

_LOG = logging.getLogger(__name__)

#: Pages of (sentence ids, their chunk ids, vectors), every stored sentence once.
Pages = Callable[[], Iterator[tuple[list[str], list[str], np.ndarray]]]


@dataclass(frozen=True)
class _Dense:
    """One sentence matrix as read: (sentence count, vectors, their chunk ids) and the row mask of the last
    `allowed` set it was filtered with. Never changed; a new one replaces it."""

    total: int
    vectors: np.ndarray
    chunk_ids: tuple[str, ...]
    allowed: Container[str] | None = None
    mask: np.ndarray | None = None


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


class SentenceMatrix:
    """Every sentence vector of one Chroma collection, searched exactly."""

    def __init__(self, sentences: Any, pages: Pages, count: Callable[[], int]) -> None:
        self.sentences = sentences
        self._pages = pages
        self._count = count
        #: Why questions fell back to Chroma's approximate search (None: they never did); shown by `status`.
        self.fallback: str | None = None
        # The matrix, replaced whole (never changed in place): a question reads one _Dense into a local
        # name, so a reload in another thread can never mix two matrices or two masks in one query.
        self._dense: _Dense | None = None
        # Where the matrix of the generation being read is kept on disk (set by the reader for an embedded
        # index; None: always read from Chroma). See `load`.
        self.dense_cache: Path | None = None

    def query(self, vector: np.ndarray, limit: int, allowed: Container[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks to a query vector as (id, cosine similarity) (`allowed`: the chunk ids a question may see).

        Searches sentence vectors and ranks each chunk by its best sentence: on the eval dev split
        this found the evidence far more often than the chunk vectors (a passage's mean dilutes
        the one sentence that answers).
        """
        from chromadb.errors import ChromaError

        try:
            dense = self.load()
        except ChromaError as exc:  # InternalError on a segment a SIGKILL left half-written (chroma #7090)
            self.note_fallback(exc)
            try:
                return self.approximate_query(vector, limit)
            except ChromaError as again:
                raise CorpusQAError(
                    f"The index's vectors cannot be read ({again.__class__.__name__}: {str(again)[:120]}); "
                    "re-ingest into a fresh --index-dir."
                ) from again
        mask = None
        if allowed is not None:  # the committed generation only: never a killed ingest's half-written rows
            if dense.allowed is not allowed:
                mask = np.fromiter((cid in allowed for cid in dense.chunk_ids), bool, len(dense.chunk_ids))
                mask.setflags(write=False)
                dense = dataclasses.replace(dense, allowed=allowed, mask=mask)
                self._dense = dense
            mask = dense.mask
        return exact_search(dense.vectors, dense.chunk_ids.__getitem__, vector, limit, mask)

    def approximate_query(self, vector: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """Chroma's HNSW search: the fallback when the sentence vectors cannot all be read back (only the
        sentences Chroma holds: an embedded index's newer ones are in files, ingest/vector_files.py)."""
        total = int(self.sentences.count())
        if total == 0:
            return []
        result = self.sentences.query(
            query_embeddings=[vector.tolist()], n_results=sentence_depth(limit, total), include=["metadatas", "distances"]
        )
        hits = zip(result["metadatas"][0], result["distances"][0])
        return best_per_chunk(((str(meta["chunk_id"]), 1.0 - float(distance)) for meta, distance in hits), limit)

    def load(self) -> _Dense:
        """Every sentence vector (rows sorted by id) and its chunk id; reloaded when the count changes."""
        total = int(self._count())
        dense = self._dense
        if dense is not None and dense.total == total:
            return dense
        if total == 0:  # an empty index (nothing to reshape)
            dense = _Dense(0, _frozen(np.zeros((0, 0), dtype=np.float32)), ())
            self._dense = dense
            return dense
        cached = self._read_dense_cache(total)
        if cached is not None:
            dense = _Dense(total, _frozen(cached[0]), tuple(cached[1]))
            self._dense = dense
            return dense
        # Read in pages: one get() of every row held ~17x the matrix's size at its peak (640 MiB for
        # 25k sentences, a 37 MiB matrix); pages of _BATCH rows keep that transient near one page's.
        ids: list[str] = []
        chunk_ids: list[str] = []
        parts: list[np.ndarray] = []
        for page_ids, page_chunk_ids, vectors in self._pages():
            ids.extend(page_ids)
            chunk_ids.extend(page_chunk_ids)
            parts.append(vectors)
        order = sorted(range(len(ids)), key=ids.__getitem__)
        vectors = np.concatenate(parts)[order] if parts else np.zeros((0, 0), dtype=np.float32)
        dense = _Dense(total, _frozen(vectors), tuple(chunk_ids[row] for row in order))
        self._dense = dense
        self._write_dense_cache(total, dense.vectors, list(dense.chunk_ids))
        return dense

    def check(self) -> None:
        """Read the sentence matrix now, so that `fallback` says whether questions will need the fallback."""
        from chromadb.errors import ChromaError

        try:
            self.load()
        except ChromaError as exc:
            self.note_fallback(exc)

    def note_fallback(self, exc: Exception) -> None:
        """Log the switch to Chroma's approximate search once per store, and keep it for `status`."""
        if self.fallback is None:
            self.fallback = f"{exc.__class__.__name__}: {str(exc)[:160]}"
            _LOG.warning(
                "Could not read the sentence vectors back from Chroma (%s); searching with Chroma's approximate "
                "index instead, which can rank differently. Re-ingest into a fresh --index-dir to repair it.",
                self.fallback,
            )

    # The matrix is kept on disk per generation and sentence count: a cold `ask` on a large index would
    # otherwise read every sentence vector back from Chroma (4.3 s for 25k sentences) on its first
    # question. A file that is missing, unreadable or of another count is simply rebuilt from Chroma.

    def _dense_path(self, total: int) -> Path | None:
        if self.dense_cache is None:
            return None
        # the collection's id too: a collection made again (a rebuilt index) never reads an old file
        return self.dense_cache.with_name(f"{self.dense_cache.name}-{str(self.sentences.id)[:8]}-{total}")

    def _read_dense_cache(self, total: int) -> tuple[np.ndarray, list[str]] | None:
        """The kept matrix, memory-mapped (read-only): the process holds only the pages questions touch."""
        path = self._dense_path(total)
        if path is None or not (path / "vectors.npy").is_file():
            return None
        try:
            vectors = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
            chunk_ids = json.loads((path / "chunk_ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, EOFError):
            return None
        ok = vectors.dtype == np.float32 and vectors.ndim == 2 and isinstance(chunk_ids, list)
        return (vectors, [str(cid) for cid in chunk_ids]) if ok and len(chunk_ids) == total == len(vectors) else None

    def _write_dense_cache(self, total: int, vectors: np.ndarray, chunk_ids: list[str]) -> None:
        path = self._dense_path(total)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            try:
                remove_path(partial)
                partial.mkdir()
                np.save(partial / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
                (partial / "chunk_ids.json").write_text(json.dumps(chunk_ids), encoding="utf-8")
                remove_path(path)  # a torn or unreadable copy (a reader that mapped it keeps its pages)
                os.replace(partial, path)  # a folder renamed whole: a reader sees both files or neither
            finally:
                remove_path(partial)
            for old in path.parent.iterdir():  # other generations' matrices (and the .npz files of before)
                if old != path and not old.name.startswith("."):
                    remove_path(old)
        except OSError:  # a read-only index still answers, from Chroma
            return
