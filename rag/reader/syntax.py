"""The parse helpers the reader shares: a sentence's spaCy parse, dependency groups, content stems, roles.

Who does what to whom: a near-miss question is one the documents almost answer: it asks who built the
north bridge where the text says who built the south one, or what the small model weighs where it gives
the large one's weight. The sentence then has the question's predicate or head word, with *another*
word in the slot the question's word fills. spaCy's dependency parse (the question's at analysis, the
chosen sentence's at answer time) finds that slot: a question word absent from the sentence, its
governing word present there, and a different word under it by the same relation is a swap. Only
syntax and general English are used.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ingest.text import STOPWORDS, nlp, stem

__all__ = ["DEP_GROUPS", "Role", "content_stem", "dep_group", "parse_sentence", "question_roles", "swaps"]

#: (stem of the question's word, relation to its anchor, stem of the anchor). The relation is the
#: dependency label, with a preposition folded in ("for>pobj"): the anchor of "setting for X" is
#: "setting", not "for".
Role = tuple[str, str, str]

_CONTENT = frozenset({"NOUN", "PROPN", "NUM", "ADJ"})
# the passive subject fills the subject's slot of the same verb
_SAME_SLOT = {"nsubjpass": "nsubj", "obj": "dobj"}

DEP_GROUPS = ("subj", "obj", "pobj", "attr", "appos", "conj", "mod", "root", "clause", "adv", "prep", "other")
_DEP_GROUPS = {
    **dict.fromkeys(["nsubj", "nsubjpass", "csubj", "csubjpass", "expl"], "subj"),
    **dict.fromkeys(["dobj", "dative", "oprd", "obj"], "obj"),
    "pobj": "pobj",
    **dict.fromkeys(["attr", "acomp"], "attr"),
    "appos": "appos",
    "conj": "conj",
    **dict.fromkeys(["amod", "nummod", "compound", "poss", "nmod", "quantmod"], "mod"),
    "ROOT": "root",
    **dict.fromkeys(["ccomp", "xcomp", "advcl", "relcl", "acl", "pcomp"], "clause"),
    **dict.fromkeys(["advmod", "npadvmod"], "adv"),
    **dict.fromkeys(["prep", "agent"], "prep"),
}


def dep_group(dep: str) -> str:
    """The coarse group of a spaCy dependency label (one of DEP_GROUPS)."""
    return _DEP_GROUPS.get(dep, "other")


@lru_cache(maxsize=256)
def parse_sentence(sentence: str) -> Any:
    """The sentence parsed by spaCy's tagger and parser (the entities come from ingest); cached, as the
    confidence (swaps) and the span model read the same chosen sentence. Treat the Doc as read-only."""
    # `disable` per call, not select_pipes: the pipeline is shared with other threads (ingest.text.annotate)
    return nlp()(sentence, disable=["ner"])


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


def _asks_for(token: Any) -> bool:
    """Whether a word is the noun a "which" / "what" determiner asks about."""
    return any(child.dep_ == "det" and child.lower_ in ("which", "what") for child in token.children)


def content_stem(token: Any) -> str:
    """A token's stem, "" for a stopword or punctuation."""
    return "" if token.is_punct or token.lower_ in STOPWORDS else stem(token.lower_)


def question_roles(doc: Any) -> tuple[Role, ...]:
    """The roles of a parsed question's content words (nouns, names, numbers, adjectives). The noun of a
    "which X" / "what X" phrase is left out: its slot is the one the answer fills, so the sentence's word
    there is the answer, not a swap ("Which official signed it?" against "The mayor signed it")."""
    out = []
    for token in doc:
        if token.pos_ not in _CONTENT or not content_stem(token) or _asks_for(token):
            continue
        slot = _slot(token)
        if slot is None or not content_stem(slot[1]):
            continue
        out.append((content_stem(token), slot[0], content_stem(slot[1])))
    return tuple(out)


def swaps(roles: tuple[Role, ...], sentence: Any) -> float:
    """1.0 when a question word absent from the parsed `sentence` has its anchor there with another
    content word in its slot (a swap), else 0.0.

    Measured leave-one-corpus-out (docs): a second feature for swapped names, numbers and codes alone
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
