"""Every wording of a question is asked and graded; flip rate and worst-wording accuracy compute as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpusqa.errors import CorpusQAError
from corpusqa.types import Answer, Citation
from evals.grader import QuestionResult, grade, summarise
from evals.questions import Question, load_questions

EVIDENCE = "The lighthouse keeper rang the bell at nine."
QUESTION = Question("q1", "When did the keeper ring the bell?", ("nine",), EVIDENCE, "date", "test",
                    paraphrases=("At what hour was the bell rung by the keeper?", "What time did the bell ring?"))


def _answer(text: str, abstained: bool = False) -> Answer:
    citations = [] if abstained else [Citation(1, "a.txt", "T", "article", 1, 2, EVIDENCE, 1.0)]
    return Answer("", text, abstained, "extractive", 0.01, citations)


def _graded(outcomes: list[tuple[str, bool]], item: Question = QUESTION) -> list[QuestionResult]:
    return [grade(item, _answer(text, abstained), [EVIDENCE], wording) for wording, (text, abstained) in enumerate(outcomes)]


def test_grade_names_each_wording_and_keeps_its_group() -> None:
    results = _graded([("at nine [1]", False), ("at nine [1]", False), ("at nine [1]", False)])
    assert [(r.id, r.group, r.wording) for r in results] == [("q1", "q1", 0), ("q1~1", "q1", 1), ("q1~2", "q1", 2)]
    assert [r.question for r in results] == list(QUESTION.wordings)


@pytest.mark.parametrize(
    ("outcomes", "flip", "worst", "accuracy"),
    [
        ([("at nine [1]", False)] * 3, 0.0, 1.0, 1.0),
        # one rewording abstains: the group flips and does not count as right in every wording
        ([("at nine [1]", False), ("The documents do not say.", True), ("at nine [1]", False)], 1.0, 0.0, 1.0),
        # a wrong answer to a rewording is a flip too; the question as written still counts once
        ([("at nine [1]", False), ("at noon [1]", False), ("at nine [1]", False)], 1.0, 0.0, 1.0),
        # wrong in every wording: no flip, and not right
        ([("at noon [1]", False)] * 3, 0.0, 0.0, 0.0),
        # only a rewording right: a flip, and the question as written is wrong
        ([("at noon [1]", False), ("at nine [1]", False), ("at noon [1]", False)], 1.0, 0.0, 0.0),
    ],
)
def test_summarise_flip_rate_and_worst_wording(outcomes: list[tuple[str, bool]], flip: float, worst: float, accuracy: float) -> None:
    metrics = summarise(_graded(outcomes))
    assert (metrics["flip_rate"], metrics["worst_wording_accuracy"], metrics["correct_and_cited"]) == (flip, worst, accuracy)
    assert metrics["questions"] == 1 and metrics["paraphrase_groups"] == 1 and metrics["wordings"] == 3


def test_summarise_without_rewordings_has_no_flips_and_worst_equals_accuracy() -> None:
    plain = Question("q2", "When did the keeper ring the bell?", ("nine",), EVIDENCE, "date", "test")
    results = _graded([("at nine [1]", False)], plain) + _graded([("at noon [1]", False)], QUESTION)[:1]
    metrics = summarise(results)
    assert metrics["paraphrase_groups"] == 0 and metrics["flip_rate"] == 0.0
    assert metrics["worst_wording_accuracy"] == metrics["correct_and_cited"] == 0.5


@pytest.mark.parametrize(
    ("value", "ok"),
    [(["One way", "Another way"], True), ([], True), ("one string", False), (["", "x"], False), ([3], False)],
)
def test_load_questions_reads_paraphrases(tmp_path: Path, value: object, ok: bool) -> None:
    row = {"id": "a", "question": "Q?", "accept": ["x"], "evidence": "x", "type": "fact", "split": "dev", "paraphrases": value}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    if ok:
        assert load_questions(path)[0].paraphrases == tuple(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(CorpusQAError, match="paraphrases"):
            load_questions(path)
