"""A generation of the index as questions see it: its store, its keyword index and the ids it shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from corpusqa.errors import CorpusQAError, EmptyCorpusError
from corpusqa.settings import Settings
from corpusqa.types import Chunk, ScoredChunk
from ingest.keyword import KeywordIndex
from ingest.store import ChunkStore

__all__ = ["Snapshot", "load_snapshot", "sentence_context"]


@dataclass
class Snapshot:
    """One generation of the index, swapped whole when a re-ingest finishes."""

    generation: int
    mtime: float
    store: ChunkStore
    keyword: KeywordIndex | None
    # The ids of the chunks this generation shows (the keyword index's rows); their texts stay in the store
    # and only a question's hits are read (#28): memory no longer grows with every chunk's text.
    ids: frozenset[str]

    @property
    def chunks(self) -> Mapping[str, Chunk]:
        """This generation's chunks by id, each read from the store when asked for (nothing is held)."""
        return StoredChunks(self.store, self.ids)


class StoredChunks(Mapping[str, Chunk]):
    """A read-only view of a generation's chunks: ids in memory, texts and metadata read from the store."""

    def __init__(self, store: ChunkStore, ids: frozenset[str]) -> None:
        self._store = store
        self._ids = ids

    def __getitem__(self, chunk_id: str) -> Chunk:
        found = self._store.get_chunks([chunk_id]) if chunk_id in self._ids else {}
        if chunk_id not in found:
            raise KeyError(chunk_id)
        return found[chunk_id]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ids))

    def __len__(self) -> int:
        return len(self._ids)


def load_snapshot(settings: Settings, store: ChunkStore, generation: int, bm25_dir: str, mtime: float) -> Snapshot:
    """The generation `generation` of `store`, with its keyword index read from `bm25_dir`."""
    keyword = _load_keyword(settings, bm25_dir)
    ids = frozenset(keyword.ids) if keyword is not None else frozenset()
    if not ids:
        raise EmptyCorpusError(
            f"The index in {settings.index_dir} is empty; run `corpusqa ingest DIR` with some documents."
        )
    return Snapshot(generation, mtime, store, keyword, ids)

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
    sentence_vectors = snapshot.store.sentence_vectors([scored.chunk for scored in retrieved])
    idf = snapshot.keyword.idf if snapshot.keyword else (lambda term: 1.0)
    return sentence_vectors, idf
