"""Keep the index in step with a set of files: add new, replace changed, delete vanished, skip bad ones."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from corpusqa.errors import EmptyCorpusError, IndexBusyError, IndexNotFoundError
from corpusqa.settings import Settings
from corpusqa.types import Chunk, DocumentStatus, IndexStatus, IngestReport, Skipped
from ingest.chunker import chunk_file
from ingest.embedder import Embedder
from ingest.keyword import KeywordIndex
from ingest.loader import Scope, SourceFile, UnreadableFile, discover, file_hash, read_file
from ingest.state import IndexState, read_state, write_state
from ingest.store import ChunkStore, StoredDocument, open_store, remove_path

__all__ = ["CHUNKER_VERSION", "ProgressFn", "index_status", "ingest_paths", "sync_keyword_index"]

#: Bump when chunking changes, so that re-ingest rebuilds every document.
CHUNKER_VERSION = "4"

#: progress(stage, done, total): stage is "documents" or "chunks"
ProgressFn = Callable[[str, int, int], None]


@dataclass
class _Planned:
    file: SourceFile
    data: bytes
    hash: str
    action: str  # "added" | "updated"


def signature_of(settings: Settings) -> str:
    """What, besides content, decides a document's chunks and vectors."""
    layout = "" if settings.text_layout == "auto" else f"|layout-{settings.text_layout}"
    return f"{settings.embedding_model}|{settings.chunk_tokens}|chunker-{CHUNKER_VERSION}{layout}"


