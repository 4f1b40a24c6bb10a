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
