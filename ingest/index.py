"""Keep the index in step with a set of files: add new, replace changed, delete vanished, skip bad ones."""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from corpusqa.errors import EmptyCorpusError, IndexBusyError, IndexNotFoundError, ReadOnlyIndexError
from corpusqa.settings import Settings
from corpusqa.types import Chunk, DocumentStatus, IndexStatus, IngestReport, Skipped
from ingest.chroma_paths import has_database
from ingest.embedder import Embedder
from ingest.generation import commit, committed_manifest, generation_current, sync_keyword_index
from ingest.loader import Scope, SourceFile, discover
from ingest.onnx_model import EXPORT_VERSION
from ingest.plan import IngestPlan, LabelledScope, PlannedFile, label_sources, load_chunks, plan_ingest, timed
from ingest.reading import add_bound, has_generation_files
from ingest.state import clear_clean, is_clean, manifest_from_rows, mark_clean, read_state, repair_state
from ingest.store import ChunkStore, open_store, writable
from ingest.text import ANNOTATION_VERSION

__all__ = [
    "CHUNKER_VERSION", "NAMES_VERSION", "ProgressFn", "dense_cache_path", "index_status", "ingest_paths", "sync_keyword_index",
]

#: Bump when chunking changes, so that re-ingest rebuilds every document.
#: 7: tables in HTML, Markdown, DOCX and ruled PDF tables are chunks of whole rows under their headers (#26).
CHUNKER_VERSION = "7"
#: Bump when the way documents are named changes (2: folders outside the corpus folder are labelled
#: `<folder>/...`), so that re-ingest replaces every document stored under its old name.
NAMES_VERSION = "2"

#: progress(stage, done, total): stage is "documents" or "chunks"
ProgressFn = Callable[[str, int, int], None]


def signature_of(settings: Settings) -> str:
    """What, besides content, decides a document's chunks and vectors."""
    # fp32 ONNX gives sentence-transformers' vectors, so only int8 (and its recipe) changes them
    precision = f"|int8-{EXPORT_VERSION}" if settings.embedding_precision == "int8" else ""
    names = f"names-{NAMES_VERSION}"
    layout = "" if settings.text_layout == "auto" else f"|layout-{settings.text_layout}"
    # OCR settings other than the defaults change what a scan's pages hold
    ocr = "" if (settings.ocr, settings.ocr_langs) == ("auto", "eng") else f"|ocr-{settings.ocr}-{settings.ocr_langs}"
    return (
        f"{settings.embedding_model}|{settings.chunk_tokens}|chunker-{CHUNKER_VERSION}|{names}{precision}{layout}{ocr}"
        f"|{ANNOTATION_VERSION}"
    )


