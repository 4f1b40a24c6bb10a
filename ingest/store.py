"""The Chroma side of the index: chunk vectors, sentence vectors and per-document bookkeeping.

We talk to chromadb directly rather than through llama-index's ChromaVectorStore: its add() is not
an upsert, it stores each node a second time as JSON, and we need where-filtered gets and deletes by
source file to replace a changed document only after its new chunks are written (llama-index's own
upsert deletes first: run-llama/llama_index#22639).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
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
from ingest.reading import best_per_chunk, exact_search, sentence_depth, to_chunk

__all__ = ["ChunkStore", "StoredDocument", "open_store", "writable"]

CHUNKS = "corpusqa_chunks"
SENTENCES = "corpusqa_sentences"
META = "corpusqa_meta"  # one record: the shared index generation (used with a Chroma server)
# Chroma caps one request; 5,000 stays well under its max batch size.
_BATCH = 5000
_LOG = logging.getLogger(__name__)


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


def open_store(settings: Settings, create: bool, fresh: bool = False) -> ChunkStore:
    """The store for these settings: an embedded Chroma in index_dir, or a Chroma server.

    With `fresh`, an embedded store is reopened from disk: chromadb caches one System per path and
    a process never sees another process's later writes through it (chroma-core/chroma#3792), so a
    reader reopens after a re-ingest done elsewhere.
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
                path = _read_only_copy(settings.chroma_dir)
            else:
                path = _fresh_path(str(settings.chroma_dir)) if fresh else str(settings.chroma_dir)
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
    return ChunkStore(client)


_reopens = itertools.count(1)
_SQLITE = "chroma.sqlite3"


def writable(folder: Path) -> bool:
    """Whether this process may write `folder` and the Chroma database in it (False on a read-only mount).

    os.access answers for the real user: root on a read-only file system gets False (EROFS), as does
    another user on files they may only read.
    """
    database = folder / _SQLITE
    return os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))


def _read_only_copy(folder: Path) -> str:
    """A private, writable view of a read-only Chroma folder: a copy of its SQLite file, its segments linked.

    chromadb 1.5 cannot open a database read-only: opening writes to SQLite ("attempt to write a readonly
    database"). The vector segments are only read by queries, so they stay where they are; only the SQLite
    file (chunk texts and metadata) is copied, into the temporary folder, and removed when the process ends.
    """
    import atexit
    import shutil
    import tempfile

    view = Path(tempfile.mkdtemp(prefix="corpusqa-readonly-"))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    shutil.copyfile(folder / _SQLITE, view / _SQLITE)  # copyfile, not copy2: the copy must not keep 0444
    for item in folder.iterdir():
        if item.is_dir():
            (view / item.name).symlink_to(item.resolve(), target_is_directory=True)
    return str(view)


