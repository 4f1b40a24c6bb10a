"""Grading primitives: answer matching, evidence support, retrieval hit@k / MRR, SQuAD F1 and AUROC."""

from __future__ import annotations

import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "accepts",
    "auroc",
    "evidence_rank",
    "hit_at",
    "mrr",
    "normalise",
    "percentile",
    "squad_f1",
    "squad_normalise",
    "supports",
]


def normalise(text: str) -> str:
    """Lower-case, collapse whitespace, drop thousands separators (13,000 -> 13000), unify quotes."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.split())


def accepts(answer: str, accept: Sequence[str]) -> bool:
    """Whether any accept string occurs in the answer (after normalising both)."""
    norm = normalise(answer)
    return any(normalise(item) in norm for item in accept)


def _squash(text: str) -> str:
    # Whitespace-insensitive, and blind to a space before closing punctuation or after an opening
    # bracket: HTML text puts one where a link or <code> ends ("Hwaci , the company"), prose does not.
    text = " ".join(text.split())
    text = re.sub(r" ([,.;:!?)\]])", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text)


def supports(passage: str, evidence: str | None) -> bool:
    """Whether a passage contains the evidence string (whitespace-insensitive)."""
    if evidence is None:
        return False
    return _squash(evidence) in _squash(passage)


def evidence_rank(passages: Sequence[str], evidence: str | None) -> int:
    """1-based rank of the first passage that contains the evidence; 0 when none does."""
    for rank, passage in enumerate(passages, start=1):
        if supports(passage, evidence):
            return rank
    return 0


def hit_at(ranks: Sequence[int], k: int) -> float:
    """Share of questions whose evidence is in the top k."""
    return sum(1 for rank in ranks if 0 < rank <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int]) -> float:
    """Mean reciprocal rank of the evidence (0 when not retrieved)."""
    return sum(1.0 / rank for rank in ranks if rank > 0) / len(ranks) if ranks else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(values[0] if q <= 0 else cuts[min(98, max(0, round(q) - 1))])


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1 of a prediction against the best-matching gold answer (0 when there is none).

    Written out rather than imported: it is the official SQuAD v2 script's dozen lines, and the packages
    that carry it (`evaluate`, `datasets`) would pull a large dependency tree for them.
    """
    predicted = squad_normalise(prediction).split()
    best = 0.0
    for gold in golds:
        expected = squad_normalise(gold).split()
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def auroc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve of scores for telling positives apart; None when a class is missing."""
    if len(set(positive)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([int(p) for p in positive], [float(s) for s in scores]))
