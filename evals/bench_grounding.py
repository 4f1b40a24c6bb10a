"""How long the grounding check (rag/grounding.py) takes for a five-claim answer; reported, never judged."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from rag.engine import Engine
from rag.grounding import check_claims
from rag.llm import parse_citations

__all__ = ["GroundingTiming", "bench_grounding"]

TARGET_MS = 50.0  # issue #12: the check of a five-claim answer


@dataclass(frozen=True)
class GroundingTiming:
    """Milliseconds to check one answer of `claims` claims (median and p95 over `runs` warm runs)."""

    claims: int
    supported: int
    runs: int
    median_ms: float
    p95_ms: float
    target_ms: float = TARGET_MS

    def to_json(self) -> dict[str, Any]:
        """Plain dict for bench results."""
        return asdict(self)

    def line(self) -> str:
        """One line for a terminal."""
        verdict = "met" if self.median_ms < self.target_ms else "MISSED"
        return (
            f"grounding check, {self.claims}-claim answer ({self.supported} supported): median {self.median_ms:.1f} ms, "
            f"p95 {self.p95_ms:.1f} ms over {self.runs} runs (target < {self.target_ms:.0f} ms: {verdict})"
        )


def bench_grounding(engine: Engine, question: str, runs: int = 20) -> GroundingTiming:
    """Time the whole check — claim split, spaCy facts, one MiniLM vector a claim, sentence scoring —
    of an answer that cites one sentence of each of the first five passages retrieved for `question`.
    The sentence vectors are read from the index first, as the engine does once per answer."""
    retrieved = engine.retrieve(question, top_k=5)
    snapshot = engine._current()
    pieces = []
    for number, scored in enumerate(retrieved, start=1):
        spans = [span for span in scored.chunk.sentences if len(scored.chunk.text[span[0] : span[1]].split()) >= 6]
        start, end = (spans or list(scored.chunk.sentences))[0]
        pieces.append(f"{' '.join(scored.chunk.text[start:end].split())} [{number}]")
    text, _ = parse_citations(" ".join(pieces), len(retrieved))
    idf = snapshot.keyword.idf if snapshot.keyword else (lambda term: 1.0)
    times = []
    claims = []
    for _ in range(runs + 1):  # the first run loads spaCy and the model: not counted
        started = time.perf_counter()
        vectors = snapshot.store.sentence_vectors([scored.chunk for scored in retrieved])
        claims = check_claims(text, retrieved, engine.embedder.embed_query, vectors, idf)
        times.append((time.perf_counter() - started) * 1000)
    warm = sorted(times[1:])
    p95 = warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))]
    return GroundingTiming(len(claims), sum(c.supported for c in claims), runs, statistics.median(warm), p95)