def _fresh_path(base: str) -> str:
    """A spelling of `base` whose cached System is at least two reopens old, dropped so it reloads.

    chromadb caches Systems by the path string; the two spellings (`dir`, `dir/.`) alternate, so the
    System that questions in flight may still use is never the one dropped. Uses chromadb's private
    cache (there is no public way to drop one path's System).
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    path = base + "/." if next(_reopens) % 2 else base
    SharedSystemClient._identifier_to_system.pop(path, None)
    return path


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


class ChunkStore:
    """Two Chroma collections (cosine space): one vector per chunk, one per sentence."""

    def __init__(self, client: Any) -> None:
        self.client = client
        space = {"hnsw:space": "cosine"}
        self.chunks = client.get_or_create_collection(CHUNKS, metadata=space, embedding_function=None)
        self.sentences = client.get_or_create_collection(SENTENCES, metadata=space, embedding_function=None)
        self.meta = client.get_or_create_collection(META, embedding_function=None)
        #: Why questions fell back to Chroma's approximate search (None: they never did); shown by `status`.
        self.fallback: str | None = None
        # The sentence matrix, replaced whole (never changed in place): a question reads one _Dense into a
        # local name, so a reload in another thread can never mix two matrices or two masks in one query.
        self._dense: _Dense | None = None
        # Where the sentence matrix of the generation being read is kept on disk (set by the reader for an
        # embedded index; None: always read from Chroma). See `_sentence_matrix`.
        self.dense_cache: Path | None = None

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
        rows: list[Any] = []
        for page in _pages(self.chunks, ["metadatas"]):
            metadatas = page["metadatas"] or []
            rows.extend(zip(page["ids"], metadatas) if with_ids else metadatas)
        return rows

    def chunk_records(self, ids: Container[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(chunk id, text, metadata as stored) of the chunks in `ids`, read a page at a time."""
        for page in _pages(self.chunks, ["metadatas", "documents"]):
            for chunk_id, text, meta in zip(page["ids"], page["documents"], page["metadatas"]):
                if chunk_id in ids:
                    yield chunk_id, text or "", dict(meta)

    def sentence_pages(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """Every stored sentence as pages of (sentence ids, their chunk ids, vectors)."""
        for page in _pages(self.sentences, ["embeddings", "metadatas"]):
            ids = list(page["ids"])
            vectors = np.asarray(page["embeddings"], dtype=np.float32).reshape(len(ids), -1)
            yield ids, [str(meta["chunk_id"]) for meta in page["metadatas"]], vectors

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
        """Nearest chunks to a query vector as (id, cosine similarity).

        Searches sentence vectors and ranks each chunk by its best sentence: on the eval dev split
        this found the evidence far more often than the chunk vectors (a passage's mean dilutes
        the one sentence that answers).
        """
        from chromadb.errors import ChromaError

        try:
            dense = self._sentence_matrix()
        except ChromaError as exc:  # InternalError on a segment a SIGKILL left half-written (chroma #7090)
            self._note_fallback(exc)
            try:
                return self._approximate_query(vector, limit)
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

    def _approximate_query(self, vector: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """Chroma's HNSW search: the fallback when the sentence vectors cannot all be read back."""
        total = int(self.sentences.count())
        if total == 0:
            return []
        result = self.sentences.query(
            query_embeddings=[vector.tolist()], n_results=sentence_depth(limit, total), include=["metadatas", "distances"]
        )
        hits = zip(result["metadatas"][0], result["distances"][0])
        return best_per_chunk(((str(meta["chunk_id"]), 1.0 - float(distance)) for meta, distance in hits), limit)

    def _sentence_matrix(self) -> _Dense:
        """Every sentence vector (rows sorted by id) and its chunk id; reloaded when the count changes."""
        total = int(self.sentences.count())
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
        for page in _pages(self.sentences, ["embeddings", "metadatas"]):
            ids.extend(page["ids"])
            chunk_ids.extend(str(meta["chunk_id"]) for meta in page["metadatas"])
            parts.append(np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1))
        order = sorted(range(len(ids)), key=ids.__getitem__)
        vectors = np.concatenate(parts)[order] if parts else np.zeros((0, 0), dtype=np.float32)
        dense = _Dense(total, _frozen(vectors), tuple(chunk_ids[row] for row in order))
        self._dense = dense
        self._write_dense_cache(total, dense.vectors, list(dense.chunk_ids))
        return dense

    def check_vectors(self) -> None:
        """Read the sentence matrix now, so that `fallback` says whether questions will need the fallback."""
        from chromadb.errors import ChromaError

        try:
            self._sentence_matrix()
        except ChromaError as exc:
            self._note_fallback(exc)

    def _note_fallback(self, exc: Exception) -> None:
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

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """For each chunk id, a (sentences x dim) matrix in sentence order."""
        ids = [f"{chunk.id}:{n}" for chunk in chunks for n in range(len(chunk.sentences))]
        if not ids:
            return {}
        page = self.sentences.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(page["ids"], page["embeddings"]))
        out = {}
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
        sentence_ids, sentence_rows, sentence_metas = [], [], []
        for chunk, vectors in zip(chunks, sentence_vectors):
            for n, row in enumerate(vectors):
                sentence_ids.append(f"{chunk.id}:{n}")
                sentence_rows.append(row.tolist())
                sentence_metas.append({"source": chunk.source, "chunk_id": chunk.id})
        for start in range(0, len(sentence_ids), _BATCH):
            stop = start + _BATCH
            self.sentences.upsert(
                ids=sentence_ids[start:stop], embeddings=sentence_rows[start:stop], metadatas=sentence_metas[start:stop]
            )
        # A chunk's vector is the normalised mean of its sentence vectors: one embedding pass per token
        # instead of two, and close to MiniLM's own mean pooling over the whole passage.
        chunk_rows = []
        for vectors in sentence_vectors:
            mean = vectors.mean(axis=0)
            chunk_rows.append((mean / (np.linalg.norm(mean) or 1.0)).tolist())
        metas = [_to_metadata(chunk, len(chunks), signature, root) for chunk in chunks]
        for start in range(0, len(chunks), _BATCH):
            stop = start + _BATCH
            self.chunks.upsert(
                ids=[chunk.id for chunk in chunks[start:stop]],
                embeddings=chunk_rows[start:stop],
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


def _pages(collection: Any, include: list[str]) -> Iterator[Any]:
    """A collection's rows, _BATCH at a time (one get() of every row holds far more memory at its peak)."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=_BATCH, offset=offset)
        yield page
        if len(page["ids"]) < _BATCH:
            return
        offset += _BATCH


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


def remove_path(path: Path) -> None:
    """Delete a file or folder if it exists (used for derived state)."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
