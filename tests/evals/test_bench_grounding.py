"""The grounding benchmark runs the real check on a five-claim answer and prints its time (a report, not a gate)."""

from __future__ import annotations

from conftest import EXAMPLE_QUESTION

from evals.bench_grounding import bench_grounding
from rag import Engine


def test_bench_grounding_reports_a_five_claim_check(engine: Engine) -> None:
    timing = bench_grounding(engine, EXAMPLE_QUESTION, runs=5)
    print("\n" + timing.line())
    assert timing.claims == 5 and timing.supported == 5, "each claim quotes the passage it cites"
    assert timing.runs == 5 and 0 < timing.median_ms <= timing.p95_ms
    assert timing.cpu_median_ms > 0
    assert set(timing.to_json()) >= {"claims", "median_ms", "p95_ms", "cpu_median_ms", "target_ms"}


def test_bench_grounding_prints_scores_on_labelled_replies(capsys) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from evals.bench_grounding import main

    replies = Path(__file__).resolve().parent.parent / "fixtures" / "llm_replies" / "hand-written-squad2-complexity.jsonl"
    main(["--replies", str(replies), "--runs", "2"])
    out = capsys.readouterr().out
    for figure in ("precision of supported", "recall of supported", "inventions rejected", "non-answers", "wrong citations repaired"):
        assert figure in out, out
    assert "labels: right 3, wrong_citation 3, non_answer 3, invented 3" in out
    assert "grounding check, 5-claim answer" in out
