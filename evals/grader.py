"""Run an engine over a question set and grade answers, citations, abstention and retrieval."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.types import Answer
from evals.metrics import accepts, auroc, evidence_rank, hit_at, mrr, percentile, squad_f1, supports
from evals.questions import Question
from rag.engine import Engine

__all__ = ["BANDS", "QuestionResult", "grade", "run_eval", "summarise"]

# The answer bands an engine may report on `Answer.band`, surest first.
BANDS = ("answer", "possibly", "abstain")


@dataclass
class QuestionResult:
    """How the engine did on one question."""

    id: str
    question: str
    type: str
    split: str
    answer: str
    abstained: bool
    correct: bool
    supported: bool  # some citation contains the evidence
    citations: int
    supporting_citations: int
    evidence_rank: int  # among retrieved passages (top 5), 0 = not retrieved
    seconds: float
    embedding: float = 0.0
    retrieval: float = 0.0
    answering: float = 0.0
    error: str = ""
    passed: bool = False
    cited_sources: list[str] = field(default_factory=list)
    unanswerable: str | None = None  # the unanswerable question's kind: out_of_scope | near_miss
    confidence: float = 0.0
    short_answer: str | None = None
    f1: float = 0.0  # SQuAD token F1 of short_answer (or answer) against the accept strings; 0 if abstained
    band: str | None = None  # the engine's band when its answers carry one
    right: bool = False  # answerable, and the text offered (even under abstention) is correct and cited
    group: str = ""  # the question's id, shared by all its wordings (issue #22)
    wording: int = 0  # 0: the question as written; k: its k-th rewording (`paraphrases`)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the results file."""
        return asdict(self)


def grade(item: Question, answer: Answer, retrieved_texts: list[str], wording: int = 0) -> QuestionResult:
    """Grade one answer (to the question's `wording`-th wording). Answerable: passes when correct and some
    citation contains the evidence. Unanswerable: passes when the engine abstained."""
    supporting = sum(1 for c in answer.citations if supports(c.text, item.evidence))
    offered = item.answerable and accepts(answer.answer, item.accept) and supporting > 0
    correct = (not answer.abstained) and item.answerable and accepts(answer.answer, item.accept)
    supported = supporting > 0 and not answer.abstained
    passed = (correct and supported) if item.answerable else answer.abstained
    short = getattr(answer, "short_answer", None)
    band = getattr(answer, "band", None)
    f1 = squad_f1(short or answer.answer, item.accept) if item.answerable and not answer.abstained else 0.0
    return QuestionResult(
        id=_wording_id(item.id, wording),
        question=item.wordings[wording],
        type=item.type,
        split=item.split,
        answer=answer.answer,
        abstained=answer.abstained,
        correct=correct,
        supported=supported,
        citations=len(answer.citations),
        supporting_citations=supporting,
        evidence_rank=evidence_rank(retrieved_texts, item.evidence) if item.answerable else 0,
        seconds=answer.seconds,
        embedding=answer.timings.embedding,
        retrieval=answer.timings.retrieval,
        answering=answer.timings.answering,
        passed=passed,
        cited_sources=[f"{c.source}:{c.start_line}-{c.end_line}" for c in answer.citations],
        unanswerable=item.unanswerable,
        confidence=float(answer.confidence),
        short_answer=short if isinstance(short, str) else None,
        f1=round(f1, 4),
        band=band if isinstance(band, str) else None,
        right=offered,
        group=item.id,
        wording=wording,
    )


def _wording_id(question_id: str, wording: int) -> str:
    """A result's id: the question's, with ~k for its k-th rewording."""
    return question_id if wording == 0 else f"{question_id}~{wording}"


def run_eval(
    engine: Engine,
    questions: Iterable[Question],
    backend: str | None = None,
    on_result: Callable[[QuestionResult], None] | None = None,
) -> list[QuestionResult]:
    """Ask every wording of every question; an LLM or engine error on one is recorded and the run goes on."""
    engine.warm_up()  # latency figures are per warm question, not model loading
    results = []
    for item in questions:
        for wording, text in enumerate(item.wordings):
            try:
                answer = engine.ask(text, backend=backend)
                retrieved = [scored.chunk.text for scored in engine.retrieve(text, top_k=5)]
                result = grade(item, answer, retrieved, wording)
            except CorpusQAError as exc:
                result = QuestionResult(
                    _wording_id(item.id, wording), text, item.type, item.split, "", False, False, False, 0, 0, 0, 0.0,
                    error=str(exc), unanswerable=item.unanswerable, group=item.id, wording=wording,
                )
            results.append(result)
            if on_result:
                on_result(result)
    return results


