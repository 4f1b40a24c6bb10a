"""The routes a citation links to: an indexed PDF as it is, any indexed document as a rendered view.

Both sit behind ui/guard.py like every route (key, Host, Origin). A request names a document by its
indexed name only; rag/sources.py finds the file from the path the index recorded, inside the folder it
was ingested from, and only while it holds the indexed content. Nothing from a document runs: the view
is the indexed text, escaped (Markdown rendered without raw HTML), under a policy that allows no script.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from corpusqa.errors import CorpusQAError, SourceNotFoundError
from rag.engine import Engine
from rag.sources import FILE_ROUTE, MARK_ID, PASSAGE_ID, VIEW_ROUTE, SourceView
from ui.guard import error_response

__all__ = ["render_view", "source_router"]

# No script, no frame, nothing fetched: a document's links may still be followed by a click.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
# Private-use characters stand for the mark's tags while the text is escaped or rendered.
_OPEN, _CLOSE = "\ue000", "\ue001"
# Markdown markers a sentence may start after on its line; the mark opens after them so the line keeps its kind.
_LINE_MARKERS = re.compile(r"[ \t]*(?:#{1,6}|[>*+-]|\d{1,9}[.)])[ \t]+")

_CSS = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 52em; margin: 0 auto; padding: 1em 1.5em 40vh; color: #111; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1em; padding-bottom: .5em; font-size: .9em; color: #444; }
.cqa-text { white-space: pre-wrap; }
.cqa-passage { background: #f3f4f6; outline: 1px solid #d1d5db; border-radius: 4px; }
mark { background: #fde68a; color: #111; }
pre { overflow-x: auto; background: #f8f8f8; padding: .5em; }
"""


def source_router(engine: Engine) -> APIRouter:
    """GET /source/file?doc=NAME (PDF only) and GET /source/view?doc=NAME&chunk=ID&mark=N."""
    router = APIRouter(include_in_schema=False)

    @router.get(FILE_ROUTE)
    async def source_file(doc: str = Query(max_length=4096)) -> Response:
        if not doc.lower().endswith(".pdf"):
            return error_response(
                f"Only PDFs are served as files; open {doc[:200]} at {VIEW_ROUTE}?doc=… instead.", 404, code="not_a_pdf"
            )
        try:
            found = await run_in_threadpool(engine.source_file, doc)
        except CorpusQAError as exc:
            return _refused(exc)
        name = quote(found.path.name)
        headers = {**_HEADERS, "Content-Disposition": f"inline; filename*=UTF-8''{name}"}
        del headers["Content-Security-Policy"]  # the browser's own PDF viewer renders it
        return Response(found.data, media_type="application/pdf", headers=headers)

    @router.get(VIEW_ROUTE)
    async def source_view(
        doc: str = Query(max_length=4096), chunk: str = Query("", max_length=200), mark: int | None = Query(None, ge=0)
    ) -> Response:
        try:
            view = await run_in_threadpool(engine.source_view, doc, chunk, mark)
        except CorpusQAError as exc:
            return _refused(exc)
        return HTMLResponse(render_view(view), headers=_HEADERS)

    return router


def _refused(exc: CorpusQAError) -> Response:
    status = 404 if isinstance(exc, SourceNotFoundError) else 409
    return error_response(str(exc), status, code="source_not_found" if status == 404 else "source_unavailable")


def render_view(view: SourceView) -> str:
    """The whole page: the document with the cited passage outlined and the supporting sentence in <mark>."""
    text = _with_marks(view)
    body = _markdown(text, view) if view.fmt == "markdown" else _plain(text, view)
    body = body.replace(_OPEN, f'<mark id="{MARK_ID}">').replace(_CLOSE, "</mark>")
    where = f" · cited lines {view.start_line}–{view.end_line}" if view.passage else ""
    title = html.escape(view.title or view.source)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body><header><code>{html.escape(view.source)}</code>{where} · read-only copy of the indexed text</header>"
        f'<main id="cqa-document">{body}</main></body></html>'
    )


def _with_marks(view: SourceView) -> str:
    """The text with the sentence's place marked by private-use characters (after a Markdown line marker)."""
    text = view.text.replace(_OPEN, "").replace(_CLOSE, "")
    if view.mark is None:
        return text
    start, end = view.mark
    line_start = text.rfind("\n", 0, start) + 1
    marker = _LINE_MARKERS.match(text, line_start) if view.fmt == "markdown" else None
    if marker is not None and marker.end() > start:
        start = min(marker.end(), end)
    return text[:start] + _OPEN + text[start:end] + _CLOSE + text[end:]


def _shift(view: SourceView, offset: int) -> int:
    """An offset of the original text in the marked text (two characters were added)."""
    if view.mark is None:
        return offset
    return offset + (offset > view.mark[0]) + (offset >= view.mark[1])


def _plain(text: str, view: SourceView) -> str:
    """Text, HTML's main text, DOCX and PDF text: the lines as they were indexed, the passage wrapped."""
    if view.passage is None:
        return f'<div class="cqa-text">{html.escape(text)}</div>'
    start, end = _shift(view, view.passage[0]), _shift(view, view.passage[1])
    before, passage, after = text[:start], text[start:end], text[end:]
    return (
        f'<div class="cqa-text">{html.escape(before)}<span class="cqa-passage" id="{PASSAGE_ID}">'
        f"{html.escape(passage)}</span>{html.escape(after)}</div>"
    )


def _markdown(text: str, view: SourceView) -> str:
    """Markdown rendered (raw HTML escaped); the blocks of the cited lines get the passage's class."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    first = True
    for token in tokens:
        if view.passage is None or token.map is None or token.nesting != 1 or token.level != 0:
            continue
        lines = range(token.map[0] + 1, token.map[1] + 1)  # 1-based lines the block covers
        if lines.start <= view.end_line and view.start_line <= lines.stop - 1:
            token.attrJoin("class", "cqa-passage")
            if first:
                token.attrSet("id", PASSAGE_ID)
                first = False
    rendered: Any = md.renderer.render(tokens, md.options, {})
    return str(rendered)
