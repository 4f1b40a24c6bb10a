"""Plain-text rendering shared by the CLI: answers with citations, ingest summaries, index status."""

from __future__ import annotations

import textwrap

from corpusqa.types import Answer, Citation, IndexStatus, ScoredChunk, TableRows

__all__ = ["mark_sentence", "render_answer", "render_claims", "render_status", "table_rows_label"]


def table_rows_label(table: TableRows) -> str:
    """Where a passage of table rows sits: 'table "Limits", rows 3-7'."""
    rows = f"row {table.first_row}" if table.first_row == table.last_row else f"rows {table.first_row}-{table.last_row}"
    return f'table "{table.name}", {rows}'


def mark_sentence(text: str, sentence: str, left: str = "»", right: str = "«") -> str:
    """The passage with the supporting sentence wrapped in markers (unchanged when absent)."""
    if sentence and sentence in text:
        return text.replace(sentence, f"{left}{sentence}{right}", 1)
    return text


def _passage_lines(citation: Citation | ScoredChunk, number: int) -> list[str]:
    if isinstance(citation, Citation):
        source, title, kind = citation.source, citation.title, citation.kind
        start, end, text, highlight = citation.start_line, citation.end_line, citation.text, citation.highlight
        page, table, ocr = citation.page, citation.table, citation.ocr_confidence
    else:
        chunk = citation.chunk
        source, title, kind = chunk.source, chunk.title, chunk.kind
        start, end, text, highlight = chunk.start_line, chunk.end_line, chunk.text, ""
        page, table, ocr = chunk.page, chunk.table, chunk.ocr_confidence
    kind_label = "reader comment" if kind == "comment" else kind
    where = f"page {page}, lines {start}-{end}" if page else f"lines {start}-{end}"
    if table is not None:
        where += f", {table_rows_label(table)}"
    if ocr is not None:
        kind_label += f", OCR {ocr:.0f}% confidence"
    head = f"[{number}] {source}, {where} ({kind_label}): {title}"
    body = " ".join(mark_sentence(text, highlight).split())
    return [head, *textwrap.wrap(body, width=100, initial_indent="    ", subsequent_indent="    ")]


def render_claims(answer: Answer, *, streamed: bool = False) -> list[str]:
    """Lines that give each checked claim of an LLM answer its verdict (none for the extractive backend)."""
    if not answer.claims:
        return []
    lines = ["Claims checked against the passages they cite:"]
    for claim in answer.claims:
        verdict = "supported" if claim.supported else f"NOT supported: {claim.reason}"
        lines.extend(textwrap.wrap(f"[{verdict}] {claim.text}", width=100, initial_indent="  ", subsequent_indent="    "))
    if answer.model_answer and not streamed:
        lines.append("The model's answer, which the documents do not support:")
        lines.extend(textwrap.wrap(answer.model_answer, width=100, initial_indent="    ", subsequent_indent="    "))
    return [*lines, ""]


def render_answer(answer: Answer, *, streamed: bool = False) -> str:
    """The answer, its checked claims, then its citations (or, when abstaining, the closest passages).

    `streamed`: the model's text was already shown as it came, so it is not repeated.
    """
    lines = [answer.answer, "", *render_claims(answer, streamed=streamed)]
    if answer.citations:
        lines.append("Sources:")
        for citation in answer.citations:
            lines.extend(_passage_lines(citation, citation.id))
    elif answer.retrieved:
        lines.append("Closest passages (they do not answer the question):")
        for number, scored in enumerate(answer.retrieved[:3], start=1):
            lines.extend(_passage_lines(scored, number))
    t = answer.timings
    lines.append("")
    sure = f", confidence {answer.confidence:.2f} ({answer.band})" if answer.backend == "extractive" else ""
    lines.append(
        f"({answer.backend}{sure}, {answer.seconds * 1000:.0f} ms: embedding {t.embedding * 1000:.0f} ms, "
        f"retrieval {t.retrieval * 1000:.0f} ms, answering {t.answering * 1000:.0f} ms)"
    )
    return "\n".join(lines)


def render_status(status: IndexStatus) -> str:
    """Human-readable index status."""
    lines = [
        f"Index: {status.location}",
        f"Embedding model: {status.embedding_model} (chunks of ~{status.chunk_tokens} tokens)",
        f"Documents: {len(status.documents)}, chunks: {status.chunks}, generation {status.generation}",
        f"Last ingest: {status.last_ingest or 'never'}",
    ]
    for doc in status.documents:
        lines.append(f"  {doc.source}  {doc.chunks} chunks  sha256:{doc.hash[:12]}")
    return "\n".join(lines)
