"""The offline answerer: the reader's steps in order, from a question and its retrieved passages to an answer.

Every sentence of the retrieved passages gets features (rag.reader.sentences); a fitted logistic ranker
picks the best sentence (rag.reader.ranking); a second fitted model turns its features into a
confidence, which falls in a band: answer, possibly, abstain (rag.reader.confidence); the short answer
is a span of it (rag.reader.span). See docs/architecture.md and evals/fit.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from corpusqa.types import ScoredChunk
from rag.reader.confidence import band_of, confidence_row
from rag.reader.fitted import Fitted
from rag.reader.question import QuestionAnalysis
from rag.reader.ranking import rank
from rag.reader.sentences import Candidate, candidates
from rag.reader.span import short_span

__all__ = ["ABSTAIN_TEXT", "ExtractiveResult", "answer_extractively"]

ABSTAIN_TEXT = "The documents do not say. The closest passages I found are listed below."


@dataclass(frozen=True)
class ExtractiveResult:
    """The chosen sentence (None when nothing was retrieved), its short answer, confidence and band."""

    best: Candidate | None
    short_answer: str | None
    confidence: float
    band: str
    ranked: list[Candidate]

    @property
    def abstained(self) -> bool:
        """Whether the answer falls in the abstain band."""
        return self.band == "abstain"


def answer_extractively(
    question: str | QuestionAnalysis,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    fitted: Fitted,
    bands: object | None = None,
) -> ExtractiveResult:
    """Choose the answer sentence and its short answer, with a confidence and its band."""
    analysis, found = candidates(question, vector, retrieved, sentence_vectors, idf)
    if not found:
        return ExtractiveResult(None, None, 0.0, "abstain", [])
    ranked = rank(found, fitted)
    confidence = fitted.confidence.probability(confidence_row(analysis, ranked))
    band = band_of(confidence, bands if bands is not None else fitted.bands)  # type: ignore[arg-type]
    best = ranked[0]
    return ExtractiveResult(best, short_span(best.answer_text, list(best.answer_spans), analysis), confidence, band, ranked)
