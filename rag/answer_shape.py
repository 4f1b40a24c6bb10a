"""How an answer is shown: the extractive reader's result as an Answer, and a passage as a Citation."""

from __future__ import annotations

from corpusqa.types import Answer, Citation, ScoredChunk
from rag.extractive import ABSTAIN_TEXT, ExtractiveResult
from rag.sources import citation_url

__all__ = ["citation", "extractive_answer", "quoted"]


def extractive_answer(question: str, result: ExtractiveResult, retrieved: list[ScoredChunk]) -> Answer:
    """The Answer shown for the extractive reader's `result`: its short answer and quoted sentence, or an abstention."""
    if result.best is None or result.abstained:
        return Answer(
            question, ABSTAIN_TEXT, True, "extractive", 0.0, [], retrieved=retrieved,
            confidence=result.confidence, band="abstain",
        )
    scored = retrieved[result.best.chunk_index]
    cited = citation(1, scored, result.best.answer_text)
    sentence = " ".join(result.best.answer_text.split())  # a wrapped line's break is not part of the answer
    short = " ".join(result.short_answer.split()) if result.short_answer else None
    text = f"{short} — {quoted(sentence)} [1]" if short else f"{sentence} [1]"
    if result.band == "possibly":
        text = f"Possibly: {text}"
    return Answer(
        question,
        text,
        False,
        "extractive",
        0.0,
        [cited],
        retrieved=retrieved,
        confidence=result.confidence,
        short_answer=short,
        band=result.band,
    )


def quoted(sentence: str) -> str:
    """The sentence in quotation marks, without doubling the marks it already opens or closes with."""
    inner = sentence.strip().strip('“”"')
    return f"“{inner}”"


def citation(number: int, scored: ScoredChunk, highlight: str) -> Citation:
    chunk = scored.chunk
    return Citation(
        id=number,
        source=chunk.source,
        title=chunk.title,
        kind=chunk.kind,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        text=chunk.text,
        score=scored.score,
        chunk_id=chunk.id,
        highlight=highlight,
        page=chunk.page,
        url=citation_url(chunk, highlight),
        table=chunk.table,
        ocr_confidence=chunk.ocr_confidence,
    )
