"""Who does what to whom: the question's words by their syntactic role, and the swaps a sentence makes.

A near-miss question is one the documents almost answer: it asks who built the north bridge where the
text says who built the south one, or what the small model weighs where it gives the large one's weight. The sentence
then has the question's predicate or head word, with *another* word in the slot the question's word
fills. spaCy's dependency parse (the question's at analysis, the chosen sentence's at answer time)
finds that slot: a question word absent from the sentence, its governing word present there, and a
different word under it by the same relation is a swap. Only syntax and general English are used.
"""

from __future__ import annotations

from typing import Any

from ingest.text import STOPWORDS, stem

__all__ = ["Role", "content_stem", "question_roles", "swaps"]

#: (stem of the question's word, relation to its anchor, stem of the anchor). The relation is the
#: dependency label, with a preposition folded in ("for>pobj"): the anchor of "setting for X" is
#: "setting", not "for".
Role = tuple[str, str, str]

_CONTENT = frozenset({"NOUN", "PROPN", "NUM", "ADJ"})
# the passive subject fills the subject's slot of the same verb
_SAME_SLOT = {"nsubjpass": "nsubj", "obj": "dobj"}


def _slot(token: Any) -> tuple[str, Any] | None:
    """(relation, anchor token) of a word: its dependency to its head, through a preposition."""
    head = token.head
    if head.i == token.i:
        return None
    relation = _SAME_SLOT.get(token.dep_, token.dep_)
    if head.pos_ == "ADP":
        if head.head.i == head.i:
            return None
        relation, head = f"{head.lower_}>{relation}", head.head
    return relation, head


def content_stem(token: Any) -> str:
    """A token's stem, "" for a stopword or punctuation."""
    return "" if token.is_punct or token.lower_ in STOPWORDS else stem(token.lower_)


def question_roles(doc: Any) -> tuple[Role, ...]:
    """The roles of a parsed question's content words (nouns, names, numbers, adjectives)."""
    out = []
    for token in doc:
        if token.pos_ not in _CONTENT or not content_stem(token):
            continue
        slot = _slot(token)
        if slot is None or not content_stem(slot[1]):
            continue
        out.append((content_stem(token), slot[0], content_stem(slot[1])))
    return tuple(out)


def swaps(roles: tuple[Role, ...], sentence: Any) -> float:
    """1.0 when a question word absent from the parsed `sentence` has its anchor there with another
    content word in its slot (a swap), else 0.0.

    Measured leave-one-corpus-out (README): a second feature for swapped names, numbers and codes alone
    lowered the mean held-out dev AUROC, so it is not kept."""
    stems = [content_stem(token) for token in sentence]
    present = set(stems)
    asked = {word for word, _, _ in roles}
    fillers: dict[tuple[str, str], set[str]] = {}
    for token, word in zip(sentence, stems):
        slot = _slot(token) if token.pos_ in _CONTENT and word else None
        if slot is not None:
            fillers.setdefault((slot[0], content_stem(slot[1])), set()).add(word)
    found = any(
        word not in present and anchor in present and fillers.get((relation, anchor), set()) - asked
        for word, relation, anchor in roles
    )
    return 1.0 if found else 0.0
