"""Grading primitives: answer matching, evidence support, and retrieval hit@k / MRR."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

__all__ = ["accepts", "evidence_rank", "hit_at", "mrr", "normalise", "percentile", "supports"]


def normalise(text: str) -> str:
    """Lower-case, collapse whitespace, drop thousands separators (13,000 -> 13000), unify quotes."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.split())


def accepts(answer: str, accept: Sequence[str]) -> bool:
    """Whether any accept string occurs in the answer (after normalising both)."""
    norm = normalise(answer)
    return any(normalise(item) in norm for item in accept)


def supports(passage: str, evidence: str | None) -> bool:
    """Whether a passage contains the evidence string (whitespace-insensitive)."""
    if evidence is None:
        return False
    return " ".join(evidence.split()) in " ".join(passage.split())


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
