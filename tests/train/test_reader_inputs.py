"""The trainer's inputs: the answer's characters map to the right tokens of the context."""

from __future__ import annotations

from train.reader import _span_tokens, _tokenizer, context_of, encode


def test_context_keeps_the_sentence_between_the_ends_of_its_neighbours() -> None:
    context, offset = context_of("First one here.", "The planner chooses a plan.", "Then it runs.")
    assert context == "First one here. The planner chooses a plan. Then it runs."
    assert context[offset:].startswith("The planner")


def test_answer_characters_map_to_their_tokens() -> None:
    tokenizer = _tokenizer()
    sentence = "The planner chooses the cheapest plan for each query."
    encoding, offset = encode(tokenizer, "What does the planner choose?", "Before.", sentence, "After.")
    start = sentence.index("the cheapest plan")
    first, last = _span_tokens(encoding, start + offset, start + offset + len("the cheapest plan"))
    assert tokenizer.decode(encoding.ids[first:last + 1]) == "the cheapest plan"
    assert encoding.type_ids[first] == 1  # inside the context, not the question


def test_thinned_questions_keep_their_question_word_and_are_reproducible() -> None:
    import random

    from train.reader import thinned

    question = "What does the query planner choose for each query?"
    first = thinned(question, 0.5, random.Random(4))
    assert first == thinned(question, 0.5, random.Random(4))
    assert first.startswith("What ") and len(first.split()) < len(question.split())
    assert thinned(question, 0.0, random.Random(4)) == question
    assert thinned("Why?", 0.9, random.Random(4)) == "Why?"