def ingest_paths(
    settings: Settings,
    paths: list[Path],
    embedder: Embedder | None,
    *,
    dry_run: bool = False,
    delete: bool = True,
    keep_unreadable: bool = False,
    repair: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files and folders incrementally; with dry_run, only report what would change.

    A damaged state.json stops the ingest (DamagedIndexError) unless `repair`, which sets it aside first.
    """
    started = time.perf_counter()
    found, walked, skipped = discover(paths or [settings.corpus_dir], base=settings.corpus_dir)
    found, skipped = _outside_index(settings, paths or [settings.corpus_dir], found, walked, skipped)
    files, scopes, skipped = label_sources(settings, found, walked, skipped)
    report = IngestReport(skipped=skipped, dry_run=dry_run)
    options = {"delete": delete, "keep_unreadable": keep_unreadable}
    if dry_run:
        try:
            store: ChunkStore | None = open_store(settings, create=False)
        except IndexNotFoundError:
            store = None
        versions = store.versions() if store else {}
        committed = committed_manifest(settings, store, versions) if store else {}
        plan = plan_ingest(settings, signature_of(settings), versions, committed, files, scopes, report, **options)
        for item in plan.files:  # chunked as the real run will (annotation changes no count: left out)
            if item.reuse is None:
                load_chunks(settings, item, plan, report, keep_unreadable=keep_unreadable, annotate=False)
        plan.files = [item for item in plan.files if not item.dropped]
        # what the index will hold: the committed documents this run leaves alone, plus its new versions
        replaced = set(report.deleted) | {item.file.source for item in plan.files}
        report.documents = len(committed) - len(report.deleted) + len(report.added)
        report.chunks = sum(e.chunks for s, e in committed.items() if s not in replaced) + sum(
            item.chunk_count for item in plan.files
        )
        report.seconds = time.perf_counter() - started
        return report

    if any(folder.exists() and not writable(folder) for folder in (settings.index_dir, settings.chroma_dir)):
        raise ReadOnlyIndexError(
            f"The index in {settings.index_dir} is read-only, so it can answer questions but not take an ingest; "
            "ingest into a writable --index-dir."
        )
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise IndexBusyError(
            f"Another ingest is writing {settings.index_dir}; wait for it to finish and try again."
        ) from exc
    try:
        if repair:
            repair_state(settings.index_dir)
        elif (current := _already_current(settings, files, scopes, report, options, progress)) is not None:
            current.seconds = time.perf_counter() - started
            return current
        clear_clean(settings.index_dir)  # before the first write: a run killed from here on leaves it unmarked
        # Reopened from disk: a Chroma this process opened earlier would not show what other processes wrote
        # since (chroma-core/chroma#3792), such as the versions of a killed ingest, which commit removes.
        store = open_store(settings, create=True, reload=True)
        versions = store.versions()
        committed = committed_manifest(settings, store, versions)
        plan = plan_ingest(
            settings, signature_of(settings), versions, committed, files, scopes, report, **options, progress=progress
        )
        _apply(settings, store, plan, report, embedder, progress, keep_unreadable)
        # The lock keeps other writers out of an embedded index, so when this run wrote nothing the store
        # still holds what was listed above (a server may have other writers: read it again there).
        unchanged = versions if not plan.files and not settings.chroma_host else None
        with timed(report, "commit"):
            commit(settings, store, plan, signature_of(settings), report, unchanged)
        state = read_state(settings.index_dir)
        if state is not None and not settings.chroma_host:
            mark_clean(settings.index_dir, state.generation)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    return report


def _already_current(
    settings: Settings,
    files: list[SourceFile],
    scopes: list[LabelledScope],
    report: IngestReport,
    options: dict[str, bool],
    progress: ProgressFn | None,
) -> IngestReport | None:
    """The report of a run with nothing to do, found without opening the store (importing Chroma is most
    of a small index's no-change ingest); None when the store must be read.

    Only for an embedded index marked clean at its current generation (the store then holds exactly what
    state.json lists) whose keyword-index folder is sound, and when every file is as committed: the full
    path would then write nothing, delete nothing and leave state.json as it is."""
    if settings.chroma_host:
        return None
    state = read_state(settings.index_dir)
    if state is None or state.documents is None or not is_clean(settings.index_dir, state.generation):
        return None
    if not has_database(settings.chroma_dir):  # the store itself was removed: rebuild it
        return None
    committed = manifest_from_rows(state.documents)
    if not generation_current(settings, state, committed):
        return None
    trial = copy.deepcopy(report)
    plan = plan_ingest(settings, signature_of(settings), None, committed, files, scopes, trial, **options, progress=progress)
    if plan.files or trial.deleted or plan.touched != set(plan.kept):
        return None
    add_bound(settings.index_dir / state.bm25_dir)  # as the full path's commit does for an older generation
    trial.documents = len(committed)
    trial.chunks = sum(entry.chunks for entry in committed.values())
    return trial


def _real(path: Path) -> Path:
    """Where a path really is; a looping symlink (which resolve() refuses) is placed by its folder."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.parent.resolve() / path.name


def _outside_index(
    settings: Settings, given: list[Path], found: list[SourceFile], walked: list[Scope], skipped: list[Skipped]
) -> tuple[list[SourceFile], list[Skipped]]:
    """Drop the index directory's own files: with the index inside an ingested folder, its trash/ (replaced
    upload versions) was indexed and cited, and its database files were listed as skipped."""
    index = settings.index_dir.resolve()
    roots = [scope.root for scope in walked]
    kept_files = [item for item in found if not _real(item.path).is_relative_to(index)]

    def inside(item: Skipped) -> bool:
        candidates = [Path(item.path)] if Path(item.path).is_absolute() else [root / item.path for root in roots]
        return any(_real(path).is_relative_to(index) for path in candidates if path.exists() or path.is_symlink())

    kept_skipped = [item for item in skipped if not inside(item)]
    kept_skipped += [
        Skipped(str(path), "it is inside the index directory, which ingest never reads; name a folder outside it")
        for path in given
        if _real(path).is_relative_to(index)
    ]
    return kept_files, kept_skipped


# Small files are pooled so the model runs on full batches (one file at a time, 40 small files took
# 6.5 s against 2.7 s pooled); writes still happen file by file. Pool size: this many batches.
_POOL_BATCHES = 8
# Pools read and annotated ahead of the one being embedded: memory holds at most this many plus two.
_POOLS_AHEAD = 1

#: One pool: files in plan order, each with its chunks ([] for a file with nothing to embed).
_Pool = list[tuple[PlannedFile, list[Chunk]]]


class _Reader:
    """Reads, chunks and annotates the plan's files a pool at a time in a thread, ahead of the embedder.

    spaCy (annotate) and ONNX Runtime (embed) both spend most of their time in native code that lets go
    of the GIL, so the next pool is annotated on one core while the model embeds this one (#28).
    Only this thread calls load_chunks; the caller embeds and writes.
    """

    def __init__(self, settings: Settings, plan: IngestPlan, report: IngestReport, keep_unreadable: bool) -> None:
        self._args = (settings, plan, report, keep_unreadable)
        self._pools: queue.Queue[_Pool | BaseException | None] = queue.Queue(maxsize=_POOLS_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corpusqa-ingest-reader", daemon=True)

    def __enter__(self) -> Iterator[_Pool]:
        self._thread.start()
        return self._take()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the caller failed or was interrupted: the reader stops at its next file
        while self._thread.is_alive():
            try:  # unblock a reader waiting to hand over a pool nobody will take
                self._pools.get(timeout=0.1)
            except queue.Empty:
                pass

    def _take(self) -> Iterator[_Pool]:
        while True:
            item = self._pools.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: _Pool | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._pools.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        settings, plan, report, keep_unreadable = self._args
        pool: _Pool = []
        pooled = 0  # sentences in the pool
        try:
            for item in plan.files:
                if self._stop.is_set():
                    return
                chunks = [] if item.reuse is not None else load_chunks(
                    settings, item, plan, report, keep_unreadable=keep_unreadable
                )
                pool.append((item, chunks))
                pooled += sum(len(chunk.sentences) for chunk in chunks)
                if pooled >= settings.embed_batch_size * _POOL_BATCHES:
                    if not self._put(pool):
                        return
                    pool, pooled = [], 0
            if pool and not self._put(pool):
                return
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            self._put(exc)


def _apply(
    settings: Settings,
    store: ChunkStore,
    plan: IngestPlan,
    report: IngestReport,
    embedder: Embedder | None,
    progress: ProgressFn | None,
    keep_unreadable: bool,
) -> None:
    """Write every planned version beside the committed one; nothing a question reads changes until commit().

    Files stream through read, chunk, annotate (a reader thread, a pool ahead), embed and write a pool at a
    time: a pool's chunks are let go once written, so memory holds a few pools, not the generation (the
    manifest is all commit needs). Stage times overlap, so they add up to more than the wall time.
    """
    signature = signature_of(settings)
    total = len(plan.files)
    done = 0
    if progress and total:
        progress("documents", 0, total)  # shown at once: the first pool may take a while to embed

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("documents", done, total)
            progress("chunks", report.embedded_chunks, report.embedded_chunks)

    with _Reader(settings, plan, report, keep_unreadable) as pools:
        for pool in pools:
            embedded = [chunk for _, chunks in pool for chunk in chunks]
            if embedded and embedder is None:
                raise IndexNotFoundError(
                    "An embedder is required to ingest; build the engine with Engine.from_settings()."
                )
            vectors: list[np.ndarray] = []
            if embedded:
                assert embedder is not None
                with timed(report, "embed"):
                    vectors = _embed_sentences(embedder, embedded)
            for item, chunks in pool:
                if chunks:
                    mine, vectors = vectors[: len(chunks)], vectors[len(chunks) :]
                    with timed(report, "write"):
                        store.write_document(chunks, mine, signature, str(item.file.root))
                    report.embedded_chunks += len(chunks)
                tick()
    plan.files = [item for item in plan.files if not item.dropped]


def _embed_sentences(embedder: Embedder, chunks: list[Chunk]) -> list[np.ndarray]:
    texts = [chunk.text[a:b] for chunk in chunks for a, b in chunk.sentences]
    matrix = embedder.embed_texts(texts)
    out = []
    row = 0
    for chunk in chunks:
        out.append(matrix[row : row + len(chunk.sentences)])
        row += len(chunk.sentences)
    return out


def index_status(settings: Settings) -> IndexStatus:
    """What the index holds, for `corpusqa status`."""
    state = read_state(settings.index_dir)
    if state is None and not settings.chroma_host:
        raise IndexNotFoundError(f"No index in {settings.index_dir}; run `corpusqa ingest` first (or set --index-dir).")
    store = open_store(settings, create=False)
    documents = committed_manifest(settings, store, None)
    location = (
        f"chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else str(settings.chroma_dir)
    )
    if not settings.chroma_host and state is not None and not has_generation_files(settings.index_dir / state.bm25_dir):
        # An index written before its generations kept the sentence matrix (ingest/reading.py): can questions
        # read the vectors back from Chroma, or will they fall back to the approximate index?
        store.dense_cache = dense_cache_path(settings, state.generation)
        store.check_vectors()
    return IndexStatus(
        index_dir=str(settings.index_dir),
        embedding_model=(state.embedding_model if state else "") or settings.embedding_model,
        chunk_tokens=(state.chunk_tokens if state else 0) or settings.chunk_tokens,
        documents=[DocumentStatus(doc.source, doc.hash, doc.chunks) for doc in sorted(documents.values(), key=lambda d: d.source)],
        chunks=sum(doc.chunks for doc in documents.values()),
        last_ingest=state.last_ingest if state else None,
        generation=state.generation if state else 0,
        location=location,
        read_only=not settings.chroma_host and not writable(settings.index_dir),
        search_fallback=store.fallback,
    )


def dense_cache_path(settings: Settings, generation: int) -> Path:
    """Where the sentence matrix of a generation is kept (ingest/sentence_matrix.py, `SentenceMatrix.load`)."""
    return settings.index_dir / "dense" / f"generation-{generation}"


def require_chunks(status: IndexStatus, settings: Settings) -> None:
    """Raise EmptyCorpusError when the index holds nothing to search."""
    if status.chunks == 0:
        raise EmptyCorpusError(f"The index in {settings.index_dir} is empty; run `corpusqa ingest DIR` with some documents.")
