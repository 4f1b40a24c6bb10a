"""Role swaps (rag.reader.syntax): a question word missing from the sentence, another word in its slot."""

from __future__ import annotations

import pytest

from rag.reader.confidence import confidence_row
from rag.reader.question import analyse_question
from rag.reader.syntax import parse_sentence, swaps


@pytest.mark.parametrize(
    ("question", "sentence", "swapped"),
    [
        # another filler of the same slot: subject, compound, adjective, a preposition's object
        ("Which file does zsh read at exit?", "At exit, Bash reads the file ~/.bash_logout.", 1.0),
        ("Who wrote the original libpng implementation?", "The original zlib implementation was written by Jean-loup Gailly.", 1.0),
        ("What can be viewed as a limited collection of instances?", "A problem can be viewed as an infinite collection of instances.", 1.0),
        ("What is the default setting for MAX_INDEX_COLUMNS?", "The default setting for MAX_COLUMN is 2000.", 1.0),
        # the question's words are all there, or the slot is empty, or the anchor is absent: no swap
        ("Which file does Bash read at exit?", "At exit, Bash reads the file ~/.bash_logout.", 0.0),
        ("What is the default setting for MAX_COLUMN?", "The default setting for MAX_COLUMN is 2000.", 0.0),
        ("Who designed the lighthouse?", "It was designed by the engineer Margaret Osgood.", 0.0),
        ("Which file does zsh read at exit?", "The lighthouse was first lit in 1872.", 0.0),
        # the noun of "which X" / "what X" is the slot the answer fills: the sentence's word there is the
        # answer, not a swap (a title for a name, a kind for an instance) ...
        ("Which official signed the harbour treaty?", "The mayor signed the harbour treaty in June.", 0.0),
        ("What company built the north bridge?", "Acme Works built the north bridge.", 0.0),
        # ... while another word of the question in its own slot still swaps
        ("Which official signed the harbour treaty?", "The mayor signed the airport treaty in June.", 1.0),
    ],
)
def test_swaps(question: str, sentence: str, swapped: float) -> None:
    assert swaps(analyse_question(question).roles, parse_sentence(sentence)) == swapped


def test_confidence_row_reads_the_swap_of_the_best_sentence() -> None:
    from rag.reader.sentences import Candidate

    analysis = analyse_question("Who wrote the original libpng implementation?")
    features = dict.fromkeys(("dense", "lex", "ctx", "pred", "typed", "focus", "ent_cover", "conflict", "neg_mismatch", "fragment"), 0.5)
    chunk = {"key": 0.5, "missing": 0.0, "ent_ctx": 0.5}
    best = Candidate(0, 0, "The original zlib implementation was written by Jean-loup Gailly.", (), features, chunk, 0.9)
    other = Candidate(0, 1, "It was written in C.", (), features, chunk, 0.1)
    assert confidence_row(analysis, [best, other])["swap"] == 1.0
    assert confidence_row(analysis, [other, best])["swap"] == 0.0
