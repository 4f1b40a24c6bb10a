"""The page's Documents tab: what is indexed, re-ingest, and uploads that never lose a document."""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from corpusqa.types import IndexStatus, IngestReport, Skipped
from ingest.loader import SUPPORTED_SUFFIXES, UnreadableFile, read_file
from rag.engine import Engine

__all__ = [
    "DocumentsTab",
    "SavedUpload",
    "UploadRejected",
    "render_report",
    "render_status",
    "save_uploads",
    "trash_dir",
    "upload_target",
]

_PROGRESS = gr.Progress()  # Gradio spots a Progress default and feeds it the event's progress bar
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ERROR = '<div class="cqa-error">{}</div>'
_EXISTS = "a document of that name exists; tick “Replace documents of the same name” to replace it"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def render_status(status: IndexStatus, settings: Settings) -> str:
    """The documents tab's summary of the index, as HTML."""
    rows = "".join(f"<tr><td><code>{_esc(d.source)}</code></td><td>{d.chunks}</td></tr>" for d in status.documents)
    count = len(status.documents)
    return (
        f'<div class="cqa-status"><p><strong>{count} document{"s" if count != 1 else ""}, {status.chunks} chunks</strong>'
        f" · last ingest {_esc(status.last_ingest or 'never')} · embedding model {_esc(status.embedding_model)}</p>"
        f"<p>Corpus folder <code>{_esc(str(settings.corpus_dir.resolve()))}</code> · index "
        f"<code>{_esc(status.location)}</code></p>"
        f"<table><thead><tr><th>File</th><th>Chunks</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def render_report(report: IngestReport | None, rejected: Sequence[Skipped] = (), notes: Sequence[str] = ()) -> str:
    """The summary of an ingest (and of uploads that were refused, and kept old versions), as HTML."""
    head = f"<p><strong>Ingest finished:</strong> {_esc(report.summary())}</p>" if report is not None else ""
    items: list[str] = []
    if report is not None:
        for label, names in (("added", report.added), ("updated", report.updated), ("deleted", report.deleted)):
            items.extend(f"<li>{label}: <code>{_esc(name)}</code></li>" for name in names)
        items.extend(f"<li>skipped: <code>{_esc(s.path)}</code>: {_esc(s.reason)}</li>" for s in report.skipped)
    items.extend(f"<li>not uploaded: <code>{_esc(r.path)}</code>: {_esc(r.reason)}</li>" for r in rejected)
    items.extend(f"<li>{_esc(note)}</li>" for note in notes)
    body = f"<ul>{''.join(items)}</ul>" if items else ""
    return head + body or "<p>No files were given.</p>"


# ---- uploads: only plain names of supported types, only readable files, never losing the old one --


class UploadRejected(Exception):
    """An uploaded file that is not saved; the message says why."""


@dataclass(frozen=True)
class SavedUpload:
    """An upload now in the corpus folder; `previous` is where the version it replaced was kept."""

    name: str
    previous: Path | None = None


def trash_dir(settings: Settings) -> Path:
    """Where replaced uploads are kept: `trash/` in the index directory."""
    return settings.index_dir / "trash"


def upload_target(corpus_dir: Path, name: str) -> Path:
    """Where an upload called `name` goes in the corpus folder; raises UploadRejected for a bad name.

    Format characters (bidi overrides, zero-width spaces, BOMs) are dropped first, as in questions: a
    name with U+202E would otherwise display reversed ("\u202etxt.exe.md" reads as "dm.exe.txt").
    """
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    if not name or "/" in name or "\\" in name or name in (".", "..") or _CONTROL.search(name):
        raise UploadRejected("the file name must be a plain name, without folders")
    if name.startswith("."):
        raise UploadRejected("hidden files are not accepted")
    if len(name.encode("utf-8")) > 255:
        raise UploadRejected("the file name is too long")
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = " ".join(SUPPORTED_SUFFIXES)
        raise UploadRejected(f"unsupported file type {suffix or '(none)'} (allowed: {allowed})")
    root = corpus_dir.resolve()
    try:
        target = (root / name).resolve()
    except (RuntimeError, OSError):  # a looping symlink of that name in the corpus folder
        raise UploadRejected("a broken link of that name is in the corpus folder; remove it first") from None
    if target.parent != root:  # e.g. an existing symlink of that name pointing elsewhere
        raise UploadRejected("the file would land outside the corpus folder")
    return root / name


def save_uploads(
    files: Sequence[str | Path],
    corpus_dir: Path,
    max_mb: float,
    inbox: Path,
    *,
    replace: bool = False,
    trash: Path | None = None,
    keep: int = 20,
) -> tuple[list[SavedUpload], list[Skipped]]:
    """Move files uploaded into `inbox` into the corpus folder once they read as text; returns (saved, rejected).

    A name that exists is refused unless `replace`; then the old version is first copied to `trash`
    (the newest `keep` kept), and the new one takes its place in one atomic rename.
    """
    saved: list[SavedUpload] = []
    rejected: list[Skipped] = []
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        path = Path(file)
        try:
            saved.append(_save_one(path, corpus_dir, max_mb, inbox, replace, trash, keep))
        except UploadRejected as exc:
            rejected.append(Skipped(path.name, str(exc)))
        except OSError as exc:
            rejected.append(Skipped(path.name, f"could not be saved ({exc.strerror or exc.__class__.__name__})"))
    return saved, rejected


def _save_one(
    path: Path, corpus_dir: Path, max_mb: float, inbox: Path, replace: bool, trash: Path | None, keep: int
) -> SavedUpload:
    # An API caller can name any server path instead of uploading a file; only uploads count.
    if not path.resolve().is_relative_to(inbox.resolve()):
        raise UploadRejected("the file was not uploaded through the page")
    target = upload_target(corpus_dir, path.name)
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise UploadRejected(f"the file is larger than {max_mb:g} MB (CORPUSQA_MAX_UPLOAD_MB)")
    if size == 0:
        raise UploadRejected("the file is empty")
    exists = target.exists() or target.is_symlink()
    if exists and not replace:
        raise UploadRejected(_EXISTS)
    if exists and not target.is_file():
        raise UploadRejected("a folder or special file of that name exists in the corpus folder")
    # A hidden staging folder in the corpus folder: ingest skips hidden names, and the final rename
    # stays on one file system, so it is atomic.
    staging = Path(tempfile.mkdtemp(dir=corpus_dir, prefix=".upload-"))
    try:
        staged = staging / target.name
        shutil.copyfile(path, staged)
        _check_readable(staged, max_mb)
        os.chmod(staged, 0o644)  # an ordinary document, whatever the upload folder's mode
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        previous = _keep_previous(target, trash, keep) if exists else None
        if exists:
            os.replace(staged, target)  # the old version stays in place until this instant
        else:
            # A hard link never replaces: a file of that name saved meanwhile (another server on this
            # folder, an editor) is kept, and this upload refused, instead of one silently overwriting the other.
            try:
                os.link(staged, target)
            except FileExistsError as exc:
                raise UploadRejected(_EXISTS) from exc
            except OSError:  # a file system without hard links (FAT, some network shares): check once more
                if target.exists() or target.is_symlink():
                    raise UploadRejected(_EXISTS) from None
                os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return SavedUpload(target.name, previous)


def _check_readable(path: Path, max_mb: float) -> None:
    """Read the staged file as ingest will (same loader); a file with no text is refused before it lands."""
    try:
        loaded = read_file(path.read_bytes(), path, path.name, int(max_mb * 1024 * 1024) + 1)
    except UnreadableFile as exc:
        raise UploadRejected(f"it cannot be ingested: {exc}") from exc
    if not loaded.text.strip() and not loaded.pages.unread:  # pages left for OCR are read at ingest
        raise UploadRejected("it cannot be ingested: no text to index")


def _keep_previous(target: Path, trash: Path | None, keep: int) -> Path:
    """Copy the version about to be replaced into the trash folder; drop the oldest beyond `keep`."""
    if trash is None:
        raise UploadRejected("replacing is not possible here: no trash folder is configured")
    trash.mkdir(parents=True, exist_ok=True)
    # One clock reading, in UTC: names sort by age (local time repeats an hour when summer time ends).
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000)) + f"{now % 1_000_000_000:09d}"
    kept = trash / f"{stamp}-{target.name}"
    shutil.copy2(target, kept)
    # The version just kept exists nowhere else: it is never the one dropped, whatever the other names say.
    others = sorted((item for item in trash.iterdir() if item != kept), key=lambda item: item.name)
    for old in others[: max(len(others) - (keep - 1), 0)]:
        old.unlink(missing_ok=True)
    return kept


