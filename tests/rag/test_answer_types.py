"""Expected answer types and the focus of "how many X" / "which X" questions."""

from __future__ import annotations

import pytest

from ingest.keyword import STOPWORDS, stem
from rag.answer_types import expected_type, focus_match, has_answer_type


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many Taliban prisoners were held in total?", "numeric"),
        ("When did Ghani sign the decree?", "date"),
        ("On what date was the deal signed?", "date"),
        ("Who is the US special envoy?", "person"),
        ("Which spokesman said it?", "person"),
        ("Where did the talks take place?", "place"),
        ("In which city did they rally?", "place"),
        ("Why did the Taliban want the prisoners released?", "why"),
        ("What did Khalilzad say about the deal?", None),
    ],
)
def test_expected_type(question: str, kind: str | None) -> None:
    assert expected_type(question) == kind


@pytest.mark.parametrize(
    ("sentence", "kind", "question", "expected"),
    [
        ("out of 13,000 to 14,000 prisoners", "numeric", "How many prisoners?", True),
        ("no figures here", "numeric", "How many prisoners?", False),
        ("signed on Feb. 29 in Doha", "date", "When was it signed?", True),
        ("envoy Zalmay Khalilzad wrote", "person", "Who wrote it?", True),
        # the only name is the one the question already gives: not an answer
        ("spokesman Javid Faisal said on Sunday", "person", "Who heads the council Javid Faisal speaks for?", False),
        ("talks in Doha", "place", "Where were the talks?", True),
        ("anything at all", None, "What happened?", True),
    ],
)
def test_has_answer_type(sentence: str, kind: str | None, question: str, expected: bool) -> None:
    assert has_answer_type(sentence, kind, question) is expected


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("How many Taliban prisoners were held?", "out of 13,000 to 14,000 prisoners", (1.0, 0.5)),
        ("How many people attended the rally?", "members held a rally in Kabul", (0.0, 0.5)),
        ("Which company employed him?", "a government contractor from Illinois", (0.5, 0.0)),
        ("Which journalist said it?", "said Sami Yousafzai, a journalist", (0.5, 1.0)),
        ("What did he say?", "He said many things.", (0.5, 0.5)),
    ],
)
def test_focus_match(question: str, sentence: str, expected: tuple[float, float]) -> None:
    assert focus_match(question, sentence, stem, STOPWORDS) == expected
