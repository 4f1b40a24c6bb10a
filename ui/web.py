"""The chat page: Gradio Blocks over one Engine (cited answers, sources, settings, a documents tab)."""

from __future__ import annotations

import functools
import html
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from corpusqa.settings import Settings
from corpusqa.types import Answer, Citation, ScoredChunk, TableRows, kind_label
from rag.conversation import Turn
from rag.engine import Engine
from rag.sources import citation_url
from ui.claims_html import CLAIMS_CSS, claims_html, mark_unsupported_html
from ui.render import table_rows_label

enforce_offline()  # before gradio is imported: it reads GRADIO_ANALYTICS_ENABLED at import

import gradio as gr
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ui.guard import PageLogins, http_error, login_matches
from ui.web_documents import DocumentsTab
from ui.web_search import SEARCH_CSS, search_tab, split_at_sentence

__all__ = [
    "EXAMPLE_QUESTIONS",
    "ChatPage",
    "answer_details",
    "build_blocks",
    "highlight_passage",
    "mount_page",
    "render_answer",
    "render_error",
    "render_partial",
    "table_html",
    "turns_from_chat",
]

#: Shown as clickable cards in the empty chat: the project's own example, a question the bundled file
#: answers, and one it does not (the answer abstains). None but the first is in an eval question set.
EXAMPLE_QUESTIONS = [
    "How many Taliban prisoners were held in total?",
    "Where was the peace plan signed?",
    "Who painted the Mona Lisa?",
]
_CLOSEST = 3  # passages shown when the answer abstains
_CHANGED_EVERY_S = 5  # how often the page looks at when the index last changed
_LOG = logging.getLogger(__name__)
_CITATION = re.compile(r"\[(\d{1,2})\]")

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
#chat table.cqa-table { border-collapse: collapse; font-size: .88em; }
#chat table.cqa-table th, #chat table.cqa-table td { border: 1px solid var(--border-color-primary); padding: .15em .4em; text-align: left; vertical-align: top; }
#chat table.cqa-table tr.cqa-row-mark td { background: #fde68a; color: #111; }
#chat .cqa-abstain { padding: .5em .75em; border-left: 4px solid #d97706; background: rgba(217, 119, 6, .08); }
.cqa-error { padding: .5em .75em; border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08); }
.cqa-changed { font-size: .85em; opacity: .8; }
#chat .cqa-timings { margin-top: .5em; font-size: .8em; opacity: .75; }
#chat .cqa-searched { margin-top: .4em; font-size: .85em; opacity: .8; font-style: italic; }
"""
_ANSWER_DIV = re.compile(r'<div class="cqa-(?:answer|abstain)">(.*?)</div>', re.DOTALL)
_STANDALONE = re.compile(r'<span class="cqa-standalone">(.*?)</span>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


# ---- formatting: every value from a document or a user is HTML-escaped ---------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _flat(text: str) -> str:
    """One line (a blank line would end the HTML block in the chat's Markdown); paragraphs become <br>."""
    return "<br>".join(" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip())


def highlight_passage(text: str, sentence: str) -> str:
    """The passage as HTML with the supporting sentence in <mark> (matched ignoring whitespace)."""
    parts = split_at_sentence(text, sentence)
    if parts is None:
        return _flat(_esc(text))
    before, found, after = parts
    return _flat(f"{_esc(before)}<mark>{_esc(found)}</mark>{_esc(after)}")


def _lines(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


def _source_html(anchor: str, number: int, item: Citation | ScoredChunk) -> str:
    if isinstance(item, Citation):
        source, title, kind, start, end, text, mark = (
            item.source, item.title, item.kind, item.start_line, item.end_line, item.text, item.highlight
        )
        page, table, ocr, url = item.page, item.table, item.ocr_confidence, item.url
    else:
        chunk = item.chunk
        source, title, kind, start, end, text, mark = (
            chunk.source, chunk.title, chunk.kind, chunk.start_line, chunk.end_line, chunk.text, ""
        )
        page, table, ocr, url = chunk.page, chunk.table, chunk.ocr_confidence, citation_url(chunk, "")
    label = kind_label(kind)
    where = f"page {page} · {_lines(start, end)}" if page else _lines(start, end)
    if table is not None:
        where += f" · {_esc(table_rows_label(table))}"
    if ocr is not None:
        label += f" · OCR, {ocr:.0f}% confidence"
    # the server's read-only copy of the source, opened at the page or at the passage (ui/sources.py)
    opener = (
        f' · <a class="cqa-open" href="{_esc(url)}" target="_blank" rel="noopener noreferrer">open the source</a>'
        if url else ""
    )
    body = (
        table_html(table, text, mark)
        if table is not None
        else f'<blockquote class="cqa-passage">{highlight_passage(text, mark)}</blockquote>'
    )
    return (
        f'<div class="cqa-source" id="{anchor}-{number}">'
        f'<div class="cqa-source-head">[{number}] {_esc(title or source)}</div>'
        f'<div class="cqa-meta"><code>{_esc(source)}</code> · {where} · {_esc(label)}{opener}</div>'
        f"{body}</div>"
    )


def table_html(table: TableRows, text: str, sentence: str) -> str:
    """A passage of table rows as an HTML table under its headers; the row holding `sentence` is marked."""
    lines = text.split("\n")
    marked = next((index for index, line in enumerate(lines) if sentence and sentence.strip() in line), None)
    width = max([len(table.columns), *(len(row) for row in table.cells)])
    head = (
        "<thead><tr>" + "".join(f"<th>{_esc(cell)}</th>" for cell in table.columns) + "</tr></thead>"
        if table.columns
        else ""
    )
    rows = []
    for index, cells in enumerate(table.cells):
        padded = list(cells) + [""] * (width - len(cells))
        mark = ' class="cqa-row-mark"' if index == marked else ""
        rows.append(f"<tr{mark}>" + "".join(f"<td>{_esc(cell)}</td>" for cell in padded) + "</tr>")
    return f'<table class="cqa-passage cqa-table">{head}<tbody>{"".join(rows)}</tbody></table>'


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
    searched = ""
    if answer.standalone_question and answer.standalone_question != answer.question:
        searched = f'<div class="cqa-searched">Searched for: <span class="cqa-standalone">{_esc(answer.standalone_question)}</span></div>'
    t = answer.timings
    timings = (
        f'<div class="cqa-timings">{_ms(answer.seconds)} in all: embedding {_ms(t.embedding)} · '
        f"retrieval {_ms(t.retrieval)} · answering {_ms(t.answering)} ({_esc(answer.backend)})</div>"
    )
    return head + searched + claims_html(answer) + sources + timings


def render_error(exc: Exception) -> str:
    """One readable message in the chat."""
    return f'<div class="cqa-error"><strong>Could not answer:</strong> {_esc(str(exc))}</div>'


def answer_details(answer: Answer) -> dict[str, Any]:
    """What the API (`/ask`) returns beside the chat message: the CLI's JSON plus timings."""
    t = answer.timings
    timings = {"embedding": round(t.embedding, 4), "retrieval": round(t.retrieval, 4), "answering": round(t.answering, 4)}
    return {**answer.to_json(), "timings": timings}


def _plain(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment.replace("<br>", "\n"))).split())


def _message_text(content: Any) -> str:
    """A chat message's text: a string, or Gradio's list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(_message_text(part) for part in content)
    return ""


def turns_from_chat(history: Sequence[Any]) -> list[Turn]:
    """The conversation so far, read from the chat's messages: each question with the answer shown under it
    (and the question it was searched as, from its "Searched for" line)."""
    turns: list[Turn] = []
    for message in history:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        content = _message_text(message.get("content") if isinstance(message, dict) else getattr(message, "content", ""))
        if role == "user" and content.strip():
            turns.append(Turn(question=" ".join(content.split())))
        elif role == "assistant" and turns and not turns[-1].answer:
            shown = _ANSWER_DIV.search(content)
            searched = _STANDALONE.search(content)
            answer = _plain(shown.group(1)) if shown else _plain(content)
            standalone = _plain(searched.group(1)) if searched else ""
            turns[-1] = Turn(question=turns[-1].question, answer=answer, standalone=standalone)
    return [turn for turn in turns if turn.answer]


# ---- the page ------------------------------------------------------------------------------------


class ChatPage(DocumentsTab):
    """The page's event handlers (the chat here, the documents tab inherited): testable without a browser."""

    def ask(self, message: str, history: list[Any], backend: str, top_k: float) -> Iterator[tuple[str, Any]]:
        """Stream the answer into the chat; the second value is the answer as JSON, for API callers.

        The chat's earlier messages are the conversation: a follow-up is searched as a standalone question.
        """
        anchor = f"cqa-{uuid.uuid4().hex[:8]}"
        text = ""
        try:
            turns = turns_from_chat(history)
            for event in self.engine.stream(message, backend=backend, top_k=int(top_k), history=turns):
                if isinstance(event, str):
                    text += event
                    yield render_partial(text), gr.skip()
                else:
                    yield render_answer(event, anchor), answer_details(event)
        except CorpusQAError as exc:
            yield render_error(exc), {"error": str(exc)}
        except Exception as exc:
            if self.settings.debug:
                raise
            # The browser gets the kind of error only; its text (paths, internals) goes to the server log.
            _LOG.exception("Unexpected error while answering %r", message)
            hidden = f"Unexpected error ({exc.__class__.__name__}); see the server log for details."
            yield render_error(RuntimeError(hidden)), {"error": hidden}

    def index_changed(self) -> str:
        """When the index last changed (a watched folder changes it without anyone pressing a button)."""
        when = self.engine.last_changed()
        if when is None:
            return '<p class="cqa-changed">No index yet.</p>'
        shown = when.replace("T", " ").replace("+00:00", " UTC")
        return f'<p class="cqa-changed">Index last changed <time datetime="{_esc(when)}">{_esc(shown)}</time></p>'

    def ask_api(self, message: str | None, backend: str, top_k: float) -> tuple[str, dict[str, Any]]:
        """Answer a question: returns the chat message (HTML) and the answer as JSON."""
        # The page's `/ask` endpoint. ChatInterface's own one appends the message to a history itself and
        # fails on a null message with its internal error text; here null is the empty question.
        html, details = "", {}
        for html, value in self.ask(message or "", [], backend, top_k):
            details = value if isinstance(value, dict) else details
        return html, details


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
                    new_conversation = gr.Button("New conversation", variant="secondary", elem_id="new-conversation")
                    gr.Markdown("### Settings")
                    backend = gr.Radio(
                        _backend_choices(settings), value=settings.backend, label="Answer backend", elem_id="backend"
                    )
                    top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages to retrieve (top-k)", elem_id="top-k")
                    details = gr.JSON(visible=False, label="Answer")
                    changed = gr.HTML(elem_id="index-changed")
                with gr.Column(scale=4):
                    chat = gr.ChatInterface(
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
                        api_name="chat",
                        api_visibility="private",  # API callers use /ask (ChatPage.ask_api)
                        flagging_mode="never",
                        fill_height=False,
                    )
            # The chat's messages are the conversation (ChatPage.ask reads them): clearing them starts a new one.
            new_conversation.click(
                lambda: ([], [], None), None, [chat.chatbot, chat.chatbot_state, details],
                queue=False, api_visibility="undocumented",
            )
            search_tab(engine, settings)  # ui/web_search.py (issue #15)
            documents = page.build(settings)
        page.connect(blocks, documents)
        # a watched folder (`corpusqa ui --watch`) changes the index behind the page: look every few seconds
        gr.on([blocks.load, gr.Timer(_CHANGED_EVERY_S).tick], page.index_changed, None, changed,
              api_name="index_changed", api_visibility="private", queue=False)
        gr.api(page.ask_api, api_name="ask")  # type: ignore[attr-defined]
    return blocks


def mount_page(app: Any, engine: Engine, settings: Settings) -> Any:
    """Mount the page at "/" of the API's FastAPI app, behind a login when a password or key is set."""
    auth = _login_check(settings)
    blocks = build_blocks(engine, settings)
    # Gradio checks that files named in a request were uploaded only once the Blocks "has launched",
    # which mount_gradio_app never sets; without it an API call could pass any server path as a file.
    blocks.has_launched = True
    app = gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.ui_host,
        server_port=settings.ui_port,
        auth=auth,
        auth_message=_login_message(settings) if auth else None,
        run_history=False,  # its page offers to sync runs to a Hugging Face bucket: not for an offline tool
        max_file_size=int(settings.max_upload_mb * 1024 * 1024),
        ssr_mode=False,
        mcp_server=False,
        # Only gr.Error's sentences reach the browser; other exceptions' text stays in the server log.
        show_error=False,
        css=CSS + CLAIMS_CSS + SEARCH_CSS,
        theme=gr.themes.Default(),
    )
    gradio_app: Any = next(route.app for route in app.routes if isinstance(route, Mount) and hasattr(route.app, "tokens"))
    gradio_app.add_exception_handler(StarletteHTTPException, functools.partial(_http_error, app))
    logins = getattr(app.state, "page_logins", None)
    if isinstance(logins, PageLogins):
        logins.attach(gradio_app)  # the API's guard now knows the page's logins, and the key works on the page
    return app


def _login_check(settings: Settings) -> Callable[[str, str], bool] | None:
    """Gradio's login: CORPUSQA_UI_AUTH's user and password, or any user name with CORPUSQA_API_KEY."""
    if not settings.ui_auth and not settings.api_key:
        return None

    def check(username: str, password: str) -> bool:
        return login_matches(username, password, settings.ui_auth, settings.api_key)

    return check


def _login_message(settings: Settings) -> str:
    key = " With the API key: any user name, and the key as the password." if settings.api_key else ""
    return f"Sign in to corpusqa.{key}"


async def _http_error(parent: Any, request: Any, exc: Exception) -> Any:
    """Gradio's 404 and 405 in the API's error shape; its other errors (login, uploads) as Gradio sends them."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        # The page at "/" catches every path, so an API route called with the wrong method lands here.
        probe = {"type": "http", "path": request.url.path, "method": request.method}
        if any(route.matches(probe)[0] is Match.PARTIAL for route in parent.routes if not isinstance(route, Mount)):
            exc = StarletteHTTPException(405)
    if exc.status_code in (404, 405):
        return await http_error(request, exc)
    return await http_exception_handler(request, exc)
