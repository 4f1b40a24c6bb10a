"""The chat page: Gradio Blocks over one Engine (cited answers, sources, settings, a documents tab)."""

from __future__ import annotations

import html
import logging
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from corpusqa.settings import Settings
from corpusqa.types import Answer, Citation, IndexStatus, IngestReport, ScoredChunk, Skipped
from ingest.loader import SUPPORTED_SUFFIXES
from rag.engine import Engine
from ui.claims_html import CLAIMS_CSS, claims_html, mark_unsupported_html

enforce_offline()  # before gradio is imported: it reads GRADIO_ANALYTICS_ENABLED at import

import gradio as gr
from gradio.utils import get_upload_folder

from ui.web_search import SEARCH_CSS, search_tab

__all__ = [
    "EXAMPLE_QUESTIONS",
    "ChatPage",
    "UploadRejected",
    "answer_details",
    "build_blocks",
    "highlight_passage",
    "mount_page",
    "render_answer",
    "render_error",
    "render_partial",
    "render_report",
    "render_status",
    "save_uploads",
    "upload_target",
]

#: Shown as clickable cards in the empty chat; they are about the bundled corpus.
EXAMPLE_QUESTIONS = [
    "How many Taliban prisoners were held in total?",
    "Which Taliban spokesman tweeted that the list of 5,000 prisoners handed to the US team could not be tampered with?",
    "What is the capital of France?",
]
_CLOSEST = 3  # passages shown when the answer abstains
_LOG = logging.getLogger(__name__)
_PROGRESS = gr.Progress()  # Gradio spots a Progress default and feeds it the event's progress bar
_CITATION = re.compile(r"\[(\d{1,2})\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

CSS = """
#chat .cqa-answer { white-space: pre-wrap; }
#chat .cqa-cite { font-weight: 600; text-decoration: none; color: var(--color-accent); }
#chat .cqa-sources { margin-top: .75em; border-top: 1px solid var(--border-color-primary); padding-top: .5em; }
#chat .cqa-sources > summary { font-weight: 600; cursor: pointer; }
#chat .cqa-source { margin: .6em 0; padding: .5em .75em; border-radius: 6px; background: var(--background-fill-secondary); }
#chat .cqa-source:target { outline: 2px solid var(--color-accent); }
#chat .cqa-source-head { font-weight: 600; }
#chat .cqa-meta { font-size: .85em; opacity: .8; }
#chat .cqa-passage { margin: .4em 0 0 0; font-size: .92em; }
#chat .cqa-closest .cqa-passage { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; overflow: hidden; }
#chat .cqa-closest .cqa-source:hover .cqa-passage { -webkit-line-clamp: unset; }
#chat .cqa-passage mark { background: #fde68a; color: #111; padding: 0 .1em; }
#chat .cqa-abstain { padding: .5em .75em; border-left: 4px solid #d97706; background: rgba(217, 119, 6, .08); }
.cqa-error { padding: .5em .75em; border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08); }
#chat .cqa-timings { margin-top: .5em; font-size: .8em; opacity: .75; }
"""


# ---- formatting: every value from a document or a user is HTML-escaped ---------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _flat(text: str) -> str:
    """One line (a blank line would end the HTML block in the chat's Markdown); paragraphs become <br>."""
    return "<br>".join(" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip())


def highlight_passage(text: str, sentence: str) -> str:
    """The passage as HTML with the supporting sentence in <mark> (matched ignoring whitespace)."""
    words = sentence.split()
    match = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    if match is None:
        return _flat(_esc(text))
    before, found, after = text[: match.start()], text[match.start() : match.end()], text[match.end() :]
    return _flat(f"{_esc(before)}<mark>{_esc(found)}</mark>{_esc(after)}")


def _lines(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


def _source_html(anchor: str, number: int, item: Citation | ScoredChunk) -> str:
    if isinstance(item, Citation):
        source, title, kind, start, end, text, mark = (
            item.source, item.title, item.kind, item.start_line, item.end_line, item.text, item.highlight
        )
    else:
        chunk = item.chunk
        source, title, kind, start, end, text, mark = (
            chunk.source, chunk.title, chunk.kind, chunk.start_line, chunk.end_line, chunk.text, ""
        )
    kind_label = "reader comment" if kind == "comment" else "article"
    return (
        f'<div class="cqa-source" id="{anchor}-{number}">'
        f'<div class="cqa-source-head">[{number}] {_esc(title or source)}</div>'
        f'<div class="cqa-meta"><code>{_esc(source)}</code> · {_lines(start, end)} · {kind_label}</div>'
        f'<blockquote class="cqa-passage">{highlight_passage(text, mark)}</blockquote></div>'
    )


def _sources_html(
    anchor: str, heading: str, items: Sequence[tuple[int, Citation | ScoredChunk]], extra_class: str = ""
) -> str:
    body = "".join(_source_html(anchor, number, item) for number, item in items)
    return f'<details class="cqa-sources{extra_class}" open><summary>{_esc(heading)}</summary>{body}</details>'


def _link_citations(escaped: str, anchor: str, numbers: set[int]) -> str:
    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in numbers:
            return match.group(0)
        return f'<a class="cqa-cite" href="#{anchor}-{number}" title="Go to source {number}">[{number}]</a>'

    return _CITATION.sub(link, escaped)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def render_partial(text: str) -> str:
    """The answer while it streams in."""
    return f'<div class="cqa-answer">{_esc(text)}</div>'


def render_answer(answer: Answer, anchor: str) -> str:
    """The finished answer: text with linked [n] markers, its sources (or closest passages), timings."""
    text = _flat(_esc(answer.answer))
    if answer.abstained:
        head = (
            '<div class="cqa-abstain"><strong>The documents do not answer this question.</strong> '
            f"{text}</div>"
        )
    else:
        numbers = {citation.id for citation in answer.citations}
        head = f'<div class="cqa-answer">{_link_citations(mark_unsupported_html(text), anchor, numbers)}</div>'
    if answer.citations:
        count = len(answer.citations)
        heading = f"Sources ({count} passage{'s' if count > 1 else ''})"
        sources = _sources_html(anchor, heading, [(c.id, c) for c in answer.citations])
    elif answer.retrieved:
        closest = list(enumerate(answer.retrieved[:_CLOSEST], start=1))
        heading = "Closest passages found (they do not answer the question)"
        sources = _sources_html(anchor, heading, closest, " cqa-closest")
    else:
        sources = ""
    t = answer.timings
    timings = (
        f'<div class="cqa-timings">{_ms(answer.seconds)} in all: embedding {_ms(t.embedding)} · '
        f"retrieval {_ms(t.retrieval)} · answering {_ms(t.answering)} ({_esc(answer.backend)})</div>"
    )
    return head + claims_html(answer) + sources + timings


def render_error(exc: Exception) -> str:
    """One readable message in the chat."""
    return f'<div class="cqa-error"><strong>Could not answer:</strong> {_esc(str(exc))}</div>'


def answer_details(answer: Answer) -> dict[str, Any]:
    """What the API (`/ask`) returns beside the chat message: the CLI's JSON plus timings."""
    t = answer.timings
    timings = {"embedding": round(t.embedding, 4), "retrieval": round(t.retrieval, 4), "answering": round(t.answering, 4)}
    return {**answer.to_json(), "timings": timings}


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


def render_report(report: IngestReport | None, rejected: Sequence[Skipped] = ()) -> str:
    """The summary of an ingest (and of uploads that were refused), as HTML."""
    head = f"<p><strong>Ingest finished:</strong> {_esc(report.summary())}</p>" if report is not None else ""
    items: list[str] = []
    if report is not None:
        for label, names in (("added", report.added), ("updated", report.updated), ("deleted", report.deleted)):
            items.extend(f"<li>{label}: <code>{_esc(name)}</code></li>" for name in names)
        items.extend(f"<li>skipped: <code>{_esc(s.path)}</code>: {_esc(s.reason)}</li>" for s in report.skipped)
    items.extend(f"<li>not uploaded: <code>{_esc(r.path)}</code>: {_esc(r.reason)}</li>" for r in rejected)
    body = f"<ul>{''.join(items)}</ul>" if items else ""
    return head + body or "<p>No files were given.</p>"


# ---- uploads: only plain names of supported types, only inside the corpus folder -----------------


class UploadRejected(Exception):
    """An uploaded file that is not saved; the message says why."""


def upload_target(corpus_dir: Path, name: str) -> Path:
    """Where an upload called `name` goes in the corpus folder; raises UploadRejected for a bad name."""
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
    target = (root / name).resolve()
    if target.parent != root:  # e.g. an existing symlink of that name pointing elsewhere
        raise UploadRejected("the file would land outside the corpus folder")
    return root / name


def save_uploads(
    files: Sequence[str | Path], corpus_dir: Path, max_mb: float, inbox: Path
) -> tuple[list[str], list[Skipped]]:
    """Copy files uploaded into `inbox` to the corpus folder (atomically); returns (saved names, rejected)."""
    saved: list[str] = []
    rejected: list[Skipped] = []
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        path = Path(file)
        try:
            # An API caller can name any server path instead of uploading a file; only uploads count.
            if not path.resolve().is_relative_to(inbox.resolve()):
                raise UploadRejected("the file was not uploaded through the page")
            target = upload_target(corpus_dir, path.name)
            size = path.stat().st_size
            if size > max_mb * 1024 * 1024:
                raise UploadRejected(f"the file is larger than {max_mb:g} MB (CORPUSQA_MAX_UPLOAD_MB)")
            if size == 0:
                raise UploadRejected("the file is empty")
            _copy_atomically(path, target)
        except UploadRejected as exc:
            rejected.append(Skipped(path.name, str(exc)))
            continue
        except OSError as exc:
            rejected.append(Skipped(path.name, f"could not be saved ({exc.strerror or exc.__class__.__name__})"))
            continue
        saved.append(target.name)
    return saved, rejected


def _copy_atomically(source: Path, target: Path) -> None:
    # A dot-named temporary file: ingest ignores hidden files, so a half-written upload is never indexed.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while block := src.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a corpus file is an ordinary document
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- the page ------------------------------------------------------------------------------------


def _ingest_progress(progress: Callable[..., Any]) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        if stage == "documents":
            progress((done, total), desc="Indexing documents", unit="files")

    return report


class ChatPage:
    """The page's event handlers: read inputs, call the engine, format. Testable without a browser."""

    def __init__(self, engine: Engine, settings: Settings, inbox: Path | None = None) -> None:
        self.engine = engine
        self.settings = settings
        # where Gradio stores uploads (GRADIO_TEMP_DIR or <tmp>/gradio)
        self.inbox = inbox or Path(get_upload_folder())

    def ask(self, message: str, history: list[Any], backend: str, top_k: float) -> Iterator[tuple[str, Any]]:
        """Stream the answer into the chat; the second value is the answer as JSON, for API callers."""
        anchor = f"cqa-{uuid.uuid4().hex[:8]}"
        text = ""
        try:
            for event in self.engine.stream(message, backend=backend, top_k=int(top_k)):
                if isinstance(event, str):
                    text += event
                    yield render_partial(text), gr.skip()
                else:
                    yield render_answer(event, anchor), answer_details(event)
        except CorpusQAError as exc:
            yield render_error(exc), {"error": str(exc)}
        except Exception as exc:
            if self.settings.debug or "pytest" in sys.modules:
                raise
            _LOG.exception("Unexpected error while answering %r", message)
            yield render_error(RuntimeError(f"Unexpected error ({exc.__class__.__name__}: {exc}).")), {"error": str(exc)}

    def status(self) -> str:
        """What is indexed, or how to build an index."""
        try:
            return render_status(self.engine.status(), self.settings)
        except CorpusQAError as exc:
            return f'<div class="cqa-error">{_esc(str(exc))} Press <em>Re-ingest</em> below to build it.</div>'

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

    def upload(self, files: list[str] | None, progress: Any = _PROGRESS) -> tuple[str, str, None]:
        """Save uploaded files into the corpus folder, then ingest it."""
        corpus = self.settings.corpus_dir
        saved, rejected = save_uploads(files or [], corpus, self.settings.max_upload_mb, self.inbox)
        summary = self._ingest(progress, rejected, saved) if saved else render_report(None, rejected)
        return summary, self.status(), None

    def _ingest(self, progress: Any, rejected: list[Skipped], uploaded: Sequence[str] = ()) -> str:
        try:
            report = self.engine.ingest([self.settings.corpus_dir], progress=_ingest_progress(progress))
        except CorpusQAError as exc:
            return render_error(exc) + render_report(None, rejected)
        # An upload that ingest could not read is not kept: it would be reported at every re-ingest.
        unreadable = [item for item in report.skipped if item.path in uploaded]
        for item in unreadable:
            (self.settings.corpus_dir / item.path).unlink(missing_ok=True)
        report.skipped = [item for item in report.skipped if item not in unreadable]
        return render_report(report, [*rejected, *unreadable])


def _backend_choices(settings: Settings) -> list[tuple[str, str]]:
    return [
        ("Extractive (offline; quotes a sentence)", "extractive"),
        (f"LLM: {settings.openai_model} at {settings.openai_base_url}", "openai"),
    ]


def build_blocks(engine: Engine, settings: Settings) -> gr.Blocks:
    """The whole page: a chat tab (with settings and examples) and a documents tab."""
    page = ChatPage(engine, settings)
    blocks: gr.Blocks
    # delete_cache: Gradio keeps its own copy of every upload; drop those after an hour.
    with gr.Blocks(title="corpusqa", analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown("## corpusqa\nAsk a question about the indexed documents; every answer cites the passages it comes from.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=240):
                    gr.Markdown("### Settings")
                    backend = gr.Radio(
                        _backend_choices(settings), value=settings.backend, label="Answer backend", elem_id="backend"
                    )
                    top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages to retrieve (top-k)", elem_id="top-k")
                    details = gr.JSON(visible=False, label="Answer")
                with gr.Column(scale=4):
                    gr.ChatInterface(
                        page.ask,
                        chatbot=gr.Chatbot(
                            label="Answers",
                            height="70vh",
                            latex_delimiters=[],
                            buttons=["copy"],
                            placeholder="Ask about the documents, or click an example below.",
                            elem_id="chat",
                        ),
                        textbox=gr.Textbox(placeholder="Ask a question about the documents…", elem_id="question"),
                        additional_inputs=[backend, top_k],
                        additional_outputs=[details],
                        examples=[[question] for question in EXAMPLE_QUESTIONS],
                        api_name="ask",
                        api_description="Answer a question: returns the chat message (HTML) and the answer as JSON.",
                        flagging_mode="never",
                        fill_height=False,
                    )
            search_tab(engine, settings)  # ui/web_search.py (issue #15)
            with gr.Tab("Documents", id="documents-tab") as documents_tab:
                with gr.Row(equal_height=False):
                    with gr.Column():
                        gr.Markdown("### Indexed")
                        status = gr.HTML(label="Index", elem_id="index-status")
                        reingest = gr.Button("Re-ingest the corpus folder", variant="primary", elem_id="reingest")
                    with gr.Column():
                        gr.Markdown(
                            f"### Add documents\nSaved into the corpus folder, then ingested: {', '.join(SUPPORTED_SUFFIXES)}, "
                            f"up to {settings.max_upload_mb:g} MB each; a file of the same name is replaced."
                        )
                        files = gr.File(
                            label="Documents", file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), elem_id="upload"
                        )
                        upload = gr.Button("Add to the corpus and ingest", elem_id="upload-button")
                summary = gr.HTML(label="Summary", elem_id="ingest-summary")
        gr.api(page.status_json, api_name="status")  # type: ignore[attr-defined]
        gr.on([blocks.load, documents_tab.select], page.status, None, status, api_name="show_status", api_visibility="private")
        ingest_options: dict[str, Any] = {"concurrency_id": "ingest", "concurrency_limit": 1, "show_progress_on": summary}
        reingest.click(page.reingest, None, [summary, status], api_name="ingest", **ingest_options)
        upload.click(page.upload, files, [summary, status, files], api_name="upload", **ingest_options)
    return blocks


def mount_page(app: Any, engine: Engine, settings: Settings) -> Any:
    """Mount the page at "/" of a FastAPI app (optionally behind CORPUSQA_UI_AUTH); never a share link."""
    auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
    blocks = build_blocks(engine, settings)
    # Gradio checks that files named in a request were uploaded only once the Blocks "has launched",
    # which mount_gradio_app never sets; without it an API call could pass any server path as a file.
    blocks.has_launched = True
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.ui_host,
        server_port=settings.ui_port,
        auth=auth,
        auth_message="Sign in to corpusqa." if auth else None,
        run_history=False,  # its page offers to sync runs to a Hugging Face bucket: not for an offline tool
        max_file_size=int(settings.max_upload_mb * 1024 * 1024),
        ssr_mode=False,
        mcp_server=False,
        css=CSS + CLAIMS_CSS + SEARCH_CSS,
        theme=gr.themes.Default(),
    )
