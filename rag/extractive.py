"""The offline answerer: pick the retrieved sentence that best answers the question, or abstain.

Scoring combines what the issue asks for and what we measured on the eval dev split: MiniLM
similarity of question and sentence, idf-weighted overlap of the question's terms with the sentence
and its passage, the expected answer type, and the retrieval rank. Abstention looks at how much of
the question's rare vocabulary the best passage holds, the type match and the lead over the
runner-up; a cosine threshold alone cannot tell unanswerable questions apart (STACK-NOTES).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from corpusqa.types import ScoredChunk
from ingest.keyword import STOPWORDS, stem, terms
from rag.answer_types import expected_type, focus_match, has_answer_type

__all__ = ["ABSTAIN_TEXT", "Candidate", "ExtractiveParams", "ExtractiveResult", "answer_extractively", "candidates"]

ABSTAIN_TEXT = "The documents do not say. The closest passages I found are listed below."


@dataclass(frozen=True)
class ExtractiveParams:
    """Weights of the sentence score and of the confidence model (fitted by `corpusqa eval --tune`)."""

    # Fitted on the eval dev split by `corpusqa eval --split dev --tune` (2026-11-25, 79 questions):
    # sentence-score weights by random search, confidence by class-balanced logistic regression over
    # five features (key, lex, typed, focus, pred; the others are kept at 0, see evals/tune.py).
    w_dense: float = 1.27
    w_lex: float = 1.62
    w_ctx: float = 1.77
    w_type: float = 1.77
    w_prior: float = 0.07
    w_focus: float = 1.28
    w_which: float = 0.53
    c0: float = -6.793
    c_key: float = -3.188
    c_lex: float = 2.286
    c_dense: float = 0.0
    c_type: float = 5.213
    c_margin: float = 0.0
    c_missing: float = 0.0
    c_focus: float = 1.242
    c_which: float = 0.0
    c_ctx: float = 0.0
    c_pred: float = 4.283


@dataclass(frozen=True)
class Candidate:
    """One retrieved sentence with its features and score."""

    chunk_index: int
    sentence_index: int
    text: str
    dense: float
    lex: float
    ctx: float
    key: float
    missing: float  # idf of the rarest question term absent from the passage, relative to the rarest possible
    typed: float
    focus: float  # 1/0: the sentence holds / lacks the number a "how many X" question asks for; 0.5 n/a
    which: float  # 1/0: the sentence names / lacks the X of a "which X" question; 0.5 n/a
    pred: float  # idf-weighted share of the question's non-name terms found in the sentence
    prior: float
    score: float


@dataclass(frozen=True)
class ExtractiveResult:
    """The chosen sentence (None when abstaining) and the confidence behind the choice."""

    best: Candidate | None
    confidence: float
    abstained: bool
    ranked: list[Candidate]


def _coverage(question_terms: dict[str, float], text_terms: set[str]) -> float:
    total = sum(question_terms.values())
    if total == 0:
        return 0.0
    return sum(weight for term, weight in question_terms.items() if term in text_terms) / total


def _key_terms(question: str, idf: Callable[[str], float]) -> dict[str, float]:
    """The question's distinctive terms: names, numbers and words rarer than the question's median."""
    weights = {term: idf(term) for term in terms(question)}
    if not weights:
        return {}
    median = sorted(weights.values())[len(weights) // 2]
    named = {t for word in re.findall(r"(?<!^)\b[A-Z][\w’'-]+|\d[\d,]*", question) for t in terms(word)}
    return {term: w for term, w in weights.items() if w >= median or term in named}


def _predicate_terms(question: str, idf: Callable[[str], float]) -> dict[str, float]:
    """The question's terms that are not names or numbers: what it asks about them ("become", "members")."""
    named = {t for word in re.findall(r"(?<!^)\b[A-Z][\w’'-]+|\d[\d,]*", question) for t in terms(word)}
    return {term: idf(term) for term in terms(question) if term not in named}


def candidates(
    question: str,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    params: ExtractiveParams,
) -> list[Candidate]:
    """Every sentence of the retrieved chunks, scored, best first."""
    question_terms = {term: idf(term) for term in terms(question)}
    key_terms = _key_terms(question, idf)
    predicate_terms = _predicate_terms(question, idf)
    answer_type = expected_type(question)
    top = retrieved[0].score if retrieved else 1.0
    max_idf = idf("\x00never-seen\x00") or 1.0
    out: list[Candidate] = []
    for chunk_index, scored in enumerate(retrieved):
        chunk = scored.chunk
        matrix = sentence_vectors.get(chunk.id)
        chunk_terms = set(terms(f"{chunk.title}\n{chunk.text}"))
        ctx = _coverage(question_terms, chunk_terms)
        key = _coverage(key_terms, chunk_terms)
        absent = [weight for term, weight in question_terms.items() if term not in chunk_terms]
        missing = max(absent, default=0.0) / max_idf
        prior = scored.score / top if top else 0.0
        for sentence_index, (start, end) in enumerate(chunk.sentences):
            text = chunk.text[start:end]
            dense = float(matrix[sentence_index] @ vector) if matrix is not None else 0.0
            lex = _coverage(question_terms, set(terms(text)))
            typed = 1.0 if has_answer_type(text, answer_type, question) else 0.0
            pred = _coverage(predicate_terms, set(terms(text))) if predicate_terms else 0.5
            focus, which = focus_match(question, text, stem, STOPWORDS)
            score = (
                params.w_dense * dense
                + params.w_lex * lex
                + params.w_ctx * ctx
                + params.w_type * typed
                + params.w_prior * prior
                + params.w_focus * focus
                + params.w_which * which
            )
            if len(text.split()) < 4 or text.rstrip().endswith("?"):
                score -= 0.5  # fragments and questions rarely answer anything
            out.append(Candidate(chunk_index, sentence_index, text, dense, lex, ctx, key, missing, typed, focus, which, pred, prior, score))
    out.sort(key=lambda candidate: -candidate.score)
    return out


def confidence_of(ranked: list[Candidate], params: ExtractiveParams) -> float:
    """Probability-like confidence that the best candidate answers the question."""
    if not ranked:
        return 0.0
    best = ranked[0]
    margin = best.score - ranked[1].score if len(ranked) > 1 else best.score
    z = (
        params.c0
        + params.c_key * best.key
        + params.c_lex * best.lex
        + params.c_dense * best.dense
        + params.c_type * best.typed
        + params.c_margin * margin
        + params.c_missing * best.missing
        + params.c_focus * best.focus
        + params.c_which * best.which
        + params.c_ctx * best.ctx
        + params.c_pred * best.pred
    )
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def answer_extractively(
    question: str,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    params: ExtractiveParams,
    threshold: float,
) -> ExtractiveResult:
    """Choose the answer sentence, or abstain when the confidence is below `threshold`."""
    ranked = candidates(question, vector, retrieved, sentence_vectors, idf, params)
    confidence = confidence_of(ranked, params)
    if not ranked or confidence < threshold:
        return ExtractiveResult(None, confidence, True, ranked)
    return ExtractiveResult(ranked[0], confidence, False, ranked)
