"""The question generator asks real questions of parsed sentences, with the span that answers them."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import pytest

from ingest.text import SPACY_MODEL, import_spacy
from train.questions import generate, swapped_entity, swapped_number


@lru_cache(maxsize=1)
def _nlp() -> Any:
    return import_spacy().load(SPACY_MODEL)


def _questions(text: str) -> dict[str, tuple[str, str, str]]:
    sent = next(_nlp()(text).sents)
    return {item.kind: (item.question, item.answer, item.negated) for item in generate(sent)}


@pytest.mark.parametrize(
    ("sentence", "kind", "question", "answer"),
    [
        ("The planner chooses the cheapest plan for each query.", "object", "What does the planner choose?",
         "the cheapest plan for each query"),
        ("The planner chooses the cheapest plan for each query.", "subject",
         "What chooses the cheapest plan for each query?", "The planner"),
        ("Three background processes write dirty pages to disk.", "how-many",
         "How many background processes write dirty pages to disk?", "Three"),
        ("A view is a virtual table defined by a query.", "definition", "What is a view?",
         "a virtual table defined by a query"),
        ("The cleaner skips the table because it is locked by another session.", "why",
         "Why does the cleaner skip the table?", "because it is locked by another session"),
    ],
)
def test_generate_asks_for_a_span_of_the_sentence(sentence: str, kind: str, question: str, answer: str) -> None:
    found = _questions(sentence)
    assert found[kind][:2] == (question, answer)
    assert answer in sentence


def test_generate_negates_the_relation_as_a_near_miss() -> None:
    assert _questions("The planner chooses the cheapest plan for each query.")["object"][2] == (
        "What does the planner not choose?"
    )


def test_generate_skips_pronoun_subjects_and_fragments() -> None:
    assert _questions("It returns the value.") == {}
    assert _questions("See the table below") == {}


def test_near_misses_change_an_entity_or_a_number() -> None:
    rng = random.Random(1)
    sent = next(_nlp()("Alice Baker wrote the first version in 1998.").sents)
    swapped = swapped_entity("Who wrote the first version in 1998?", sent, [("2004", "DATE"), ("1998", "DATE")], rng)
    assert swapped == "Who wrote the first version in 2004?"
    changed = swapped_number("How many workers start in 1998?", rng)
    assert changed is not None and changed != "How many workers start in 1998?" and "1998" not in changed
