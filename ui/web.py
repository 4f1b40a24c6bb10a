"""The chat page: Gradio Blocks over one Engine (cited answers, sources, settings, a documents tab)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from corpusqa.settings import Settings
from rag.engine import Engine
from ui.claims_html import CLAIMS_CSS

enforce_offline()  # before gradio is imported: it reads GRADIO_ANALYTICS_ENABLED at import

import gradio as gr
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ui.guard import PageLogins, http_error, login_matches
from ui.web_documents import DocumentsTab
from ui.web_render import (
    answer_details,
    escape_html,
    highlight_passage,
    render_answer,
    render_error,
    render_partial,
    table_html,
    turns_from_chat,
)
from ui.web_search import SEARCH_CSS, search_tab

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
_CHANGED_EVERY_S = 5  # how often the page looks at when the index last changed
_LOG = logging.getLogger(__name__)

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
        return f'<p class="cqa-changed">Index last changed <time datetime="{escape_html(when)}">{escape_html(shown)}</time></p>'

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