def _restore(corpus_dir: Path, upload: SavedUpload) -> str:
    """Undo an upload that ingest still refused: bring back the version it replaced, or remove it."""
    target = corpus_dir / upload.name
    if upload.previous is not None and upload.previous.exists():
        staging = Path(tempfile.mkdtemp(dir=corpus_dir, prefix=".restore-"))
        try:
            shutil.copy2(upload.previous, staging / upload.name)
            os.replace(staging / upload.name, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return f"{upload.name}: the previous version was put back"
    target.unlink(missing_ok=True)
    return f"{upload.name}: removed again"


# ---- the tab ---------------------------------------------------------------------------------------


def _ingest_progress(progress: Callable[..., Any]) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        if stage == "documents":
            progress((done, total), desc="Indexing documents", unit="files")

    return report


class DocumentsTab:
    """The documents tab's handlers: status, re-ingest, upload. Testable without a browser."""

    def __init__(self, engine: Engine, settings: Settings, inbox: Path | None = None) -> None:
        self.engine = engine
        self.settings = settings
        # where Gradio stores uploads (GRADIO_TEMP_DIR or <tmp>/gradio)
        self.inbox = inbox or Path(get_upload_folder())

    def status(self) -> str:
        """What is indexed, or how to build an index."""
        try:
            return render_status(self.engine.status(), self.settings)
        except CorpusQAError as exc:
            return _ERROR.format(f"{_esc(str(exc))} Press <em>Re-ingest</em> below to build it.")

    def status_json(self) -> dict[str, Any]:
        """What is indexed, as in `corpusqa status --json` (or {"error": ...})."""
        try:
            return self.engine.status().to_json()
        except CorpusQAError as exc:
            return {"error": str(exc)}

    def reingest(self, progress: Any = _PROGRESS) -> tuple[str, str]:
        """Bring the index in step with the corpus folder."""
        progress(0, desc="Scanning the corpus folder")
        return self._ingest(progress, []), self.status()

    def upload(
        self, files: list[str] | None, replace: bool = False, progress: Any = _PROGRESS
    ) -> tuple[str, str, None]:
        """Save uploaded files that read as text into the corpus folder, then ingest it."""
        settings = self.settings
        saved, rejected = save_uploads(
            files or [], settings.corpus_dir, settings.max_upload_mb, self.inbox,
            # only the checkbox's true replaces: an API caller's "false" is truthy
            replace=replace is True, trash=trash_dir(settings), keep=settings.upload_versions_kept,
        )
        notes = [f"{s.name}: the previous version is kept as {s.previous}" for s in saved if s.previous]
        summary = self._ingest(progress, rejected, saved, notes) if saved else render_report(None, rejected)
        return summary, self.status(), None

    def _ingest(
        self, progress: Any, rejected: list[Skipped], uploaded: Sequence[SavedUpload] = (), notes: list[str] | None = None
    ) -> str:
        notes = notes or []
        try:
            report = self.engine.ingest([self.settings.corpus_dir], progress=_ingest_progress(progress))
            # The staged copy was read before it landed, so this is rare (e.g. no sentence to chunk):
            # an upload that ingest still skips is undone, and the index brought back in step.
            refused = {item.path: item for item in report.skipped}
            undone = [upload for upload in uploaded if upload.name in refused]
            if undone:
                notes = [*notes, *(_restore(self.settings.corpus_dir, upload) for upload in undone)]
                rejected = [*rejected, *(refused[upload.name] for upload in undone)]
                report = self.engine.ingest([self.settings.corpus_dir], progress=_ingest_progress(progress))
        except CorpusQAError as exc:
            return _ERROR.format(f"<strong>Could not ingest:</strong> {_esc(str(exc))}") + render_report(
                None, rejected, notes
            )
        return render_report(report, rejected, notes)

    def build(self, settings: Settings) -> _TabParts:
        """The tab's components (inside a gr.Tabs context); wire them with `connect` outside it."""
        with gr.Tab("Documents", id="documents-tab") as tab:
            with gr.Row(equal_height=False):
                with gr.Column():
                    gr.Markdown("### Indexed")
                    status = gr.HTML(label="Index", elem_id="index-status")
                    reingest = gr.Button("Re-ingest the corpus folder", variant="primary", elem_id="reingest")
                with gr.Column():
                    gr.Markdown(
                        f"### Add documents\nChecked, saved into the corpus folder, then ingested: "
                        f"{', '.join(SUPPORTED_SUFFIXES)}, up to {settings.max_upload_mb:g} MB each. A file "
                        "that cannot be read is not saved."
                    )
                    files = gr.File(
                        label="Documents", file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), elem_id="upload"
                    )
                    replace = gr.Checkbox(
                        False,
                        label="Replace documents of the same name (the old version is kept in the index folder's trash)",
                        elem_id="upload-replace",
                    )
                    upload = gr.Button("Add to the corpus and ingest", elem_id="upload-button")
            summary = gr.HTML(label="Summary", elem_id="ingest-summary")
        return _TabParts(tab, status, reingest, files, replace, upload, summary)

    def connect(self, blocks: gr.Blocks, parts: _TabParts) -> None:
        """The tab's events and API endpoints: /status, /ingest, /upload."""
        gr.api(self.status_json, api_name="status")  # type: ignore[attr-defined]
        gr.on([blocks.load, parts.tab.select], self.status, None, parts.status, api_name="show_status",
              api_visibility="private")
        options: dict[str, Any] = {"concurrency_id": "ingest", "concurrency_limit": 1, "show_progress_on": parts.summary}
        parts.reingest.click(self.reingest, None, [parts.summary, parts.status], api_name="ingest", **options)
        parts.upload.click(
            self.upload, [parts.files, parts.replace], [parts.summary, parts.status, parts.files], api_name="upload",
            **options,
        )


@dataclass(frozen=True)
class _TabParts:
    tab: Any
    status: Any
    reingest: Any
    files: Any
    replace: Any
    upload: Any
    summary: Any
