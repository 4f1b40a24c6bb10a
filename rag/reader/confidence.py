"""Confidence and bands, the reader's fourth step: how sure the best sentence answers, and the band that
follows: answer, possibly or abstain.

The confidence model and the band thresholds are those of `rag/fitted.json` (`python -m evals.fit`).
"""

from __future__ import annotations

from ingest.text import terms
from rag.reader.fitted import Bands, with_products
from rag.reader.question import QuestionAnalysis
from rag.reader.sentences import Candidate
from rag.reader.syntax import parse_sentence, swaps

__all__ = ["BANDS", "CONFIDENCE_FEATURES", "LONG_QUESTION", "band_of", "confidence_row"]

#: Features of the chosen sentence and its question that the confidence model reads.
CONFIDENCE_FEATURES = (
    "rank_p", "margin", "dense", "lex", "ctx", "key", "missing", "pred", "typed", "has_type", "focus",
    "ent_cover", "ent_ctx", "has_entities", "conflict", "neg_mismatch", "dense_max", "fragment",
    # a question word absent from the sentence, another word in its syntactic slot (rag.reader.syntax)
    "swap",
    # the question's length, and products that let the model read a feature differently for typed
    # questions, questions with names, and long questions (a linear model cannot form them)
    "q_len", "lex*q_len", "pred*q_len", "typed*has_type", "margin*has_type", "rank_p*has_type",
    "dense*has_type", "key*has_entities", "ent_cover*has_entities",
)
#: Content terms at which a question counts as long (q_len = min(terms, this) / this).
LONG_QUESTION = 12
BANDS = ("answer", "possibly", "abstain")


def band_of(confidence: float, bands: Bands) -> str:
    """"answer", "possibly" or "abstain" for a confidence."""
    if confidence >= bands.answer:
        return "answer"
    if confidence >= bands.possibly:
        return "possibly"
    return "abstain"


def confidence_row(analysis: QuestionAnalysis, ranked: list[Candidate]) -> dict[str, float]:
    """The confidence model's features for the best of `ranked` (which must not be empty)."""
    best = ranked[0]
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    row = {
        "rank_p": best.score,
        "margin": best.score - runner_up,
        **{name: best.features[name] for name in ("dense", "lex", "ctx", "pred", "typed", "focus", "ent_cover", "conflict", "neg_mismatch")},
        "key": best.chunk_features["key"],
        "missing": best.chunk_features["missing"],
        "ent_ctx": best.chunk_features["ent_ctx"],
        "has_type": 1.0 if analysis.labels else 0.0,
        "has_entities": 1.0 if analysis.entities else 0.0,
        "dense_max": max(c.features["dense"] for c in ranked),
        "fragment": best.features["fragment"],
        "q_len": min(len(set(terms(analysis.text))), LONG_QUESTION) / LONG_QUESTION,
    }
    row["swap"] = swaps(analysis.roles, parse_sentence(best.text))
    return with_products(row, CONFIDENCE_FEATURES)
