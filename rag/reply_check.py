"""What the `openai` backend shows for an LLM's reply: its claims checked, re-cited and judged against the question."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from corpusqa.types import Answer, Citation, Claim, ScoredChunk
from rag.answer_check import judge_answers
from rag.citations import canonical_markers, is_abstention
from rag.extractive import ABSTAIN_TEXT
from rag.grounding import MAY_NOT_SAY, NOT_ANSWERED_NOTE, check_answer, verdict_note
from rag.reader.fitted import Bands, Fitted

__all__ = ["ReplyContext", "shape_reply"]


@dataclass(frozen=True)
class ReplyContext:
    """What the check reads besides the reply: the passages the model was shown (numbered as it saw them),
    the embedding function, their sentence vectors, the corpus idf and the reader's fitted model and bands."""

    retrieved: list[ScoredChunk]
    embed: Callable[[str], np.ndarray]
    sentence_vectors: dict[str, np.ndarray]
    idf: Callable[[str], float]
    fitted: Fitted
    bands: Bands
    question_vector: np.ndarray | None = None  # the question's vector when retrieval already made it


def _cited_first(claims: list[Claim], cited: list[int]) -> list[int]:
    """The passage numbers to show: those the reply cites, then those its claims were found in."""
    return list(dict.fromkeys([*cited, *(claim.evidence_id for claim in claims if claim.evidence_id is not None)]))


def shape_reply(
    question: str, reply: str, context: ReplyContext, citation: Callable[[int], Citation]
) -> tuple[Answer, str]:
    """(the Answer for `reply`, the verdict note to show after the streamed reply, "" when none).

    No supported claim: an abstention that keeps the model's text. Supported claims, none of which holds
    what the question asks for: "The documents may not say; the model wrote: …" with the passages, never
    a plain answer. Otherwise the reply, with each failed claim marked.
    """
    retrieved = context.retrieved
    text, cited = canonical_markers(reply, len(retrieved))
    if is_abstention(text) and not cited:
        return Answer(question, text, True, "openai", 0.0, [], retrieved=retrieved, band="abstain"), ""
    checked = check_answer(text, retrieved, context.embed, context.sentence_vectors, context.idf, question=question)
    claims = checked.claims
    if not any(claim.supported for claim in claims):
        return Answer(
            question, ABSTAIN_TEXT, True, "openai", 0.0, [], retrieved=retrieved,
            unsupported=True, claims=claims, model_answer=text, band="abstain",
        ), verdict_note(claims)
    vector = context.question_vector if context.question_vector is not None else context.embed(question)
    claims = judge_answers(claims, question, vector, retrieved, context.sentence_vectors, context.idf, context.fitted, context.bands)
    highlights: dict[int, str] = {}
    for claim in claims:
        if claim.evidence_id is not None and claim.evidence:
            highlights.setdefault(claim.evidence_id, claim.evidence)
    citations = [replace(citation(number), highlight=highlights.get(number, "")) for number in _cited_first(claims, cited)]
    failed = any(not claim.supported for claim in claims)
    note = verdict_note(claims) if failed or any(claim.recited for claim in claims) else ""
    if not any(claim.answers_question for claim in claims):
        return Answer(
            question, f"{MAY_NOT_SAY} “{text}”", False, "openai", 0.0, citations,
            retrieved=retrieved, unsupported=failed, claims=claims, model_answer=text, band="possibly",
        ), f"{note}\n\n{NOT_ANSWERED_NOTE}".strip()
    return Answer(
        question, checked.marked, False, "openai", 0.0, citations,
        retrieved=retrieved, unsupported=failed, claims=claims,
    ), note
