"""The chat page's HTML: answers with linked citations, sources, tables and timings, and chat history read
back from it. Every value from a document or a user is HTML-escaped here (ui/web.py builds the page)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from corpusqa.types import Answer, Citation, ScoredChunk, TableRows, kind_label
from rag.conversation import Turn
from rag.sources import citation_url
from ui.claims_html import claims_html, mark_unsupported_html
from ui.render import table_rows_label
from ui.web_search import split_at_sentence

__all__ = [
    "answer_details",
    "escape_html",
    "highlight_passage",
    "render_answer",
    "render_error",
    "render_partial",
    "table_html",
    "turns_from_chat",
]

_CLOSEST = 3  # passages shown when the answer abstains
_CITATION = re.compile(r"\[(\d{1,2})\]")
_ANSWER_DIV = re.compile(r'<div class="cqa-(?:answer|abstain)">(.*?)</div>', re.DOTALL)
_STANDALONE = re.compile(r'<span class="cqa-standalone">(.*?)</span>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


# ---- formatting: every value from a document or a user is HTML-escaped ---------------------------


def escape_html(text: str) -> str:
    """`text` escaped for HTML, quotes included."""
    return html.escape(text, quote=True)


def _flat(text: str) -> str:
    """One line (a blank line would end the HTML block in the chat's Markdown); paragraphs become <br>."""
    return "<br>".join(" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip())


def highlight_passage(text: str, sentence: str) -> str:
    """The passage as HTML with the supporting sentence in <mark> (matched ignoring whitespace)."""
    parts = split_at_sentence(text, sentence)
    if parts is None:
        return _flat(escape_html(text))
    before, found, after = parts
    return _flat(f"{escape_html(before)}<mark>{escape_html(found)}</mark>{escape_html(after)}")


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
        where += f" · {escape_html(table_rows_label(table))}"
    if ocr is not None:
        label += f" · OCR, {ocr:.0f}% confidence"
    # the server's read-only copy of the source, opened at the page or at the passage (ui/sources.py)
    opener = (
        f' · <a class="cqa-open" href="{escape_html(url)}" target="_blank" rel="noopener noreferrer">open the source</a>'
        if url else ""
    )
    body = (
        table_html(table, text, mark)
        if table is not None
        else f'<blockquote class="cqa-passage">{highlight_passage(text, mark)}</blockquote>'
    )
    return (
        f'<div class="cqa-source" id="{anchor}-{number}">'
        f'<div class="cqa-source-head">[{number}] {escape_html(title or source)}</div>'
        f'<div class="cqa-meta"><code>{escape_html(source)}</code> · {where} · {escape_html(label)}{opener}</div>'
        f"{body}</div>"
    )


def table_html(table: TableRows, text: str, sentence: str) -> str:
    """A passage of table rows as an HTML table under its headers; the row holding `sentence` is marked."""
    lines = text.split("\n")
    marked = next((index for index, line in enumerate(lines) if sentence and sentence.strip() in line), None)
    width = max([len(table.columns), *(len(row) for row in table.cells)])
    head = (
        "<thead><tr>" + "".join(f"<th>{escape_html(cell)}</th>" for cell in table.columns) + "</tr></thead>"
        if table.columns
        else ""
    )
    rows = []
    for index, cells in enumerate(table.cells):
        padded = list(cells) + [""] * (width - len(cells))
        mark = ' class="cqa-row-mark"' if index == marked else ""
        rows.append(f"<tr{mark}>" + "".join(f"<td>{escape_html(cell)}</td>" for cell in padded) + "</tr>")
    return f'<table class="cqa-passage cqa-table">{head}<tbody>{"".join(rows)}</tbody></table>'


def _sources_html(
    anchor: str, heading: str, items: Sequence[tuple[int, Citation | ScoredChunk]], extra_class: str = ""
) -> str:
    body = "".join(_source_html(anchor, number, item) for number, item in items)
    return f'<details class="cqa-sources{extra_class}" open><summary>{escape_html(heading)}</summary>{body}</details>'


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
    return f'<div class="cqa-answer">{escape_html(text)}</div>'


def render_answer(answer: Answer, anchor: str) -> str:
    """The finished answer: text with linked [n] markers, its sources (or closest passages), timings."""
    text = _flat(escape_html(answer.answer))
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
        searched = f'<div class="cqa-searched">Searched for: <span class="cqa-standalone">{escape_html(answer.standalone_question)}</span></div>'
    t = answer.timings
    timings = (
        f'<div class="cqa-timings">{_ms(answer.seconds)} in all: embedding {_ms(t.embedding)} · '
        f"retrieval {_ms(t.retrieval)} · answering {_ms(t.answering)} ({escape_html(answer.backend)})</div>"
    )
    return head + searched + claims_html(answer) + sources + timings


def render_error(exc: Exception) -> str:
    """One readable message in the chat."""
    return f'<div class="cqa-error"><strong>Could not answer:</strong> {escape_html(str(exc))}</div>'


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
