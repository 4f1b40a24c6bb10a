"""Decide what an ingest does to each file (new, changed, unchanged, removed, skipped); a dry run reports the same plan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from corpusqa.settings import Settings
from corpusqa.types import Chunk, IngestReport, Skipped, SkippedPages
from ingest.chunker import chunk_file
from ingest.loader import OcrOptions, Scope, SourceFile, UnreadableFile, file_hash, read_file
from ingest.state import Manifest, ManifestEntry
from ingest.store import StoredDocument
from ingest.text import annotate_chunks

__all__ = ["IngestPlan", "PlannedFile", "label_sources", "load_chunks", "plan_ingest", "timed"]

#: Skipped.outcome values
NOT_INDEXED, REMOVED, KEPT = "not indexed", "removed", "kept"


@dataclass(frozen=True)
class LabelledScope:
    """A walked folder: stored documents of `root` whose source starts with `prefix` were all seen this run."""

    root: str
    prefix: str
    whole: bool  # the folder is its root: every document stored from that root was seen


@dataclass
class PlannedFile:
    """A file whose new version goes into the index: embedded, or reused when a complete copy is stored.

    Its chunks are made when the run reaches it (`load_chunks`) and let go once written, so an ingest holds
    a pool of files at a time, never the whole generation (#28); `chunk_count` stays for the manifest.
    """

    file: SourceFile
    hash: str
    action: str  # "added" | "updated"
    reuse: StoredDocument | None = None  # left complete by an interrupted run: nothing to embed
    chunk_count: int = 0
    old: ManifestEntry | None = None  # the committed version it replaces
    dropped: bool = False  # it turned out to hold no indexable text: reported as skipped, not written


@dataclass
class IngestPlan:
    """What one run writes, keeps and drops; `touched` sources get their other stored versions removed."""

    files: list[PlannedFile] = field(default_factory=list)
    kept: Manifest = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    ocr: OcrOptions | None = None  # how `load_chunks` reads pages without text


def label_sources(
    settings: Settings, files: list[SourceFile], scopes: list[Scope], skipped: list[Skipped]
) -> tuple[list[SourceFile], list[LabelledScope], list[Skipped]]:
    """Name files outside the corpus folder `<folder name>/<path>`, so two folders' README.md stay two documents.

    Files inside the corpus folder keep their path relative to it (the bundled corpus, the eval
    questions and the page's uploads name documents that way).
    """
    corpus = settings.corpus_dir.resolve() if settings.corpus_dir.is_dir() else None

    def label(root: Path) -> str:
        return "" if root == corpus else f"{root.name or 'root'}/"

    named = [SourceFile(f.path, f.root, label(f.root) + f.source) for f in files]
    labelled = [LabelledScope(str(s.root), label(s.root) + s.prefix, s.prefix == "") for s in scopes]
    # files skipped while walking a folder are named relative to its root: name them like the rest
    renamed = []
    for item in skipped:
        root = next((s.root for s in scopes if not Path(item.path).is_absolute() and _exists(s.root / item.path)), None)
        renamed.append(Skipped(label(root) + item.path, item.reason, item.outcome) if root is not None else item)
    return named, labelled, renamed


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def plan_ingest(
    settings: Settings,
    signature: str,
    versions: dict[str, list[StoredDocument]] | None,
    committed: Manifest,
    files: list[SourceFile],
    scopes: list[LabelledScope],
    report: IngestReport,
    *,
    delete: bool,
    keep_unreadable: bool,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestPlan:
    """Read and hash every file and decide its fate; new and changed files are chunked later (`load_chunks`).

    `versions`: what the store holds; None when the index is known clean (ingest/state.py `is_clean`), so
    that the committed manifest stands for it.

    `progress("OCR pages", done, total)` is called as OCR reads each page (total grows file by file).
    """
    plan = IngestPlan(ocr=_ocr_options(settings, report, progress))
    seen: set[str] = set()
    # A document's first folder belongs to one root: two folders named projB may not mix their files
    # under projB/ (the indexed one keeps it; in one run, the first given).
    owners = {ns: entry.root for entry in committed.values() if (ns := _namespace(entry.source)) and Path(entry.root).is_dir()}
    indexed = dict(owners)
    for item in files:  # discovery order: the first given folder of a name owns it
        owners.setdefault(_namespace(item.source), str(item.root))
    for item in sorted(files, key=lambda f: (f.source, owners[_namespace(f.source)] != str(f.root))):
        namespace = _namespace(item.source)
        if item.source in seen:
            # Two roots with the same folder name in one run would be stored under one source.
            report.skipped.append(Skipped(str(item.path), f"another ingested file is also named {item.source}"))
            continue
        seen.add(item.source)
        old = committed.get(item.source)
        if old is not None and old.root != str(item.root) and Path(old.root).is_dir():
            report.skipped.append(
                Skipped(
                    str(item.path),
                    f"{item.source} is already indexed from {old.root}; rename one of the two folders",
                )
            )
            continue
        owner = owners[namespace] if namespace else str(item.root)
        if owner != str(item.root):
            where = "is already indexed from" if indexed.get(namespace) == owner else "is also ingested from"
            report.skipped.append(Skipped(str(item.path), f"the folder {namespace}/ {where} {owner}; rename one of the two folders"))
            continue
        plan.touched.add(item.source)
        try:
            with timed(report, "read"):
                digest = file_hash(_read_bytes(item, settings))
            if old is not None and _is_stored(versions, old, digest, signature):
                report.unchanged.append(item.source)
                plan.kept[item.source] = old
                continue
        except UnreadableFile as exc:
            _unreadable(item.source, str(exc), old, keep_unreadable, plan, report)
            continue
        action = "added" if old is None else "updated"
        reuse = next(
            (v for v in (versions or {}).get(item.source, []) if v.complete and v.hash == digest and v.signature == signature),
            None,
        )
        plan.files.append(PlannedFile(item, digest, action, reuse, reuse.chunks if reuse else 0, old))
        getattr(report, action).append(item.source)
    for source, entry in sorted(committed.items()):
        if delete and source not in seen and _in_scope(source, entry.root, scopes):
            report.deleted.append(source)
            plan.touched.add(source)
    report.deleted.sort()
    # versions an interrupted run left of files that are gone: never shown, removed at commit
    for source, stored in (versions or {}).items():
        gone = delete and source not in seen and source not in committed
        if gone and any(_in_scope(source, v.root, scopes) for v in stored):
            plan.touched.add(source)
    return plan


def load_chunks(
    settings: Settings, planned: PlannedFile, plan: IngestPlan, report: IngestReport, *, keep_unreadable: bool,
    annotate: bool = True,
) -> list[Chunk]:
    """Read, chunk and (with `annotate`) annotate a planned file; [] when it holds no indexable text, which is
    then reported as skipped exactly as the plan would have (the dry run calls this too, without annotating)."""
    try:
        with timed(report, "read"):
            data = _read_bytes(planned.file, settings)
            planned.hash = file_hash(data)  # the bytes chunked now (the file may have changed since planning)
            loaded = read_file(
                data, planned.file.path, planned.file.source, _max_bytes(settings), settings.text_layout, plan.ocr
            )
        report.ocr_pages += loaded.pages.ocr_pages
        with timed(report, "chunk"):
            chunks = chunk_file(loaded, planned.hash, settings.chunk_tokens)
        if not chunks:
            raise UnreadableFile(loaded.pages.reason or "no text to index")
        if loaded.pages.unread:
            report.pages_skipped.append(SkippedPages(planned.file.source, loaded.pages.unread, loaded.pages.reason))
    except UnreadableFile as exc:
        planned.dropped = True
        getattr(report, planned.action).remove(planned.file.source)
        _unreadable(planned.file.source, str(exc), planned.old, keep_unreadable, plan, report)
        report.deleted.sort()
        return []
    if annotate:
        with timed(report, "annotate"):
            chunks = annotate_chunks(chunks)
    planned.chunk_count = len(chunks)
    return chunks


@contextmanager
def timed(report: IngestReport, stage: str) -> Iterator[None]:
    """Add the wall time of the block to `report.stages[stage]`."""
    mark = time.perf_counter()
    try:
        yield
    finally:
        report.stages[stage] = report.stages.get(stage, 0.0) + time.perf_counter() - mark


def _ocr_options(
    settings: Settings, report: IngestReport, progress: Callable[[str, int, int], None] | None
) -> OcrOptions:
    """OCR as the settings say, reporting each page read to `progress` as one running count over the files."""
    counts = {"done": 0, "total": 0}

    def on_page(done: int, total: int) -> None:
        if done == 1:
            counts["total"] += total
        counts["done"] += 1
        if progress is not None:
            progress("OCR pages", counts["done"], counts["total"])

    return OcrOptions(settings.ocr, settings.ocr_langs, settings.tesseract_cmd, on_page)


def _read_bytes(item: SourceFile, settings: Settings) -> bytes:
    try:
        if item.path.is_symlink() and not item.path.exists():  # dangling or looping: unreadable, like an emptied file
            raise UnreadableFile("broken symbolic link")
        if not item.path.is_file():  # a FIFO or device would block read_bytes() forever
            raise UnreadableFile("not a regular file")
        if item.path.stat().st_size > _max_bytes(settings):
            raise UnreadableFile(f"file is larger than {settings.max_file_mb:g} MB (CORPUSQA_MAX_FILE_MB)")
        return item.path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read file ({exc.strerror or exc.__class__.__name__})") from exc


def _max_bytes(settings: Settings) -> int:
    return int(settings.max_file_mb * 1024 * 1024)


def _unreadable(
    source: str, reason: str, old: ManifestEntry | None, keep: bool, plan: IngestPlan, report: IngestReport
) -> None:
    """A file that holds no indexable text now: its indexed version goes (or stays, with keep)."""
    if old is None:
        report.skipped.append(Skipped(source, reason, NOT_INDEXED))
    elif keep:
        report.skipped.append(Skipped(source, reason, KEPT))
        plan.kept[source] = old
    else:
        report.skipped.append(Skipped(source, reason, REMOVED))
        report.deleted.append(source)


def _is_stored(versions: dict[str, list[StoredDocument]] | None, old: ManifestEntry, digest: str, signature: str) -> bool:
    """The committed version is this content, under these settings, with every chunk present (in a clean
    index, `versions` None, every committed version is)."""
    if old.hash != digest or old.signature != signature:
        return False
    if versions is None:
        return True
    return any(v.complete and v.hash == digest and v.signature == signature for v in versions.get(old.source, []))


def _namespace(source: str) -> str:
    """The first folder of a document's name ("projB" of "projB/docs/guide.md"); "" for a top-level file."""
    return source.split("/", 1)[0] if "/" in source else ""


def _in_scope(source: str, root: str, scopes: list[LabelledScope]) -> bool:
    """Whether this run walked where `source` lives.

    A walk of a whole root saw every file under it, so it also claims documents stored from that root
    under another name (by an older version, or with another corpus folder): they are gone or renamed.
    """
    return any(root == s.root and (s.whole or source.startswith(s.prefix)) for s in scopes)
