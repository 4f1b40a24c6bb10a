"""The grader fails wrong answers and unsupported ones; metrics and the gate compute as documented."""

from __future__ import annotations

import pytest

from corpusqa.types import Answer, Citation
from evals.gate import check_thresholds
from evals.grader import grade, summarise
from evals.metrics import accepts, evidence_rank, hit_at, mrr, normalise
from evals.questions import Question

QUESTION = Question("q", "How many Taliban prisoners were held in total?", ("13,000 to 14,000",),
                    "out of 13,000 to 14,000 prisoners", "numeric", "test")
UNANSWERABLE = Question("u", "How many people attended the rally?", (), None, "unanswerable", "test")
SUPPORTING = "“The Taliban wanted 5,000 of its prisoners to be released by the government--out of 13,000 to 14,000 prisoners--on the day"
OTHER = "Khalilzad, however, clarified that the withdrawal of all US troops from Afghanistan in 14 months is condition-based."


def _answer(text: str, passages: list[str], abstained: bool = False) -> Answer:
    citations = [Citation(n, "a.txt", "T", "article", 1, 2, passage, 1.0) for n, passage in enumerate(passages, 1)]
    return Answer(QUESTION.question, text, abstained, "extractive", 0.01, citations)


@pytest.mark.parametrize(
    ("answer", "passed", "correct", "supported"),
    [
        (_answer("out of 13,000 to 14,000 prisoners [1]", [SUPPORTING]), True, True, True),
        (_answer("about 13000 to 14000 prisoners [1]", [SUPPORTING]), True, True, True),
        # a wrong answer fails even with the right passage cited
        (_answer("5,000 prisoners [1]", [SUPPORTING]), False, False, True),
        # a right answer without a supporting citation fails
        (_answer("13,000 to 14,000 [1]", [OTHER]), False, True, False),
        (_answer("13,000 to 14,000", []), False, True, False),
        (_answer("The documents do not say.", [], abstained=True), False, False, False),
    ],
)
def test_grade_answerable(answer: Answer, passed: bool, correct: bool, supported: bool) -> None:
    result = grade(QUESTION, answer, [SUPPORTING])
    assert (result.passed, result.correct, result.supported) == (passed, correct, supported)


def test_grade_unanswerable_passes_only_on_abstention() -> None:
    assert grade(UNANSWERABLE, _answer("The documents do not say.", [], abstained=True), []).passed
    assert not grade(UNANSWERABLE, _answer("About 200 people [1]", [OTHER]), []).passed


def test_summarise_counts_citation_precision_and_abstention() -> None:
    results = [
        grade(QUESTION, _answer("13,000 to 14,000 [1][2]", [SUPPORTING, OTHER]), [OTHER, SUPPORTING]),
        grade(QUESTION, _answer("x", [], abstained=True), []),
        grade(UNANSWERABLE, _answer("no", [], abstained=True), []),
        grade(UNANSWERABLE, _answer("200 [1]", [OTHER]), []),
    ]
    metrics = summarise(results)
    assert metrics["answer_accuracy"] == 0.5
    assert metrics["citation_precision"] == 0.5  # one of the two passages cited supports
    assert metrics["citation_recall"] == 0.5
    assert metrics["abstention"] == 0.5
    assert metrics["false_abstention"] == 0.5
    assert metrics["hit_at_1"] == 0.0 and metrics["hit_at_5"] == 0.5 and metrics["mrr"] == 0.25


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13,000 to 14,000", "13000 to 14000"), ("  A\n B ", "a b"), ("“Quoted” it’s", "\"quoted\" it's"), ("1,5", "1,5")],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_accepts_and_ranks() -> None:
    assert accepts("There were 13000 to 14000.", ["13,000 to 14,000"])
    assert not accepts("There were 5,000.", ["13,000 to 14,000"])
    assert evidence_rank(["x", "a b c", "b"], "b") == 2
    assert evidence_rank(["x"], "b") == 0
    assert hit_at([1, 2, 0, 6], 5) == 0.5
    assert mrr([1, 2, 0, 4]) == pytest.approx((1 + 0.5 + 0.25) / 4)


def test_gate_checks_min_and_max() -> None:
    checks = check_thresholds(
        {"answer_accuracy": 0.8, "false_abstention": 0.3},
        {"min": {"answer_accuracy": 0.75, "mrr": 0.5}, "max": {"false_abstention": 0.2}},
    )
    verdicts = {check.metric: check.passed for check in checks}
    assert verdicts == {"answer_accuracy": True, "mrr": False, "false_abstention": False}
