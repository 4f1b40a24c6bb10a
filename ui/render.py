"""Plain-text rendering shared by the CLI: answers with citations, ingest summaries, index status."""

from __future__ import annotations

import textwrap

from corpusqa.types import Answer, Citation, Claim, IndexStatus, ScoredChunk, TableRows, kind_label

__all__ = ["claim_source", "mark_sentence", "render_answer", "render_claims", "render_status", "table_rows_label"]


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
    label = kind_label(kind)
    where = f"page {page}, lines {start}-{end}" if page else f"lines {start}-{end}"
    if table is not None:
        where += f", {table_rows_label(table)}"
    if ocr is not None:
        label += f", OCR {ocr:.0f}% confidence"
    head = f"[{number}] {source}, {where} ({label}): {title}"
    body = " ".join(mark_sentence(text, highlight).split())
    return [head, *textwrap.wrap(body, width=100, initial_indent="    ", subsequent_indent="    ")]


def claim_source(claim: Claim) -> str:
    """Where a re-cited claim was found: "cited [3]; found in [2]" (or "no citation; found in [2]")."""
    cited = "".join(f"[{number}]" for number in claim.citations)
    return f"{'cited ' + cited if cited else 'no citation'}; found in [{claim.evidence_id}]"


def render_claims(answer: Answer, *, streamed: bool = False) -> list[str]:
    """Lines that give each checked claim of an LLM answer its verdict (none for the extractive backend)."""
    if not answer.claims:
        return []
    lines = ["Claims checked against the passages they cite:"]
    for claim in answer.claims:
        verdict = "supported" if claim.supported else f"NOT supported: {claim.reason}"
        if claim.recited:
            verdict = f"supported; {claim_source(claim)}"
        if claim.supported and claim.answers_question is False:
            verdict += "; does not hold what the question asks for"
        lines.extend(textwrap.wrap(f"[{verdict}] {claim.text}", width=100, initial_indent="  ", subsequent_indent="    "))
    if answer.model_answer and not streamed and answer.abstained:
        lines.append("The model's answer, which the documents do not support:")
        lines.extend(textwrap.wrap(answer.model_answer, width=100, initial_indent="    ", subsequent_indent="    "))
    return [*lines, ""]


def render_answer(answer: Answer, *, streamed: bool = False) -> str:
    """The answer, its checked claims, then its citations (or, when abstaining, the closest passages).

    `streamed`: the model's text was already shown as it came, so it is not repeated.
    """
    lines = [answer.answer, ""]
    if answer.standalone_question and answer.standalone_question != answer.question:
        lines += [f"Searched for: {answer.standalone_question}", ""]
    lines += render_claims(answer, streamed=streamed)
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
    if status.read_only:
        lines.append("Read-only: questions are answered; an ingest needs a writable --index-dir.")
    if status.search_fallback:
        lines.append(
            f"Warning: questions use Chroma's approximate search ({status.search_fallback}); "
            "re-ingest into a fresh --index-dir to repair the sentence vectors."
        )
    for doc in status.documents:
        lines.append(f"  {doc.source}  {doc.chunks} chunks  sha256:{doc.hash[:12]}")
    return "\n".join(lines)
