"""The Chroma side of the index: chunk vectors, sentence vectors and per-document bookkeeping.

We talk to chromadb directly rather than through llama-index's ChromaVectorStore: its add() is not
an upsert, it stores each node a second time as JSON, and we need where-filtered gets and deletes by
source file to replace a changed document only after its new chunks are written (llama-index's own
upsert deletes first: run-llama/llama_index#22639).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from corpusqa.settings import Settings
from corpusqa.types import Chunk
from ingest.chroma_paths import fresh_path, read_only_copy, reloaded_path, writable
from ingest.reading import to_chunk
from ingest.sentence_matrix import SentenceMatrix
from ingest.vector_files import VectorFiles

__all__ = ["ChunkStore", "StoredDocument", "open_store", "writable"]

CHUNKS = "corpusqa_chunks"
SENTENCES = "corpusqa_sentences"
META = "corpusqa_meta"  # one record: the shared index generation (used with a Chroma server)
# The chunks collection's metadata key saying its records hold a placeholder, not a vector.
_NO_VECTORS = "corpusqa_no_vectors"
_PLACEHOLDER = np.zeros(1, dtype=np.float32)
#: An embedded index's sentence-vector files, in its index dir.
VECTOR_DIR = "vectors"
# Chroma caps one request; 5,000 stays well under its max batch size.
_BATCH = 5000
# Listing every chunk or sentence (versions, documents, a commit's records and vectors) reads this many at
# a time: a page's parsed rows (a chunk's metadata holds its sentence and entity spans) are what such a
# listing holds at its peak (#28).
_LIST_BATCH = 1000
# The metadata keys a listing keeps (source, hash, signature, chunk count, root).
_BOOKKEEPING = ("source", "doc_hash", "signature", "doc_chunks", "root")


@dataclass(frozen=True)
class StoredDocument:
    """What the index holds for one source file."""

    source: str
    hash: str
    chunks: int
    complete: bool
    signature: str
    root: str
    # chunk ids of this version (filled by ChunkStore.versions())
    ids: tuple[str, ...] = ()


def open_store(settings: Settings, create: bool, fresh: bool = False, reload: bool = False) -> ChunkStore:
    """The store for these settings: an embedded Chroma in index_dir, or a Chroma server.

    With `fresh`, an embedded store is reopened from disk: chromadb caches one System per path and
    a process never sees another process's later writes through it (chroma-core/chroma#3792), so a
    reader reopens after a re-ingest done elsewhere (under another spelling of the path). With `reload`,
    as an ingest opens it, the path's own cached System is replaced (`reloaded_path`).
    """
    enforce_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
            client: Any = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, headers=headers, settings=chroma_settings
            )
            client.heartbeat()
        else:
            if not create and not settings.chroma_dir.exists():
                from corpusqa.errors import IndexNotFoundError

                raise IndexNotFoundError(
                    f"No index in {settings.index_dir}; run `corpusqa ingest` first (or set --index-dir)."
                )
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            if not create and not writable(settings.chroma_dir):
                path = read_only_copy(settings.chroma_dir)
            else:
                base = str(settings.chroma_dir)
                path = fresh_path(base) if fresh else reloaded_path(base) if reload else base
            client = chromadb.PersistentClient(path=path, settings=chroma_settings)
    except CorpusQAError:
        raise
    except Exception as exc:  # chromadb raises assorted types for an unreachable or broken store
        where = (
            f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else str(settings.chroma_dir)
        )
        raise CorpusQAError(
            f"Could not open the index at {where} ({exc.__class__.__name__}: {str(exc)[:120]}); "
            "check that it is running and reachable, or re-ingest into a fresh --index-dir."
        ) from exc
    # an embedded index keeps sentence vectors in files (ingest/vector_files.py); a server keeps them itself
    return ChunkStore(client, None if settings.chroma_host else VectorFiles(settings.index_dir / VECTOR_DIR))


class ChunkStore:
    """Chroma collections: chunks (texts and metadata; a placeholder vector each in a collection made now)
    and sentence vectors (cosine space).

    With `vectors` (an embedded index), sentence vectors are written to files instead
    (ingest/vector_files.py); the sentence collection then holds only what an index written before
    kept there, read until re-ingest replaces those documents.
    """

    def __init__(self, client: Any, vectors: VectorFiles | None = None) -> None:
        self.client = client
        self.vectors = vectors
        space = {"hnsw:space": "cosine"}
        # A chunks collection made now stores no chunk vector (a placeholder [0.0] each): no question ever
        # searched them, and Chroma kept each in its in-process graph while writing (#28). One made before
        # (its metadata lacks the key) keeps getting the mean vectors it was made with.
        self.chunks = client.get_or_create_collection(CHUNKS, metadata={_NO_VECTORS: 1}, embedding_function=None)
        self.chunk_vectors = not (self.chunks.metadata or {}).get(_NO_VECTORS)
        self.sentences = client.get_or_create_collection(SENTENCES, metadata=space, embedding_function=None)
        self.meta = client.get_or_create_collection(META, embedding_function=None)
        #: The exact search over every sentence vector (its fallback, its copy on disk).
        self.matrix = SentenceMatrix(self.sentences, self.sentence_pages, self.sentence_count)

    def read_generation(self) -> dict[str, Any] | None:
        """The generation record written by the last finished ingest (None before the first)."""
        page = self.meta.get(ids=["state"], include=["metadatas"])
        metadatas = page["metadatas"] or []
        return dict(metadatas[0]) if metadatas and metadatas[0] else None

    def write_generation(self, generation: int, fingerprint: str, last_ingest: str, documents: str = "") -> None:
        """Record a finished ingest for every machine sharing this store (`documents`: its manifest as JSON)."""
        self.meta.upsert(
            ids=["state"],
            embeddings=[[0.0]],
            metadatas=[
                {"generation": generation, "fingerprint": fingerprint, "last_ingest": last_ingest, "documents": documents}
            ],
        )

    # ---- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        """Chunks in the index."""
        return int(self.chunks.count())

    def documents(self) -> dict[str, StoredDocument]:
        """Per source: its hash, chunk count and whether every chunk of that version is present."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for metadata in self._all_metadatas():
            groups[str(metadata["source"])].append(metadata)
        return {source: _stored(source, metas) for source, metas in groups.items()}

    def source_chunks(self, source: str) -> tuple[StoredDocument | None, list[Chunk]]:
        """One source's record and every chunk stored for it (a reader keeps those its generation shows)."""
        page = self.chunks.get(where={"source": source}, include=["metadatas", "documents"])
        metas = page["metadatas"] or []
        chunks = [to_chunk(i, d, m) for i, d, m in zip(page["ids"], page["documents"], metas)]
        return (_stored(source, list(metas)) if metas else None), chunks

    def versions(self) -> dict[str, list[StoredDocument]]:
        """Per source, every version the store holds (one per content hash and signature), with its chunk ids.

        A source holds more than one version between an ingest writing a new one and committing it.
        """
        groups: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for chunk_id, metadata in self._all_metadatas(with_ids=True):
            key = (str(metadata["source"]), str(metadata["doc_hash"]), str(metadata.get("signature", "")))
            groups[key].append((chunk_id, metadata))
        out: dict[str, list[StoredDocument]] = defaultdict(list)
        for (source, digest, signature), rows in sorted(groups.items()):
            expected = int(rows[0][1]["doc_chunks"])
            root = str(rows[0][1].get("root", ""))
            ids = tuple(sorted(chunk_id for chunk_id, _ in rows))
            out[source].append(StoredDocument(source, digest, len(rows), len(rows) == expected, signature, root, ids))
        return dict(out)

    def _all_metadatas(self, with_ids: bool = False) -> list[Any]:
        """Every chunk's bookkeeping keys (not its sentences, entities or table: a few per cent of the metadata,
        so listing a large index at ingest and commit stays small)."""
        rows: list[Any] = []
        for page in _pages(self.chunks, ["metadatas"], limit=_LIST_BATCH):
            metadatas = [{key: meta[key] for key in _BOOKKEEPING if key in meta} for meta in page["metadatas"] or []]
            rows.extend(zip(page["ids"], metadatas) if with_ids else metadatas)
        return rows

    def chunk_records(self, ids: Container[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(chunk id, text, metadata as stored) of the chunks in `ids`, read a page at a time."""
        for page in _pages(self.chunks, ["metadatas", "documents"], limit=_LIST_BATCH):
            for chunk_id, text, meta in zip(page["ids"], page["documents"], page["metadatas"]):
                if chunk_id in ids:
                    yield chunk_id, text or "", dict(meta)

    def sentence_pages(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """Every stored sentence as pages of (sentence ids, their chunk ids, vectors): the files' first,
        then the sentence collection's (a chunk in both is given once, from its file)."""
        in_files: set[str] = set()
        if self.vectors is not None:
            yield from self.vectors.pages(skip=in_files)
            if not self.sentences.count():
                return
        for page in _pages(self.sentences, ["embeddings", "metadatas"], limit=_LIST_BATCH):
            ids = list(page["ids"])
            vectors = np.asarray(page["embeddings"], dtype=np.float32).reshape(len(ids), -1)
            owners = [str(meta["chunk_id"]) for meta in page["metadatas"]]
            keep = [i for i, owner in enumerate(owners) if owner not in in_files]
            if len(keep) < len(ids):
                ids, owners, vectors = [ids[i] for i in keep], [owners[i] for i in keep], vectors[keep]
            yield ids, owners, vectors

    def sentence_count(self) -> int:
        """Sentences stored (in the collection and, for an embedded index, in files)."""
        return int(self.sentences.count()) + (self.vectors.count() if self.vectors is not None else 0)

    def all_chunks(self) -> list[Chunk]:
        """Every chunk (for building the keyword index)."""
        return [
            to_chunk(i, d, m)
            for page in _pages(self.chunks, ["metadatas", "documents"])
            for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])
        ]

    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """Chunks by id (missing ids are left out): a question reads only its hits' texts."""
        if not ids:
            return {}
        page = self.chunks.get(ids=ids, include=["metadatas", "documents"])
        return {i: to_chunk(i, d, m) for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])}

    def query(self, vector: np.ndarray, limit: int, allowed: Container[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks to a query vector as (id, cosine similarity), each chunk ranked by its best sentence
        (ingest/sentence_matrix.py)."""
        return self.matrix.query(vector, limit, allowed)

    def check_vectors(self) -> None:
        """Read the sentence matrix now, so that `fallback` says whether questions will need the fallback."""
        self.matrix.check()

    @property
    def fallback(self) -> str | None:
        """Why questions fell back to Chroma's approximate search (None: they never did); shown by `status`."""
        return self.matrix.fallback

    @property
    def dense_cache(self) -> Path | None:
        """Where the sentence matrix of the generation being read is kept on disk (None: read from Chroma)."""
        return self.matrix.dense_cache

    @dense_cache.setter
    def dense_cache(self, path: Path | None) -> None:
        self.matrix.dense_cache = path

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """For each chunk id, a (sentences x dim) matrix in sentence order."""
        out = self.vectors.by_chunk(chunks) if self.vectors is not None else {}
        chunks = [chunk for chunk in chunks if chunk.id not in out]
        ids = [f"{chunk.id}:{n}" for chunk in chunks for n in range(len(chunk.sentences))]
        if not ids or not self.sentences.count():
            return out
        page = self.sentences.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(page["ids"], page["embeddings"]))
        for chunk in chunks:
            rows = [by_id.get(f"{chunk.id}:{n}") for n in range(len(chunk.sentences))]
            if all(row is not None for row in rows):
                out[chunk.id] = np.asarray(rows, dtype=np.float32)
        return out

    # ---- writing -------------------------------------------------------------------------------

    def write_document(
        self, chunks: list[Chunk], sentence_vectors: list[np.ndarray], signature: str, root: str
    ) -> None:
        """Upsert a document's chunks (sentences first, so a visible chunk always has its sentences)."""
        if self.vectors is not None:
            self.vectors.write(chunks, sentence_vectors, signature)
            if self.sentences.count():  # an index written before: the collection's rows of these chunks go
                stale = [f"{chunk.id}:{n}" for chunk, vectors in zip(chunks, sentence_vectors) for n in range(len(vectors))]
                for start in range(0, len(stale), _BATCH):
                    self.sentences.delete(ids=stale[start : start + _BATCH])
        else:
            self._write_sentences(chunks, sentence_vectors)
        self._write_chunks(chunks, sentence_vectors, signature, root)

    def _write_sentences(self, chunks: list[Chunk], sentence_vectors: list[np.ndarray]) -> None:
        sentence_ids, sentence_metas = [], []
        for chunk, vectors in zip(chunks, sentence_vectors):
            for n in range(len(vectors)):
                sentence_ids.append(f"{chunk.id}:{n}")
                sentence_metas.append({"source": chunk.source, "chunk_id": chunk.id})
        # float32 rows go to Chroma as they are (it stores float32): as Python lists of floats, a long page's
        # 14,000 sentences held 200 MiB at once (#28)
        rows = [vectors for vectors in sentence_vectors if len(vectors)]
        matrix = np.concatenate(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), np.float32)
        for start in range(0, len(sentence_ids), _BATCH):
            stop = start + _BATCH
            self.sentences.upsert(
                ids=sentence_ids[start:stop], embeddings=matrix[start:stop], metadatas=sentence_metas[start:stop]
            )

    def _write_chunks(self, chunks: list[Chunk], sentence_vectors: list[np.ndarray], signature: str, root: str) -> None:
        # In a chunks collection made before placeholders, a chunk's vector is the normalised mean of its
        # sentence vectors (Chroma fixed the collection's dimension at its first write).
        chunk_rows = []
        for vectors in sentence_vectors:
            if not self.chunk_vectors:
                chunk_rows.append(_PLACEHOLDER)
                continue
            mean = vectors.mean(axis=0)
            chunk_rows.append(mean / (np.linalg.norm(mean) or 1.0))
        metas = [_to_metadata(chunk, len(chunks), signature, root) for chunk in chunks]
        for start in range(0, len(chunks), _BATCH):
            stop = start + _BATCH
            self.chunks.upsert(
                ids=[chunk.id for chunk in chunks[start:stop]],
                embeddings=np.stack(chunk_rows[start:stop]).astype(np.float32, copy=False),
                documents=[chunk.text for chunk in chunks[start:stop]],
                metadatas=metas[start:stop],
            )

    def delete_document(self, source: str, keep: set[str] | None = None) -> int:
        """Delete a source's chunks (except ids in `keep`), then their sentences; returns chunks deleted."""
        keep = keep or set()
        stale = [i for i in self.chunks.get(where={"source": source}, include=[])["ids"] if i not in keep]
        for start in range(0, len(stale), _BATCH):
            self.chunks.delete(ids=stale[start : start + _BATCH])
        orphan = [
            i
            for i in self.sentences.get(where={"source": source}, include=[])["ids"]
            if i.rsplit(":", 1)[0] not in keep
        ]
        for start in range(0, len(orphan), _BATCH):
            self.sentences.delete(ids=orphan[start : start + _BATCH])
        if self.vectors is not None:
            self.vectors.delete(source, keep)
        return len(stale)


