"""What a question reads, written once per generation at commit: chunk records and the sentence matrix.

Chroma (with an embedded index's sentence-vector files, ingest/vector_files.py) stays the store of record
(ingest writes it, `document` and `status` read it); these files are a
committed generation's copy of what answering needs, kept in the generation's keyword-index folder, so a
question opens no database and imports no chromadb (about a second of a cold `ask`, #28). They are
written before state.json names the folder, so a generation is committed with them whole; a reader maps
them, so a re-ingest that removes the folder never takes text from under a question already reading it.

Files (all in the keyword-index folder, rows in the order of its ids.json):
- chunks.jsonl and chunks.offsets.npy: one JSON record [id, text, Chroma metadata] a chunk, and where each
  starts (one more offset for the end);
- sentences.npy (float32, one row a sentence, rows sorted by sentence id as Chroma's `<chunk id>:<n>`),
  sentence_chunks.npy (int32: the chunk row of each sentence) and sentence_numbers.npy (int32: its n);
- chunk_sentences.npy (int64, one more than the chunks) and sentence_rows.npy (int32): chunk row c's
  sentences, in order, are the matrix rows sentence_rows[chunk_sentences[c]:chunk_sentences[c + 1]];
- sentence_head.npy and sentence_basis.npy: the matrix's rows in short form, so a question scores only the
  rows that can reach its top (ingest/sentence_bound.py; a folder written before them is scanned whole
  until the next ingest adds them).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import mmap
import os
import tempfile
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from corpusqa.errors import CorpusQAError
from corpusqa.types import Chunk, TableRows
from ingest.sentence_bound import SentenceBound, write_bound

__all__ = ["ChunkReader", "ChunkWriter", "GenerationFiles", "add_bound", "best_first", "exact_search", "has_generation_files", "to_chunk", "write_sentence_matrix"]

_LOG = logging.getLogger(__name__)

CHUNKS = "chunks.jsonl"
OFFSETS = "chunks.offsets.npy"
VECTORS = "sentences.npy"
SENTENCE_CHUNKS = "sentence_chunks.npy"
SENTENCE_NUMBERS = "sentence_numbers.npy"
CHUNK_SENTENCES = "chunk_sentences.npy"
SENTENCE_ROWS = "sentence_rows.npy"
_FILES = (CHUNKS, OFFSETS, VECTORS, SENTENCE_CHUNKS, SENTENCE_NUMBERS, CHUNK_SENTENCES, SENTENCE_ROWS)
# rows permuted into sentence-id order this many at a time (memory: one block, not the matrix)
_BLOCK = 5000


class ChunkReader(Protocol):
    """What questions read from one generation: `GenerationFiles`, or Chroma's `ChunkStore` for an index
    written before those files (and for a store whose generation files could not be written)."""

    fallback: str | None

    def query(self, vector: np.ndarray, limit: int, allowed: Container[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks to a query vector as (id, cosine similarity), best first."""
        ...

    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """Chunks by id (missing ids are left out)."""
        ...

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """For each chunk id, a (sentences x dim) matrix in sentence order."""
        ...


def has_generation_files(folder: Path) -> bool:
    """Whether a keyword-index folder holds the files questions read."""
    return all((folder / name).is_file() for name in _FILES)


def exact_search(
    vectors: np.ndarray,
    chunk_of: Callable[[int], str],
    vector: np.ndarray,
    limit: int,
    mask: np.ndarray | None = None,
    bound: SentenceBound | None = None,
) -> list[tuple[str, float]]:
    """(chunk id, cosine) of the `limit` chunks whose best sentence is nearest to `vector`, best first.

    Exact cosine over every sentence vector, not Chroma's HNSW: its approximate graph is built differently
    on each ingest, which moved hit@1 on a 200-page PDF by up to 25 points between two builds of the same
    files. A matrix-vector product over ~100k sentences takes milliseconds. `mask`: rows that may be found.
    `bound` (a generation's, ingest/sentence_bound.py): score only the rows that can reach the top, the same
    result from a fraction of the matrix.
    """
    if len(vectors) == 0:
        return []
    query = vector.astype(np.float32)
    take = sentence_depth(limit, len(vectors))
    rows = bound.candidates(vectors, query, take) if bound is not None and mask is None else None
    if rows is None:
        rows = np.arange(len(vectors))
        scores = vectors @ query
    else:
        scores = np.asarray(vectors[rows], dtype=np.float32) @ query
        take = min(take, len(scores))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = best_first(scores, take)  # `rows` ascend, so equal scores come in row order
    return best_per_chunk(((chunk_of(int(rows[i])), float(scores[i])) for i in top if np.isfinite(scores[i])), limit)


