"""The jitter check: rerun a corpus's eval with the numbers perturbed as another machine would, count the
decisions that flip and the spread of each gated metric (`corpusqa eval --jitter N`, issue #22)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evals.gate import check_thresholds
from evals.grader import QuestionResult, run_eval, summarise
from evals.jitter_size import load_size
from rag.jitter import Jitter

if TYPE_CHECKING:
    from evals.corpora import EvalCorpus
    from rag.engine import Engine

__all__ = ["SIZES", "JitterSpread", "jitters", "rerun", "spread"]

#: Named sizes measured by `python -m evals.jitter_size` (evals/jitter_size.json); "precision" is the default.
SIZES = ("precision", "batch", "threads")


def jitters(count: int, size: str = "precision") -> list[Jitter]:
    """`count` simulated machines (seeds 1..count) at a measured size, or at a number given as the size
    (the per-component standard deviation; the features then get the same)."""
    try:
        vector_sd, feature_sd = load_size(size)
    except KeyError:
        vector_sd = feature_sd = float(size)
    return [Jitter(seed, vector_sd, feature_sd) for seed in range(1, count + 1)]


def rerun(
    engine: Engine,
    corpus: EvalCorpus,
    machines: list[Jitter],
    backend: str | None = None,
    on_result: Callable[[QuestionResult], None] | None = None,
) -> list[list[QuestionResult]]:
    """The corpus's questions asked again once per simulated machine (same index, same model)."""
    return [run_eval(engine.with_jitter(machine), corpus.questions, backend, on_result) for machine in machines]


@dataclass
class JitterSpread:
    """What the reruns changed: decisions that flipped, and each gated metric's range over all runs."""

    runs: int  # jittered reruns (the plain run is not counted)
    decisions: int  # graded wordings per run
    flipped: list[str]  # result ids whose decision (band, pass) differs between any two runs
    per_run: list[int]  # for each rerun, how many decisions differ from the plain run's
    metrics: dict[str, dict[str, float]]  # gated metric: {"base", "min", "max", "sd"}
    gate_failures: list[str]  # "run k: metric" for every rerun outside a gate bound

    @property
    def passed(self) -> bool:
        """Whether every rerun passes the gate too (no gate moves)."""
        return not self.gate_failures

    def to_json(self) -> dict[str, Any]:
        """As printed by --json."""
        return {
            "runs": self.runs,
            "decisions": self.decisions,
            "flipped": len(self.flipped),
            "flipped_ids": self.flipped,
            "flipped_per_run": self.per_run,
            "metrics": self.metrics,
            "gate_failures": self.gate_failures,
            "passed": self.passed,
        }


def _decision(result: QuestionResult) -> tuple[str | None, bool, bool]:
    return (result.band, result.abstained, result.passed)


def _outcome(result: QuestionResult) -> tuple[object, ...]:
    """Everything of one result a gated metric reads, but its continuous confidence."""
    return (result.band, result.abstained, result.passed, result.correct, result.supported,
            result.evidence_rank, result.supporting_citations, result.citations, round(result.f1, 4))


#: Which results a gated metric reads: the questions as written of a kind, or whole reworded groups.
_POPULATIONS: dict[str, Callable[[QuestionResult], bool]] = {
    "abstention": lambda r: r.type == "unanswerable",
    "abstention_out_of_scope": lambda r: r.unanswerable == "out_of_scope",
    "abstention_near_miss": lambda r: r.unanswerable == "near_miss",
    "answered_precision": lambda r: True,
    "confidence_auroc": lambda r: True,
    "passed": lambda r: True,
}


_RETRIEVAL = ("hit_at_1", "hit_at_5", "mrr")


def _metric_flips(name: str, runs: list[list[QuestionResult]]) -> tuple[int, int]:
    """(changed, trials) for one metric: over the reruns, how many of the questions it reads (groups, for
    the rewording metrics) came out otherwise than in the plain run, and how many were read."""
    def keyed(results: list[QuestionResult]) -> dict[str, tuple[object, ...]]:
        if name in ("flip_rate", "worst_wording_accuracy"):
            groups: dict[str, list[tuple[object, ...]]] = {}
            for r in results:
                if r.type != "unanswerable":
                    groups.setdefault(r.group or r.id, []).append(_outcome(r))
            return {key: tuple(values) for key, values in groups.items()}
        wanted = _POPULATIONS.get(name, lambda r: r.type != "unanswerable")
        read = (lambda r: (r.evidence_rank,)) if name in _RETRIEVAL else _outcome
        return {r.id: read(r) for r in results if r.wording == 0 and wanted(r)}

    base = keyed(runs[0])
    changed = sum(1 for rerun in runs[1:] for key, value in keyed(rerun).items() if base.get(key) != value)
    return changed, len(base) * (len(runs) - 1)


def spread(base: list[QuestionResult], gate: dict[str, dict[str, float]], reruns: list[list[QuestionResult]]) -> JitterSpread:
    """Flips and metric ranges of a plain run and its jittered reruns, each rerun checked against the gate."""
    runs = [base, *reruns]
    decisions = [{r.id: _decision(r) for r in results} for results in runs]
    flipped = sorted(key for key in decisions[0] if len({d.get(key) for d in decisions}) > 1)
    per_run = [sum(1 for key, value in decisions[0].items() if d.get(key) != value) for d in decisions[1:]]
    summaries = [summarise(results) for results in runs]
    gated = sorted({*gate["min"], *gate["max"]})
    metrics = {}
    for name in gated:
        values = [float(s.get(name, float("nan"))) for s in summaries]
        changed, trials = _metric_flips(name, runs)
        metrics[name] = {
            "base": values[0],
            "min": min(values),
            "max": max(values),
            "sd": round(statistics.pstdev(values), 4),
            "changed": changed,  # questions read by the metric that came out otherwise, over the reruns
            "trials": trials,
        }
    failures = [
        f"run {k}: {check.metric}"
        for k, summary in enumerate(summaries[1:], start=1)
        for check in check_thresholds(summary, gate)
        if not check.passed
    ]
    return JitterSpread(len(reruns), len(base), flipped, per_run, metrics, failures)
