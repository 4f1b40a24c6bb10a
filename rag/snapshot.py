"""A generation of the index as questions see it: what they read, its keyword index and the ids it shows."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from corpusqa.errors import CorpusQAError, EmptyCorpusError, IndexNotFoundError
from corpusqa.settings import Settings
from corpusqa.types import Chunk, ScoredChunk
from ingest.keyword import KeywordIndex
from ingest.reading import ChunkReader, GenerationFiles
from ingest.state import read_state, state_mtime
from ingest.store import ChunkStore, open_store

__all__ = ["Snapshot", "load_committed", "load_from_server", "load_snapshot", "sentence_context"]


@dataclass
class Snapshot:
    """One generation of the index, swapped whole when a re-ingest finishes."""

    generation: int
    mtime: float
    # What questions read: the generation's own files (chunk records and sentence matrix, memory-mapped),
    # or Chroma for an index written before them. Chroma opens only when something needs it (#28).
    reader: ChunkReader
    keyword: KeywordIndex | None
    # The ids of the chunks this generation shows (the keyword index's rows); their texts stay on disk
    # and only a question's hits are read (#28): memory no longer grows with every chunk's text.
    ids: frozenset[str]
    open_store: Callable[[], ChunkStore] = field(repr=False)
    _store: ChunkStore | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def store(self) -> ChunkStore:
        """The Chroma store behind this generation (documents, sources, status), opened on first use."""
        with self._lock:
            if self._store is None:
                self._store = self.open_store()
            return self._store

    @property
    def opened_store(self) -> ChunkStore | None:
        """The Chroma store if something has opened it (None: no one needed it yet)."""
        return self._store

    @property
    def chunks(self) -> Mapping[str, Chunk]:
        """This generation's chunks by id, each read when asked for (nothing is held)."""
        return StoredChunks(self.reader, self.ids)


class StoredChunks(Mapping[str, Chunk]):
    """A read-only view of a generation's chunks: ids in memory, texts and metadata read from disk."""

    def __init__(self, reader: ChunkReader, ids: frozenset[str]) -> None:
        self._reader = reader
        self._ids = ids

    def __getitem__(self, chunk_id: str) -> Chunk:
        found = self._reader.get_chunks([chunk_id]) if chunk_id in self._ids else {}
        if chunk_id not in found:
            raise KeyError(chunk_id)
        return found[chunk_id]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ids))

    def __len__(self) -> int:
        return len(self._ids)


def load_snapshot(
    settings: Settings, open_store: Callable[[], ChunkStore], generation: int, bm25_dir: str, mtime: float
) -> Snapshot:
    """The generation `generation`, its keyword index read from `bm25_dir`; Chroma (`open_store`) is
    opened now only when that folder lacks the files questions read."""
    keyword = _load_keyword(settings, bm25_dir)
    ids = frozenset(keyword.ids) if keyword is not None else frozenset()
    if not ids or keyword is None:
        raise EmptyCorpusError(
            f"The index in {settings.index_dir} is empty; run `corpusqa ingest DIR` with some documents."
        )
    files = GenerationFiles.open(settings.index_dir / bm25_dir, keyword.ids)
    if files is not None:
        return Snapshot(generation, mtime, files, keyword, ids, open_store)
    store = open_store()
    return Snapshot(generation, mtime, store, keyword, ids, open_store, store)


def load_committed(settings: Settings, mtime: float, reopen: bool) -> Snapshot:
    """The committed generation of an embedded index, as state.json (modified at `mtime`) names it.

    `reopen`: this process read an earlier generation, so a Chroma opened later must be opened afresh when
    another process wrote this one (chromadb caches what it read; chroma-core/chroma#3792).
    """
    try:
        return _load_committed(settings, mtime, reopen)
    except CorpusQAError:
        # A commit replaced the generation between reading state.json and opening its folder (which it
        # then removed): the new one is whole, so read that instead.
        now = state_mtime(settings.index_dir)
        if now == mtime:
            raise
        return _load_committed(settings, now, reopen)


def _load_committed(settings: Settings, mtime: float, reopen: bool) -> Snapshot:
    from ingest.index import dense_cache_path

    state = read_state(settings.index_dir)
    if state is None:
        raise IndexNotFoundError(f"No index in {settings.index_dir}; run `corpusqa ingest` first (or set --index-dir).")
    fresh = reopen and state.writer_pid != os.getpid()
    generation = state.generation

    def open_chroma() -> ChunkStore:
        store = open_store(settings, create=False, fresh=fresh)
        store.dense_cache = dense_cache_path(settings, generation)
        return store

    return load_snapshot(settings, open_chroma, generation, state.bm25_dir, mtime)


def load_from_server(settings: Settings, store: ChunkStore) -> Snapshot:
    """Server mode: the generation the server records, with this machine's BM25 (and files) brought up to it."""
    from ingest.generation import sync_keyword_index

    state = sync_keyword_index(settings, store)
    return load_snapshot(settings, lambda: store, state.generation, state.bm25_dir, 0.0)


def _load_keyword(settings: Settings, folder: str) -> KeywordIndex | None:
    if not folder:
        return None
    try:
        return KeywordIndex.load(settings.index_dir / folder)
    except (OSError, ValueError, KeyError) as exc:
        raise CorpusQAError(
            f"The keyword index in {settings.index_dir / folder} is missing or damaged; "
            "run `corpusqa ingest` to rebuild it."
        ) from exc


def sentence_context(snapshot: Snapshot, retrieved: list[ScoredChunk]) -> tuple[dict[str, Any], Callable[[str], float]]:
    """What the answerer reads besides the passages: their sentence vectors and the corpus's idf."""
    sentence_vectors = snapshot.reader.sentence_vectors([scored.chunk for scored in retrieved])
    idf = snapshot.keyword.idf if snapshot.keyword else (lambda term: 1.0)
    return sentence_vectors, idf
