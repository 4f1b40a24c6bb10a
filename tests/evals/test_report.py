"""The suite report: macro average over corpora (undefined rates left out), per-corpus sections, rendering."""

from __future__ import annotations

from pathlib import Path

from corpusqa.types import Answer, Citation
from evals.corpora import EvalCorpus
from evals.gate import check_thresholds
from evals.grader import grade, summarise
from evals.questions import Question
from evals.report import build_suite_report, render_suite
from evals.suite import CorpusRun

EVIDENCE = "The zebra Mortimer is purple."
ANSWERABLE = Question("a", "What colour is Mortimer?", ("purple",), EVIDENCE, "fact", "test")
NEAR = Question("n", "What colour is Gertrude?", (), None, "unanswerable", "test", "near_miss")
OUT = Question("o", "Who won the 1930 world cup?", (), None, "unanswerable", "test", "out_of_scope")


def _answer(text: str, abstained: bool, confidence: float) -> Answer:
    citations = [Citation(1, "zoo.md", "Zoo", "article", 1, 1, EVIDENCE, 1.0)]
    return Answer("q", text, abstained, "extractive", 0.01, citations, confidence=confidence)


def _run(name: str, results: list, gate: dict) -> CorpusRun:  # type: ignore[type-arg]
    corpus = EvalCorpus(name, Path("/x") / name, Path("/x") / name / "docs", [], gate)
    return CorpusRun(corpus, results, check_thresholds(summarise(results), gate), {"added": 1})


def test_suite_report_macro_leaves_out_rates_a_corpus_cannot_have() -> None:
    first = _run("first", [
        grade(ANSWERABLE, _answer("purple [1]", False, 0.9), [EVIDENCE]),
        grade(OUT, _answer("no", True, 0.1), []),
        grade(NEAR, _answer("pink [1]", False, 0.5), []),
    ], {"min": {"abstention_out_of_scope": 1.0}, "max": {}})
    # no out-of-scope question here: its out-of-scope abstention is undefined, not 0
    second = _run("second", [
        grade(ANSWERABLE, _answer("grey [1]", False, 0.1), [EVIDENCE]),
        grade(NEAR, _answer("no", True, 0.2), []),
    ], {"min": {"answer_accuracy": 0.5}, "max": {}})
    report = build_suite_report([first, second], {"split": "test", "backend": "extractive"})
    m = report["metrics"]
    assert m["corpora"] == 2 and m["questions"] == 5 and m["out_of_scope"] == 1 and m["near_miss"] == 2
    assert m["abstention_out_of_scope"] == 1.0  # from the first corpus alone
    assert m["abstention_near_miss"] == 0.5  # (0 + 1) / 2
    assert m["answer_accuracy"] == 0.5 and m["confidence_auroc"] == 0.5  # (1.0 + 0.0) / 2
    assert report["passed"] is False and [c["corpus"] for c in report["thresholds"] if not c["passed"]] == ["second"]
    assert {r["corpus"] for r in report["results"]} == {"first", "second"}
    assert report["corpus"] == "first, second" and report["corpora"]["first"]["ingest"] == {"added": 1}
    text = render_suite(report)
    assert "== first: 3 questions (test split)" in text and "== second: 2 questions" in text
    assert "near_miss 0% of 1" in text and "Gates: first ok, second FAIL" in text
    summary = text.splitlines()[-4:]
    assert summary[1].startswith("second") and "n/a" in summary[1] and summary[2].startswith("macro average")