def _stored(source: str, metas: list[Any]) -> StoredDocument:
    """A source's record from the metadata of its stored chunks."""
    hashes = {meta["doc_hash"] for meta in metas}
    signatures = {meta.get("signature", "") for meta in metas}
    expected = int(metas[0]["doc_chunks"])
    complete = len(hashes) == 1 and len(signatures) == 1 and len(metas) == expected
    first = metas[0]
    return StoredDocument(
        source, str(first["doc_hash"]), len(metas), complete, str(first.get("signature", "")), str(first.get("root", ""))
    )


def _pages(collection: Any, include: list[str], limit: int = _BATCH) -> Iterator[Any]:
    """A collection's rows, `limit` at a time (one get() of every row holds far more memory at its peak)."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=limit, offset=offset)
        yield page
        if len(page["ids"]) < limit:
            return
        offset += limit


def _to_metadata(chunk: Chunk, doc_chunks: int, signature: str, root: str) -> dict[str, Any]:
    # Chroma metadata holds no None: the table and OCR keys are left out of passages that have none
    extra: dict[str, Any] = {}
    if chunk.table is not None:
        extra["table"] = json.dumps(chunk.table.to_json())
    if chunk.ocr_confidence is not None:
        extra["ocr_confidence"] = float(chunk.ocr_confidence)
    return {
        **extra,
        "root": root,
        "source": chunk.source,
        "title": chunk.title,
        "kind": chunk.kind,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "start_char": chunk.start_char,
        "end_char": chunk.end_char,
        "doc_hash": chunk.doc_hash,
        "doc_chunks": doc_chunks,
        "signature": signature,
        "sentences": json.dumps([list(span) for span in chunk.sentences]),
        "entities": json.dumps([list(span) for span in chunk.entities]),
        "page": chunk.page or 0,  # Chroma metadata holds no None; 0 = no page
    }