def ingest_paths(
    settings: Settings,
    paths: list[Path],
    embedder: Embedder | None,
    *,
    dry_run: bool = False,
    delete: bool = True,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files and folders incrementally; with dry_run, only report what would change."""
    started = time.perf_counter()
    files, scopes, skipped = discover(paths or [settings.corpus_dir], base=settings.corpus_dir)
    report = IngestReport(skipped=list(skipped), dry_run=dry_run)
    if dry_run:
        try:
            store: ChunkStore | None = open_store(settings, create=False)
        except IndexNotFoundError:
            store = None
        _plan(settings, store, files, scopes, delete, report)
        report.documents = len(store.documents()) - len(report.deleted) + len(report.added) if store else len(report.added)
        report.chunks = store.count() if store else 0
        report.seconds = time.perf_counter() - started
        return report

    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise IndexBusyError(
            f"Another ingest is writing {settings.index_dir}; wait for it to finish and try again."
        ) from exc
    try:
        store = open_store(settings, create=True)
        planned = _plan(settings, store, files, scopes, delete, report)
        _apply(settings, store, planned, report, embedder, progress)
        _finish(settings, store, report)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    return report


def _plan(
    settings: Settings,
    store: ChunkStore | None,
    files: list[SourceFile],
    scopes: list[Scope],
    delete: bool,
    report: IngestReport,
) -> list[_Planned]:
    stored = store.documents() if store else {}
    signature = signature_of(settings)
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    planned: list[_Planned] = []
    seen: set[str] = set()
    for item in sorted(files, key=lambda f: f.source):
        if item.source in seen:
            # Two roots hold the same relative path: both would be stored under one source and
            # replace each other on every run.
            report.skipped.append(Skipped(str(item.path), f"another ingested file is also named {item.source}"))
            continue
        seen.add(item.source)
        try:
            if not item.path.is_file():  # a FIFO or device would block read_bytes() forever
                raise UnreadableFile("not a regular file")
            if item.path.stat().st_size > max_bytes:
                raise UnreadableFile(f"file is larger than {settings.max_file_mb:g} MB (CORPUSQA_MAX_FILE_MB)")
            data = item.path.read_bytes()
        except UnreadableFile as exc:
            report.skipped.append(Skipped(item.source, str(exc)))
            continue
        except OSError as exc:
            report.skipped.append(Skipped(item.source, f"cannot read file ({exc.strerror or exc.__class__.__name__})"))
            continue
        digest = file_hash(data)
        old = stored.get(item.source)
        if old is not None and _is_current(old, digest, signature):
            report.unchanged.append(item.source)
            continue
        action = "added" if old is None else "updated"
        planned.append(_Planned(item, data, digest, action))
        getattr(report, action).append(item.source)
    if delete:
        report.deleted.extend(
            sorted(
                source
                for source, doc in stored.items()
                if source not in seen
                and any(doc.root == str(scope.root) and source.startswith(scope.prefix) for scope in scopes)
            )
        )
    return planned


def _is_current(old: StoredDocument, digest: str, signature: str) -> bool:
    return old.complete and old.hash == digest and old.signature == signature


# Small files are pooled so the model runs on full batches (one file at a time, 40 small files took
# 6.5 s against 2.7 s pooled); writes still happen file by file. Pool size: this many batches.
_POOL_BATCHES = 8


def _apply(
    settings: Settings,
    store: ChunkStore,
    planned: list[_Planned],
    report: IngestReport,
    embedder: Embedder | None,
    progress: ProgressFn | None,
) -> None:
    signature = signature_of(settings)
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    total = len(planned)
    done = 0
    pool: list[tuple[_Planned, list[Chunk]]] = []
    pooled = 0  # sentences waiting in the pool
    if progress and total:
        progress("documents", 0, total)  # shown at once: the first pool may take a while to embed

    def flush() -> None:
        nonlocal done
        if not pool:
            return
        if embedder is None:
            raise IndexNotFoundError("An embedder is required to ingest; build the engine with Engine.from_settings().")
        vectors = _embed_sentences(embedder, [chunk for _, chunks in pool for chunk in chunks])
        for item, chunks in pool:
            mine, vectors = vectors[: len(chunks)], vectors[len(chunks) :]
            # Write the new version first, then drop the old one: a crash in between leaves both
            # versions, which the next run sees as incomplete and repairs.
            store.write_document(chunks, mine, signature, str(item.file.root))
            store.delete_document(item.file.source, keep={chunk.id for chunk in chunks})
            report.embedded_chunks += len(chunks)
            done += 1
            if progress:
                progress("documents", done, total)
                progress("chunks", report.embedded_chunks, report.embedded_chunks)
        pool.clear()

    for item in planned:
        try:
            loaded = read_file(item.data, item.file.path, item.file.source, max_bytes, settings.text_layout)
            chunks = chunk_file(loaded, item.hash, settings.chunk_tokens)
            if not chunks:
                raise UnreadableFile("no text to index")
        except UnreadableFile as exc:
            getattr(report, item.action).remove(item.file.source)
            report.skipped.append(Skipped(item.file.source, str(exc)))
            done += 1
            if progress:
                progress("documents", done, total)
            continue
        pool.append((item, chunks))
        pooled += sum(len(chunk.sentences) for chunk in chunks)
        if pooled >= settings.embed_batch_size * _POOL_BATCHES:
            flush()
            pooled = 0
    flush()
    for source in report.deleted:
        store.delete_document(source)


def _embed_sentences(embedder: Embedder, chunks: list[Chunk]) -> list[np.ndarray]:
    texts = [chunk.text[a:b] for chunk in chunks for a, b in chunk.sentences]
    matrix = embedder.embed_texts(texts)
    out = []
    row = 0
    for chunk in chunks:
        out.append(matrix[row : row + len(chunk.sentences)])
        row += len(chunk.sentences)
    return out


def _fingerprint(documents: dict[str, StoredDocument]) -> str:
    # The signature is part of it: re-chunking with other settings keeps hashes and maybe chunk counts,
    # but changes every chunk id, so BM25 must be rebuilt.
    rows = sorted(f"{doc.source}\x00{doc.hash}\x00{doc.chunks}\x00{doc.signature}" for doc in documents.values())
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


def _finish(settings: Settings, store: ChunkStore, report: IngestReport) -> None:
    """Rebuild BM25 when Chroma changed (or BM25 is stale after a crash), then bump the generation."""
    documents = store.documents()
    report.documents = len(documents)
    report.chunks = sum(doc.chunks for doc in documents.values())
    sync_keyword_index(settings, store, documents, ingesting=True)


def sync_keyword_index(
    settings: Settings,
    store: ChunkStore,
    documents: dict[str, StoredDocument] | None = None,
    ingesting: bool = False,
) -> IndexState:
    """Make the local BM25 index and state.json match what Chroma holds; returns the current state.

    With a Chroma server, the server keeps the shared generation (several machines may ingest);
    each machine derives its own BM25 from the server's chunks when its copy is stale.
    """
    documents = store.documents() if documents is None else documents
    fingerprint = _fingerprint(documents)
    state = read_state(settings.index_dir) or IndexState()
    remote = store.read_generation() if settings.chroma_host else None
    bm25_current = bool(state.bm25_dir) and (settings.index_dir / state.bm25_dir / "terms.json").is_file()
    local_ok = bm25_current and state.bm25_dir.endswith(fingerprint[:16]) and bool(state.embedding_model)
    remote_ok = remote is None or remote.get("fingerprint") == fingerprint
    if local_ok and remote_ok:
        return state
    generation = max(state.generation, int(remote.get("generation", 0)) if remote else 0)
    if ingesting or not remote_ok or remote is None:
        generation += 1
    keyword = KeywordIndex.build(store.all_chunks())
    new_dir = f"bm25-{generation}-{fingerprint[:16]}"
    if keyword is not None:
        keyword.persist(settings.index_dir / new_dir)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    last_ingest = now if (ingesting or remote is None) else str(remote.get("last_ingest") or now)
    if settings.chroma_host and (ingesting or not remote_ok):
        store.write_generation(generation, fingerprint, last_ingest)
    old_dir = state.bm25_dir
    new_state = IndexState(
        generation=generation,
        last_ingest=last_ingest,
        embedding_model=settings.embedding_model,
        chunk_tokens=settings.chunk_tokens,
        bm25_dir=new_dir if keyword is not None else "",
    )
    write_state(settings.index_dir, new_state)
    if old_dir and old_dir != new_dir:
        remove_path(settings.index_dir / old_dir)
    return new_state


def index_status(settings: Settings) -> IndexStatus:
    """What the index holds, for `corpusqa status`."""
    state = read_state(settings.index_dir)
    if state is None and not settings.chroma_host:
        raise IndexNotFoundError(f"No index in {settings.index_dir}; run `corpusqa ingest` first (or set --index-dir).")
    store = open_store(settings, create=False)
    documents = store.documents()
    location = (
        f"chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else str(settings.chroma_dir)
    )
    return IndexStatus(
        index_dir=str(settings.index_dir),
        embedding_model=(state.embedding_model if state else "") or settings.embedding_model,
        chunk_tokens=(state.chunk_tokens if state else 0) or settings.chunk_tokens,
        documents=[DocumentStatus(doc.source, doc.hash, doc.chunks) for doc in sorted(documents.values(), key=lambda d: d.source)],
        chunks=sum(doc.chunks for doc in documents.values()),
        last_ingest=state.last_ingest if state else None,
        generation=state.generation if state else 0,
        location=location,
    )


def require_chunks(status: IndexStatus, settings: Settings) -> None:
    """Raise EmptyCorpusError when the index holds nothing to search."""
    if status.chunks == 0:
        raise EmptyCorpusError(f"The index in {settings.index_dir} is empty; run `corpusqa ingest DIR` with some documents.")