def best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` best scores, best first, equal scores in position order, at the cut too.

    Which of several equal scores (a sentence repeated in several chunks, chunks with the same word counts)
    makes the cut is never left to numpy's selection, whose kernel, and so its choice, differs between CPUs
    (AVX-512 where there is one)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.flatnonzero(scores >= np.partition(scores, len(scores) - k)[len(scores) - k])
    return top[np.lexsort((top, -scores[top]))][:k]


def sentence_depth(limit: int, total: int) -> int:
    """How many sentences a query takes for `limit` chunks: a chunk's several sentences can fill the top."""
    return min(limit * 4, total)


def best_per_chunk(hits: Iterable[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """Sentence hits (chunk id, cosine similarity), best first, as the first `limit` chunks, each with
    its best sentence's score: the one result shape of the exact search and the HNSW fallback."""
    best: dict[str, float] = {}
    for chunk_id, score in hits:
        best.setdefault(chunk_id, score)
    return list(best.items())[:limit]


class ChunkWriter:
    """Writes chunks.jsonl and its offsets while the keyword index is built from the same rows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._handle: IO[bytes] = (folder / CHUNKS).open("wb")
        self._offsets = [0]
        #: Sentences of the chunks added (what the sentence matrix must hold for them).
        self.sentences = 0

    def add(self, chunk_id: str, text: str, meta: dict[str, Any]) -> None:
        """Append one chunk's record (its Chroma metadata as stored)."""
        self.sentences += len(json.loads(meta.get("sentences") or "[]"))
        line = json.dumps([chunk_id, text, meta], ensure_ascii=False).encode("utf-8") + b"\n"
        self._handle.write(line)
        self._offsets.append(self._offsets[-1] + len(line))

    def close(self) -> None:
        """Flush the records to disk and write the offsets."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        _save(self.folder / OFFSETS, np.asarray(self._offsets, dtype=np.int64))


def write_sentence_matrix(folder: Path, pages: Iterable[tuple[list[str], list[str], np.ndarray]], ids: Sequence[str]) -> int:
    """Write the sentence matrix of the chunks `ids` (the keyword index's rows) from pages of
    (sentence ids, their chunk ids, vectors); rows of other chunks are left out. Returns the rows written.

    Vectors go to a scratch file as they come and are then permuted into sentence-id order a block at a
    time, so memory holds one page and one block, never the matrix.
    """
    row_of = {chunk_id: row for row, chunk_id in enumerate(ids)}
    sentence_ids: list[str] = []
    chunk_rows: list[int] = []
    numbers: list[int] = []
    dim = 0
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".sentences-", suffix=".raw") as scratch:
        for page_ids, page_chunks, vectors in pages:
            keep = [i for i, chunk_id in enumerate(page_chunks) if chunk_id in row_of]
            if not keep:
                continue
            dim = vectors.shape[1]
            scratch.write(np.ascontiguousarray(vectors[keep], dtype=np.float32).tobytes())
            for i in keep:
                sentence_ids.append(page_ids[i])
                chunk_rows.append(row_of[page_chunks[i]])
                numbers.append(int(page_ids[i].rsplit(":", 1)[1]))
        scratch.flush()
        order = np.asarray(sorted(range(len(sentence_ids)), key=sentence_ids.__getitem__), dtype=np.int64)
        _write_permuted(folder / VECTORS, Path(scratch.name), order, dim)
    write_bound(folder, folder / VECTORS)
    by_row = np.asarray(chunk_rows, dtype=np.int32)[order]
    number = np.asarray(numbers, dtype=np.int32)[order]
    _save(folder / SENTENCE_CHUNKS, by_row)
    _save(folder / SENTENCE_NUMBERS, number)
    grouped = np.lexsort((number, by_row))  # by chunk row, then sentence number
    _save(folder / SENTENCE_ROWS, grouped.astype(np.int32))
    _save(folder / CHUNK_SENTENCES, np.searchsorted(by_row[grouped], np.arange(len(ids) + 1)).astype(np.int64))
    return len(order)


def _write_permuted(path: Path, scratch: Path, order: np.ndarray, dim: int) -> None:
    """Write the .npy file of the scratch file's float32 rows taken in `order`, a block at a time.

    The same bytes as np.save of the permuted matrix. Written with plain writes, and each block read through
    a map that is closed after it: a memory-mapped target and source kept every page they touched resident,
    twice the matrix (400 MiB at 130,000 sentences) counted in the ingest's peak (#28).
    """
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (len(order), dim)}
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, len(order), _BLOCK):
            source = np.memmap(scratch, dtype=np.float32, mode="r", shape=(len(order), dim))
            handle.write(np.ascontiguousarray(source[order[start : start + _BLOCK]]).tobytes())
            del source
        handle.flush()
        os.fsync(handle.fileno())


def add_bound(folder: Path) -> None:
    """Give a generation folder written before the bound files (ingest/sentence_bound.py) its own, so that
    questions skip most of its matrix; a folder that has them is left as it is."""
    try:
        if SentenceBound.open(folder, np.load(folder / VECTORS, mmap_mode="r", allow_pickle=False)) is None:
            write_bound(folder, folder / VECTORS)
    except (OSError, ValueError) as exc:  # only speed is lost: questions scan the whole matrix
        _LOG.warning("Could not add the bound files to %s (%s); questions will scan its whole matrix.", folder, exc)


def _save(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class _Mapped:
    records: mmap.mmap | bytes
    offsets: np.ndarray
    vectors: np.ndarray
    sentence_chunks: np.ndarray
    sentence_numbers: np.ndarray
    chunk_sentences: np.ndarray
    sentence_rows: np.ndarray
    bound: SentenceBound | None


class GenerationFiles:
    """A committed generation's chunks and sentence matrix, memory-mapped: what a question reads.

    Offers the reading side of `ChunkStore` (query, get_chunks, sentence_vectors) for one generation.
    """

    #: Never falls back to approximate search (that is Chroma's); kept for `status`.
    fallback: str | None = None

    def __init__(self, folder: Path, ids: Sequence[str], mapped: _Mapped) -> None:
        self.folder = folder
        self._ids = ids
        self._row = {chunk_id: row for row, chunk_id in enumerate(ids)}
        self._mapped = mapped

    @classmethod
    def open(cls, folder: Path, ids: Sequence[str]) -> GenerationFiles | None:
        """The files of `folder` (None when it has none: an index written before them); CorpusQAError when
        they do not fit the keyword index's `ids`."""
        if not has_generation_files(folder):
            return None
        try:
            with (folder / CHUNKS).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                # the map keeps the file's pages after the folder is removed by a later commit
                records: mmap.mmap | bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            mapped = _Mapped(
                records,
                np.load(folder / OFFSETS, allow_pickle=False),
                _mapped_array(folder / VECTORS),
                _mapped_array(folder / SENTENCE_CHUNKS),
                _mapped_array(folder / SENTENCE_NUMBERS),
                _mapped_array(folder / CHUNK_SENTENCES),
                _mapped_array(folder / SENTENCE_ROWS),
                None,
            )
        except (OSError, ValueError, EOFError) as exc:
            raise _damaged(folder) from exc
        rows = len(mapped.sentence_chunks)
        fits = (
            len(mapped.offsets) == len(ids) + 1
            and int(mapped.offsets[-1]) == len(mapped.records)
            and mapped.vectors.ndim == 2
            and len(mapped.vectors) == rows == len(mapped.sentence_numbers) == len(mapped.sentence_rows)
            and len(mapped.chunk_sentences) == len(ids) + 1
            and int(mapped.chunk_sentences[-1]) == rows
            and (rows == 0 or 0 <= int(mapped.sentence_chunks.max()) < len(ids))
        )
        if not fits:
            raise _damaged(folder)
        bound = SentenceBound.open(folder, mapped.vectors)
        return cls(folder, ids, dataclasses.replace(mapped, bound=bound))

    def query(self, vector: np.ndarray, limit: int, allowed: Container[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks to a query vector as (id, cosine similarity), by their best sentence (every row
        here belongs to this generation, so `allowed` has nothing to leave out)."""
        mapped, ids = self._mapped, self._ids
        return exact_search(mapped.vectors, lambda row: ids[int(mapped.sentence_chunks[row])], vector, limit, bound=mapped.bound)

    def get_chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """Chunks by id (ids of other generations are left out)."""
        out = {}
        for chunk_id in ids:
            row = self._row.get(chunk_id)
            if row is None:
                continue
            start, end = int(self._mapped.offsets[row]), int(self._mapped.offsets[row + 1])
            stored_id, text, meta = json.loads(self._mapped.records[start:end])
            if stored_id != chunk_id:
                raise _damaged(self.folder)
            out[chunk_id] = to_chunk(chunk_id, text, meta)
        return out

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """For each chunk id, a (sentences x dim) matrix in sentence order (chunks missing a sentence left out)."""
        mapped = self._mapped
        out: dict[str, np.ndarray] = {}
        if not any(chunk.sentences for chunk in chunks):
            return out  # as ChunkStore.sentence_vectors, which then has no sentence to look up
        for chunk in chunks:
            row = self._row.get(chunk.id)
            if row is None:
                continue
            rows = mapped.sentence_rows[int(mapped.chunk_sentences[row]) : int(mapped.chunk_sentences[row + 1])]
            if len(rows) == len(chunk.sentences) and np.array_equal(mapped.sentence_numbers[rows], np.arange(len(rows))):
                # a chunk without sentences gets an empty (0,) array, as from ChunkStore
                out[chunk.id] = np.array(mapped.vectors[rows], dtype=np.float32) if len(rows) else np.zeros(0, np.float32)
        return out


def _mapped_array(path: Path) -> np.ndarray:
    """The .npy file at `path`, memory-mapped, as a plain array on the map: indexing a np.memmap builds a
    memmap object each time (about 60 µs), 8 ms a question for the chunk of each of its top sentences."""
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))


def _damaged(folder: Path) -> CorpusQAError:
    return CorpusQAError(f"The index files in {folder} are damaged; run `corpusqa ingest` to rebuild them.")


def to_chunk(chunk_id: str, text: str | None, meta: Any) -> Chunk:
    """A Chunk from its stored text and Chroma metadata."""
    return Chunk(
        id=chunk_id,
        text=text or "",
        source=str(meta["source"]),
        title=str(meta["title"]),
        kind=str(meta["kind"]),
        start_line=int(meta["start_line"]),
        end_line=int(meta["end_line"]),
        start_char=int(meta["start_char"]),
        end_char=int(meta["end_char"]),
        doc_hash=str(meta["doc_hash"]),
        sentences=tuple((int(a), int(b)) for a, b in json.loads(str(meta.get("sentences") or "[]"))),
        entities=tuple((int(a), int(b), str(label)) for a, b, label in json.loads(str(meta.get("entities") or "[]"))),
        page=int(meta.get("page") or 0) or None,
        table=TableRows.from_json(json.loads(str(meta["table"]))) if meta.get("table") else None,
        ocr_confidence=float(meta["ocr_confidence"]) if meta.get("ocr_confidence") is not None else None,
    )
