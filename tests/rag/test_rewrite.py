"""The rule rewriter over the real spaCy pipeline: pronouns, demonstratives, fragments, topic switches."""

from __future__ import annotations

import pytest

from rag.conversation import Turn
from rag.rewrite import rewrite_question

# Invented conversations (no eval corpus): (earlier turns, follow-up, expected standalone question)
_CASES = [
    # a person pronoun takes the person the earlier question named
    ([Turn("Who is Anna Lindqvist?")], "Where was she born?", "Where was Anna Lindqvist born?"),
    # a possessive
    ([Turn("Who is Anna Lindqvist?")], "What was her first job?", "What was Anna Lindqvist's first job?"),
    # "who" asked: the answer's name is what "he" points at
    (
        [Turn("Who designed the harbour bridge?", "Tomas Berg — “Tomas Berg designed it.” [1]")],
        "When did he die?",
        "When did Tomas Berg die?",
    ),
    # "it" takes the earlier question's subject, a noun phrase
    ([Turn("What does the rebuild command do?")], "How long does it run?", "How long does the rebuild command run?"),
    # a plural pronoun takes a plural noun phrase
    ([Turn("When will the first volunteers arrive?")], "Where will they sleep?", "Where will the first volunteers sleep?"),
    # a fragment is filled into the previous question's frame: a date replaces a date
    ([Turn("How many visitors came in March?")], "And in April?", "How many visitors came in April?"),
    # a noun phrase replaces the phrase with the same head
    ([Turn("What is the maximum file size?")], "And the maximum line length?", "What is the maximum line length?"),
    ([Turn("What can a small garden be used for?")], "What about a rooftop garden?", "What can a rooftop garden be used for?"),
    # the third turn leans on the second turn's rewording
    (
        [Turn("Who is Anna Lindqvist?"), Turn("Where was she born?", standalone="Where was Anna Lindqvist born?")],
        "When did she move away?",
        "When did Anna Lindqvist move away?",
    ),
]

_UNCHANGED = [
    # stands alone
    ([Turn("Who is Anna Lindqvist?")], "What is the boiling point of water at sea level?"),
    # "it" as a dummy subject
    ([Turn("What does the rebuild command do?")], "Is it possible to pause a running backup?"),
    ([Turn("What does the rebuild command do?")], "How long does it take to copy the archive?"),
    # a topic switch names its own subject, set off before the pronoun
    ([Turn("What does the rebuild command do?")], "Now, about the Orbit tool: what does it measure?"),
    ([Turn("Who is Anna Lindqvist?")], "And Peter Holm: where does he live?"),
]


@pytest.mark.parametrize(("history", "question", "expected"), _CASES)
def test_rewrite_question_resolves_follow_up(history: list[Turn], question: str, expected: str) -> None:
    assert rewrite_question(question, history).question == expected


@pytest.mark.parametrize(("history", "question"), _UNCHANGED)
def test_rewrite_question_leaves_standalone_question(history: list[Turn], question: str) -> None:
    assert rewrite_question(question, history).question == question


def test_rewrite_question_without_history_is_the_question() -> None:
    rewrite = rewrite_question("Where was she born?", [])
    assert (rewrite.question, rewrite.rule) == ("Where was she born?", "unchanged")


def test_rewrite_question_names_its_rule() -> None:
    history = [Turn("How many visitors came in March?")]
    assert rewrite_question("And in April?", history).rule == "ellipsis"
    assert rewrite_question("Why did they come?", history).rule == "pronoun"


def test_rewrite_question_keeps_a_second_possessive_of_the_same_pair() -> None:
    history = [Turn("Who wrote the survey?", "Ada Moss and Ben Lake — “Ada Moss and Ben Lake wrote it.” [1]")]
    assert rewrite_question("When did they publish their survey?", history).question == (
        "When did Ada Moss and Ben Lake publish their survey?"
    )
