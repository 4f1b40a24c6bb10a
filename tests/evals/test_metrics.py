"""The new eval metrics on small hand-computed cases: SQuAD F1, AUROC, abstention by kind, precision, bands."""

from __future__ import annotations

import dataclasses

import pytest

from corpusqa.types import Answer, Citation
from evals.grader import grade, summarise
from evals.metrics import auroc, squad_f1, squad_normalise, supports
from evals.questions import Question

ANSWERABLE = Question("a", "What is the default value of HISTSIZE?", ("500",),
                      "The shell sets the default value to 500 after reading any startup files.", "numeric", "test")
NEAR = Question("n", "What is the default value of TMOUT?", (), None, "unanswerable", "test", "near_miss")
OUT = Question("o", "What is the capital of Australia?", (), None, "unanswerable", "test", "out_of_scope")
PASSAGE = "HISTSIZE The maximum number of commands. The shell sets the default value to 500 after reading any startup files."


@dataclasses.dataclass
class _Banded(Answer):
    """An Answer as the engine may soon return it: with a short answer and a band."""

    short_answer: str | None = None
    band: str | None = None


def _answer(text: str, *, abstained: bool = False, confidence: float = 0.5, cite: bool = True,
            short: str | None = None, band: str | None = None) -> Answer:
    citations = [Citation(1, "bash.pdf", "T", "text", 1, 2, PASSAGE, 1.0)] if cite else []
    return _Banded("q", text, abstained, "extractive", 0.01, citations, confidence=confidence, short_answer=short, band=band)


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("500", ["500"], 1.0),
        ("The 500", ["500"], 1.0),  # articles and punctuation are dropped
        ("to 500 after reading", ["500"], 0.4),  # precision 1/4, recall 1 -> 2*0.25/1.25
        ("13,000 to 14,000 prisoners", ["13,000 to 14,000"], 0.8571),  # p 3/4, r 3/3
        ("nothing alike", ["500"], 0.0),
        ("anything", [], 0.0),
        ("best of two", ["two", "nothing"], 0.5),  # the best gold counts
    ],
)
def test_squad_f1_hand_computed(prediction: str, golds: list[str], expected: float) -> None:
    assert squad_f1(prediction, golds) == pytest.approx(expected, abs=1e-4)


def test_squad_normalise_matches_the_official_rules() -> None:
    assert squad_normalise("  The Bourne-Again  SHELL, an acronym! ") == "bourneagain shell acronym"


@pytest.mark.parametrize(
    ("positive", "scores", "expected"),
    [
        ([True, True, False, False], [0.9, 0.8, 0.2, 0.1], 1.0),
        ([True, True, False, False], [0.1, 0.2, 0.8, 0.9], 0.0),
        ([True, True, False, False], [0.9, 0.4, 0.5, 0.1], 0.75),  # 3 of the 4 pairs ordered right
        ([True, False], [0.5, 0.5], 0.5),  # ties count half
        ([True, True], [0.5, 0.7], None),  # one class only: undefined
    ],
)
def test_auroc_hand_computed(positive: list[bool], scores: list[float], expected: float | None) -> None:
    assert auroc(positive, scores) == (pytest.approx(expected) if expected is not None else None)


def test_supports_ignores_spaces_html_leaves_around_punctuation() -> None:
    assert supports("Hwaci , the company ( see below )", "Hwaci, the company (see below)")
    assert not supports("Hwaci , the company", "Hwaci, a company")


def test_grade_records_short_answer_f1_band_confidence_and_kind() -> None:
    result = grade(ANSWERABLE, _answer("500 [1] The shell sets ... 500 ...", short="500", band="answer", confidence=0.9), [PASSAGE])
    assert (result.short_answer, result.f1, result.band, result.confidence, result.right) == ("500", 1.0, "answer", 0.9, True)
    plain = grade(ANSWERABLE, _answer("The shell sets the default value to 500 after reading any startup files."), [PASSAGE])
    assert plain.short_answer is None and plain.band is None
    # the sentence is 11 tokens once its two "the" go: precision 1/11, recall 1, F1 2/12
    assert plain.f1 == pytest.approx(1 / 6, abs=1e-4)
    assert grade(NEAR, _answer("no", abstained=True), []).unanswerable == "near_miss"


def test_grade_right_sees_through_abstention_but_f1_does_not() -> None:
    result = grade(ANSWERABLE, _answer("500 [1]", abstained=True, band="abstain"), [PASSAGE])
    assert result.right and not result.passed and result.f1 == 0.0


def test_summarise_abstention_by_kind_precision_f1_auroc_and_bands() -> None:
    results = [
        grade(ANSWERABLE, _answer("500 [1]", confidence=0.9, short="500", band="answer"), [PASSAGE]),  # right
        grade(ANSWERABLE, _answer("250 [1]", confidence=0.7, short="250", band="possibly"), [PASSAGE]),  # wrong
        grade(ANSWERABLE, _answer("500", confidence=0.2, abstained=True, band="abstain"), [PASSAGE]),  # wrongly abstained
        grade(NEAR, _answer("no", confidence=0.8, band="answer"), []),  # answered a near miss
        grade(NEAR, _answer("no", abstained=True, confidence=0.1, band="abstain"), []),
        grade(OUT, _answer("no", abstained=True, confidence=0.05, band="abstain"), []),
    ]
    m = summarise(results)
    assert (m["out_of_scope"], m["near_miss"]) == (1, 2)
    assert m["abstention_out_of_scope"] == 1.0 and m["abstention_near_miss"] == 0.5
    assert m["false_abstention"] == pytest.approx(0.3333)
    assert m["answered"] == 3 and m["answered_precision"] == pytest.approx(0.3333)  # 1 right of 3 given
    assert m["f1"] == pytest.approx(0.3333)  # (1 + 0 + 0) / 3 answerable
    # answerable scores 0.9, 0.7, 0.2 against unanswerable 0.8, 0.1, 0.05: 7 of 9 pairs ordered right
    assert m["confidence_auroc"] == pytest.approx(7 / 9, abs=1e-4)
    assert (m["band_answer"], m["band_answer_right"]) == (2, 0.5)
    assert (m["band_possibly"], m["band_possibly_right"]) == (1, 0.0)
    assert (m["band_abstain"], m["band_abstain_right"]) == (3, pytest.approx(0.3333))  # the hidden right answer


def test_summarise_without_unanswerables_reports_undefined_auroc() -> None:
    m = summarise([grade(ANSWERABLE, _answer("500 [1]"), [PASSAGE])])
    assert m["confidence_auroc"] == -1.0 and m["answered_precision"] == 1.0
    assert "band_answer" not in m
