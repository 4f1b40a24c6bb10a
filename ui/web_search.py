"""The page's Search tab: passages that match a query, each with its best sentence highlighted (issue #15)."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from corpusqa.settings import Settings
from corpusqa.types import Citation, SearchResult, kind_label
from rag.engine import Engine

enforce_offline()  # before gradio is imported: it reads GRADIO_ANALYTICS_ENABLED at import

import gradio as gr

__all__ = ["SEARCH_CSS", "SearchPanel", "render_hits", "search_tab", "split_at_sentence"]

_LOG = logging.getLogger(__name__)

SEARCH_CSS = """
#search-results .cqa-hit { margin: .6em 0; padding: .5em .75em; border-radius: 6px; background: var(--background-fill-secondary); }
#search-results .cqa-hit-head { font-weight: 600; }
#search-results .cqa-meta { font-size: .85em; opacity: .8; }
#search-results .cqa-highlight { margin: .4em 0; font-weight: 500; }
#search-results .cqa-passage { margin: .3em 0 0 0; font-size: .92em; opacity: .85; }
#search-results .cqa-passage mark, #search-results .cqa-highlight mark { background: #fde68a; color: #111; padding: 0 .1em; }
#search-results .cqa-timings { font-size: .8em; opacity: .75; }
#search-results .cqa-error { padding: .5em .75em; border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08); }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def split_at_sentence(text: str, sentence: str) -> tuple[str, str, str] | None:
    """(before, the sentence as it stands in `text`, after), matched ignoring whitespace; None when absent."""
    words = sentence.split()
    match = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    if match is None:
        return None
    return text[: match.start()], text[match.start() : match.end()], text[match.end() :]


def _marked(text: str, sentence: str) -> str:
    """The passage as HTML, the sentence in <mark> (matched ignoring whitespace); every value escaped."""
    parts = split_at_sentence(text, sentence)
    if parts is None:
        return _esc(" ".join(text.split()))
    before, found, after = parts
    return f"{_esc(' '.join(before.split()))} <mark>{_esc(' '.join(found.split()))}</mark> {_esc(' '.join(after.split()))}"


def _hit(hit: Citation) -> str:
    kind = kind_label(hit.kind)
    lines = f"line {hit.start_line}" if hit.start_line == hit.end_line else f"lines {hit.start_line}–{hit.end_line}"
    highlight = f'<div class="cqa-highlight"><mark>{_esc(hit.highlight)}</mark></div>' if hit.highlight else ""
    return (
        f'<div class="cqa-hit" id="search-hit-{hit.id}">'
        f'<div class="cqa-hit-head">[{hit.id}] {_esc(hit.title or hit.source)}</div>'
        f'<div class="cqa-meta"><code>{_esc(hit.source)}</code> · {lines} · {_esc(kind)} · score {hit.score:.4f}'
        f' · <a class="cqa-open" href="{_esc(hit.url)}" target="_blank" rel="noopener noreferrer">open the source</a></div>'
        f"{highlight}"
        f'<details class="cqa-passage"><summary>Whole passage</summary>{_marked(hit.text, hit.highlight)}</details>'
        "</div>"
    )


def render_hits(result: SearchResult) -> str:
    """The search results as HTML: one card per passage, its best sentence first, the passage folded."""
    if not result.results:
        return "<p>No passages found.</p>"
    cards = "".join(_hit(hit) for hit in result.results)
    count = len(result.results)
    timing = f'<div class="cqa-timings">{count} passage{"s" if count != 1 else ""} in {result.seconds * 1000:.0f} ms</div>'
    return cards + timing


class SearchPanel:
    """The tab's handler: read inputs, call Engine.search, format. Testable without a browser."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def search(self, query: str, top_k: float) -> tuple[str, dict[str, Any]]:
        """The results as HTML, and as the JSON of `corpusqa search --json` (or {"error": ...})."""
        try:
            result = self.engine.search(query, int(top_k))
        except CorpusQAError as exc:
            return f'<div class="cqa-error"><strong>Could not search:</strong> {_esc(str(exc))}</div>', {"error": str(exc)}
        except Exception as exc:
            if self.settings.debug:
                raise
            _LOG.exception("Unexpected error while searching %r", query)
            message = f"Unexpected error ({exc.__class__.__name__}); see the server log."
            return f'<div class="cqa-error"><strong>Could not search:</strong> {_esc(message)}</div>', {"error": message}
        return render_hits(result), result.to_json()


def search_tab(engine: Engine, settings: Settings) -> None:
    """Add the Search tab; call inside the page's `gr.Tabs()`."""
    panel = SearchPanel(engine, settings)
    with gr.Tab("Search", id="search-tab"):
        gr.Markdown("Find the passages that best match a question or keywords; each shows its best sentence.")
        with gr.Row(equal_height=True):
            query = gr.Textbox(
                placeholder="Search the documents…", show_label=False, scale=5, elem_id="search-query", max_lines=1
            )
            top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages", scale=1, elem_id="search-top-k")
            button = gr.Button("Search", variant="primary", scale=0, elem_id="search-button")
        results = gr.HTML(elem_id="search-results")
        details = gr.JSON(visible=False, label="Results")
        gr.on([query.submit, button.click], panel.search, [query, top_k], [results, details], api_name="search")
