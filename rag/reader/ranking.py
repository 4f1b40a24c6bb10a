"""Ranking, the reader's third step: a fitted pairwise logistic ranker orders a question's candidate sentences.

Its parameters are the `ranker` of `rag/fitted.json` (`python -m evals.fit`, leave-one-corpus-out).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rag.reader.fitted import Fitted, with_products
from rag.reader.sentences import Candidate

__all__ = [
    "RANKER_FEATURES",
    "RANKER_PRODUCTS",
    "RELATIVE",
    "SENTENCE_FEATURES",
    "STANDARDISED",
    "best_features",
    "rank",
    "ranker_row",
]

#: Features of one candidate sentence that the ranker reads as they are (rag.reader.sentences). The
#: retrieval prior of the passage is left out: a sentence's own similarity to the question tells more
#: than its passage's rank (measured leave-one-corpus-out, docs/evaluation.md).
SENTENCE_FEATURES = (
    "dense", "lex", "ctx", "pred", "typed", "focus", "ent_cover", "conflict", "neg_mismatch", "fragment",
)
#: Products of candidate features, also read by the ranker.
RANKER_PRODUCTS = ("lex*typed", "dense*lex", "pred*typed", "lex*ctx", "dense*typed", "focus*typed", "pred*lex")
#: Features also read as the difference to the best candidate of the same question.
RELATIVE = ("dense", "lex", "pred", "typed")
#: Features also read standardised over the question's candidates (z-score).
STANDARDISED = ("dense",)
#: Every feature the ranker scores, in the order of rag/fitted.json.
RANKER_FEATURES = (
    SENTENCE_FEATURES
    + RANKER_PRODUCTS
    + tuple(f"{name}-best" for name in RELATIVE)
    + tuple(f"{name}_z" for name in STANDARDISED)
)


def ranker_row(features: dict[str, float], best: dict[str, float]) -> dict[str, float]:
    """A candidate's features, some relative to its question's candidates (`best`, from
    `best_features`), plus the pairwise products the ranker reads (a linear model cannot form them)."""
    row = dict(features)
    for name in RELATIVE:
        row[f"{name}-best"] = features[name] - best[name]
    for name in STANDARDISED:
        row[f"{name}_z"] = (features[name] - best[f"{name}_mean"]) / best[f"{name}_std"]
    return with_products(row, RANKER_PRODUCTS)


def best_features(found: list[Candidate]) -> dict[str, float]:
    """Per question: the highest value of each relative feature, and the mean and spread of each standardised one."""
    out = {name: max((c.features[name] for c in found), default=0.0) for name in RELATIVE}
    for name in STANDARDISED:
        values = np.asarray([c.features[name] for c in found], dtype=np.float64)
        out[f"{name}_mean"] = float(values.mean()) if len(values) else 0.0
        spread = float(values.std()) if len(values) else 0.0
        out[f"{name}_std"] = spread if spread > 1e-9 else 1.0
    return out


def rank(found: list[Candidate], fitted: Fitted) -> list[Candidate]:
    """The candidates best first; each one's score is its share of a softmax over the ranker's
    scores of the question's candidates (the ranker is fitted on pairs of candidates, evals/fit.py)."""
    best = best_features(found)
    decisions = fitted.ranker.decisions([ranker_row(c.features, best) for c in found])
    shares = np.exp(decisions - decisions.max())
    shares /= shares.sum()
    scored = [replace(c, score=float(share)) for c, share in zip(found, shares)]
    scored.sort(key=lambda c: -c.score)
    return scored