def summarise(results: list[QuestionResult]) -> dict[str, float | int]:
    """The metrics of a set of results (all keys present even when a group is empty).

    Every metric but the paraphrase ones reads the questions as written (wording 0); `flip_rate` and
    `worst_wording_accuracy` read every wording (see _paraphrase_metrics).
    `confidence_auroc` is -1 when one class (answerable or unanswerable) is missing, as it is undefined.
    """
    every = results
    results = [r for r in results if r.wording == 0]
    answerable = [r for r in results if r.type != "unanswerable"]
    unanswerable = [r for r in results if r.type == "unanswerable"]
    cited = sum(r.citations for r in answerable if not r.abstained)
    supporting = sum(r.supporting_citations for r in answerable if not r.abstained)
    ranks = [r.evidence_rank for r in answerable]
    latencies = [r.seconds for r in results if not r.error]

    def share(count: int, total: int) -> float:
        return round(count / total, 4) if total else 0.0

    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "passed": share(sum(r.passed for r in results), len(results)),
        "answer_accuracy": share(sum(r.correct for r in answerable), len(answerable)),
        "correct_and_cited": share(sum(r.correct and r.supported for r in answerable), len(answerable)),
        "citation_recall": share(sum(r.supported for r in answerable), len(answerable)),
        "citation_precision": share(supporting, cited),
        "abstention": share(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "false_abstention": share(sum(r.abstained for r in answerable), len(answerable)),
        "hit_at_1": round(hit_at(ranks, 1), 4),
        "hit_at_5": round(hit_at(ranks, 5), 4),
        "mrr": round(mrr(ranks), 4),
        "latency_median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else 0.0,
        "latency_p95_ms": round(percentile(latencies, 95) * 1000, 2) if latencies else 0.0,
        "errors": sum(1 for r in results if r.error),
        **_abstention_metrics(answerable, unanswerable),
        **_band_metrics(results),
        **_paraphrase_metrics(every),
    }


def _paraphrase_metrics(results: list[QuestionResult]) -> dict[str, float | int]:
    """Over answerable questions, all wordings: `worst_wording_accuracy`, the share of questions answered
    right and cited in every wording; `flip_rate`, the share of questions with rewordings where one
    wording is answered right and cited and another abstains or is wrong (issue #22)."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        if r.type != "unanswerable":
            groups.setdefault(r.group or r.id, []).append(r)
    reworded = [members for members in groups.values() if len(members) > 1]
    flips = sum(1 for members in reworded if len({r.correct and r.supported for r in members}) > 1)
    worst = sum(1 for members in groups.values() if all(r.correct and r.supported for r in members))
    return {
        "paraphrase_groups": len(reworded),
        "wordings": sum(len(members) for members in groups.values()),
        "flip_rate": round(flips / len(reworded), 4) if reworded else 0.0,
        "worst_wording_accuracy": round(worst / len(groups), 4) if groups else 0.0,
    }


def _abstention_metrics(answerable: list[QuestionResult], unanswerable: list[QuestionResult]) -> dict[str, float | int]:
    def share(count: int, total: int) -> float:
        return round(count / total, 4) if total else 0.0

    given = [r for r in answerable + unanswerable if not r.abstained and not r.error]
    kinds = {kind: [r for r in unanswerable if r.unanswerable == kind] for kind in ("out_of_scope", "near_miss")}
    scored = [r for r in answerable + unanswerable if not r.error]
    area = auroc([r in answerable for r in scored], [r.confidence for r in scored])
    return {
        "out_of_scope": len(kinds["out_of_scope"]),
        "near_miss": len(kinds["near_miss"]),
        "abstention_out_of_scope": share(sum(r.abstained for r in kinds["out_of_scope"]), len(kinds["out_of_scope"])),
        "abstention_near_miss": share(sum(r.abstained for r in kinds["near_miss"]), len(kinds["near_miss"])),
        "answered": len(given),
        # precision of the answers given: right means a correct answer whose citation holds the evidence
        "answered_precision": share(sum(r.passed for r in given if r.type != "unanswerable"), len(given)),
        "f1": round(sum(r.f1 for r in answerable) / len(answerable), 4) if answerable else 0.0,
        "confidence_auroc": round(area, 4) if area is not None else -1.0,
    }


def _band_metrics(results: list[QuestionResult]) -> dict[str, float | int]:
    # The share of right answers (see QuestionResult.right) in each band, for calibration.
    out: dict[str, float | int] = {}
    for band in BANDS:
        members = [r for r in results if r.band == band]
        if members:
            out[f"band_{band}"] = len(members)
            out[f"band_{band}_right"] = round(sum(r.right for r in members) / len(members), 4)
    return out
