"""Sentence vectors of an embedded index, kept in files beside Chroma rather than in one of its collections.

Chroma keeps every vector of a collection in its in-process HNSW graph while it writes: about 2.3 KiB a
sentence, 300 MiB for the 526 pages' 130,000 sentences and a straight line to 3 GiB at ten times that,
in the ingest's peak (#28). Questions never search that graph: they read the generation's sentence matrix
(ingest/reading.py), which the commit writes from these files. So an embedded index keeps each written
document version's sentence vectors in one file here, and Chroma keeps chunks (texts, metadata, a vector
each). A Chroma server keeps writing sentences to its collection: several machines share it.

One file per document version (source, content hash, signature): `<source digest>-<version digest>.npz`
holding `chunk_ids` (one per chunk, in write order), `counts` (its sentences) and `vectors` (float32, the
chunks' sentences in order). A file is written whole under a temporary name and renamed, before the
version's chunks reach Chroma, so a chunk a reader can see always has its sentence vectors; the file of a
version whose chunks never arrived (a killed run) is removed by the next commit (`sweep`).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from corpusqa.errors import CorpusQAError
from corpusqa.types import Chunk

__all__ = ["VectorFiles"]

_SUFFIX = ".npz"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class VectorFiles:
    """The folder of sentence-vector files of one embedded index."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, chunks: list[Chunk], vectors: list[np.ndarray], signature: str) -> None:
        """Keep one document version's sentence vectors (`vectors[i]`: chunk i's sentences, in order)."""
        if not chunks:
            return
        first = chunks[0]
        path = self.folder / f"{_digest(first.source)}-{_digest(first.doc_hash + chr(0) + signature)}{_SUFFIX}"
        rows = [v for v in vectors if len(v)]
        matrix = np.concatenate(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), np.float32)
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as handle:
                np.savez(
                    handle,
                    chunk_ids=np.asarray([chunk.id for chunk in chunks], dtype=str),
                    counts=np.asarray([len(v) for v in vectors], dtype=np.int32),
                    vectors=matrix,
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        # Chroma's upsert overwrote these chunk ids' rows: another version's file holding any of them goes
        # too, so that a chunk is in one file (another signature over the same content: the same chunk ids)
        ids = {chunk.id for chunk in chunks}
        for other in self.files(first.source):
            if other != path and not ids.isdisjoint(_chunk_ids_or_none(other)):
                other.unlink(missing_ok=True)

    def files(self, source: str | None = None) -> list[Path]:
        """The files kept (of one source), newest first (a chunk is in one file; should a run killed between
        writing one version and removing another leave it in two, the one written last is read)."""
        if not self.folder.is_dir():
            return []
        pattern = f"{_digest(source)}-*{_SUFFIX}" if source is not None else f"*{_SUFFIX}"
        found = [(path.stat().st_mtime_ns, path.name, path) for path in self.folder.glob(pattern)]
        return [path for _, _, path in sorted(found, reverse=True)]

    def pages(self, skip: set[str] | None = None) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """Every kept sentence as pages of (sentence ids, their chunk ids, vectors), one page a file.

        A chunk is given once, from the newest file holding it (Chroma's upsert kept the last write too);
        `skip` collects the chunk ids given, so a caller can leave them out of another source.
        """
        seen = set() if skip is None else skip
        for path in self.files():
            chunk_ids, counts, vectors = _read_whole(path)
            keep_rows: list[int] = []
            sentence_ids: list[str] = []
            owners: list[str] = []
            for chunk_id, row, count in _first_seen(chunk_ids, counts, seen):
                keep_rows.extend(range(row, row + count))
                sentence_ids.extend(f"{chunk_id}:{n}" for n in range(count))
                owners.extend([chunk_id] * count)
            if keep_rows:
                yield sentence_ids, owners, vectors[keep_rows]

    def count(self) -> int:
        """Sentences kept (each chunk counted once), from the files' counts: no vector is read."""
        seen: set[str] = set()
        total = 0
        for path in self.files():
            chunk_ids, counts, _ = _read(path, vectors=False)
            total += sum(count for _, _, count in _first_seen(chunk_ids, counts, seen))
        return total

    def by_chunk(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """For each chunk id found, a (sentences x dim) matrix in sentence order."""
        wanted = {chunk.id for chunk in chunks}
        out: dict[str, np.ndarray] = {}
        for source in sorted({chunk.source for chunk in chunks}):
            for path in self.files(source):
                chunk_ids, counts, vectors = _read_whole(path)
                starts = np.concatenate([[0], np.cumsum(counts)])
                for i, chunk_id in enumerate(chunk_ids):
                    if chunk_id in wanted and chunk_id not in out and counts[i]:
                        out[chunk_id] = np.array(vectors[starts[i] : starts[i + 1]], dtype=np.float32)
        return out

    def delete(self, source: str, keep: set[str]) -> None:
        """Remove a source's files except those whose chunks are all in `keep` (the version still shown)."""
        for path in self.files(source):
            chunk_ids = _chunk_ids_or_none(path)
            if not chunk_ids or not chunk_ids <= keep:  # a damaged file serves nothing: it goes
                path.unlink(missing_ok=True)

    def sweep(self, held: dict[str, set[str]]) -> None:
        """Remove the files none of whose chunks the store holds (`held`: each source's chunk ids in Chroma).

        A file is written before its version's chunks reach Chroma, so an ingest killed in between leaves a
        file no chunk points to; the rerun may find that file's source unchanged and never delete it. A file
        is read only where its source has several files or no chunk stored (a listing, otherwise)."""
        by_digest = {_digest(source): ids for source, ids in held.items()}
        grouped: dict[str, list[Path]] = {}
        for path in self.files():
            grouped.setdefault(path.name.split("-", 1)[0], []).append(path)
        for digest, paths in grouped.items():
            ids = by_digest.get(digest, set())
            if ids and len(paths) == 1:
                continue
            for path in paths:
                if _chunk_ids_or_none(path).isdisjoint(ids):
                    path.unlink(missing_ok=True)


def _first_seen(chunk_ids: list[str], counts: list[int], seen: set[str]) -> Iterator[tuple[str, int, int]]:
    """(chunk id, first row, sentence count) of a file's chunks not in `seen`, each added to it: files are
    walked newest first, so a chunk held by two files is given from the newest (`pages` and `count` agree)."""
    row = 0
    for chunk_id, count in zip(chunk_ids, counts):
        if chunk_id not in seen:
            seen.add(chunk_id)
            yield chunk_id, row, count
        row += count


def _chunk_ids_or_none(path: Path) -> set[str]:
    """A file's chunk ids (none for a file that cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {str(chunk_id) for chunk_id in archive["chunk_ids"]}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return set()


def _read_whole(path: Path) -> tuple[list[str], list[int], np.ndarray]:
    """A file's chunk ids, sentence counts and vectors."""
    chunk_ids, counts, matrix = _read(path)
    assert matrix is not None
    return chunk_ids, counts, matrix


def _read(path: Path, vectors: bool = True) -> tuple[list[str], list[int], np.ndarray | None]:
    """A file's chunk ids, sentence counts and (unless `vectors` is False) vectors; a damaged file ends in
    one sentence."""
    try:
        with np.load(path, allow_pickle=False) as archive:  # an npz member is read only when asked for
            chunk_ids = [str(chunk_id) for chunk_id in archive["chunk_ids"]]
            counts = [int(n) for n in archive["counts"]]
            matrix = np.asarray(archive["vectors"], dtype=np.float32) if vectors else None
        if len(chunk_ids) != len(counts) or (matrix is not None and sum(counts) != len(matrix)):
            raise ValueError("its counts and vectors disagree")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CorpusQAError(
            f"The sentence vectors in {path} cannot be read ({exc.__class__.__name__}: {str(exc)[:80]}); "
            "re-ingest into a fresh --index-dir."
        ) from exc
    return chunk_ids, counts, matrix
