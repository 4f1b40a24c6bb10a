"""The jitter check's arithmetic: flipped decisions, each gated metric's range and per-metric changes, gate per rerun."""

from __future__ import annotations

from dataclasses import replace

from evals.grader import QuestionResult
from evals.jitter import spread

GATE = {"min": {"correct_and_cited": 0.5, "hit_at_1": 0.5}, "max": {"errors": 0}}


def _result(qid: str, right: bool, rank: int = 1) -> QuestionResult:
    return QuestionResult(qid, "Q?", "fact", "test", "a", not right, right, right, 1, int(right), rank, 0.1,
                          passed=right, band="answer" if right else "abstain", group=qid)


def test_spread_counts_flips_ranges_and_reruns_off_the_gate() -> None:
    base = [_result("a", True), _result("b", True), _result("c", False)]
    moved = [replace(base[0], passed=False, correct=False, abstained=True, band="abstain"), base[1], base[2]]
    result = spread(base, GATE, [list(base), moved])

    assert result.runs == 2 and result.decisions == 3
    assert result.flipped == ["a"] and result.per_run == [0, 1]
    cited = result.metrics["correct_and_cited"]
    assert (cited["base"], cited["min"], cited["max"]) == (round(2 / 3, 4), round(1 / 3, 4), round(2 / 3, 4))
    assert (cited["changed"], cited["trials"]) == (1, 6)
    assert result.metrics["hit_at_1"]["changed"] == 0  # retrieval metrics read the evidence's rank only
    assert result.gate_failures == ["run 2: correct_and_cited"] and not result.passed
