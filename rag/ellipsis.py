"""Rule 3 of the follow-up rewriter (rag.rewrite): a fragment with no verb ("And in 2019?", "What about the
second batch?") is filled into the previous question's frame, in the place of the span of the same kind (an
entity of the same label, a noun phrase with the same head, the phrase with the same preposition), else of
the previous question's topic. General English only, over spaCy's parse.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEMONSTRATIVE", "NAMED", "OPENERS", "OPENING_PAIRS", "WH", "content_start", "fill_frame", "is_fragment"]

DEMONSTRATIVE = frozenset({"this", "that", "these", "those"})
NAMED = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})
_NUMERIC = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL"})
_TEMPORAL = frozenset({"DATE", "TIME"})
# Words that open a fragment without carrying its content: "And ...?", "What about ...?", "Now, ...".
_LEADS = frozenset({"and", "but", "so", "now", "then", "also", "what", "how", "about", "of", "ok", "okay", "well"})
OPENING_PAIRS = frozenset({("what", "about"), ("how", "about"), ("what", "of")})
OPENERS = frozenset({"and", "but", "so", "now", "also", "then", "or", "plus", "about"})
WH = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})


def content_start(chunk: Any) -> int:
    """Where a noun phrase's content begins: after a leading wh-word, quantifier or demonstrative."""
    start = chunk.start
    while start < chunk.end - 1 and (chunk.doc[start].lower_ in WH | DEMONSTRATIVE | {"many", "much"}):
        start += 1
    return start


def is_fragment(doc: Any) -> bool:
    """A question with no verb of its own that opens like a follow-up ("And in 2019?", "What about the
    second batch?") or is a few words long ("The second batch?")."""
    if any(token.tag_ in ("VBD", "VBP", "VBZ", "MD", "VB") or token.dep_ == "ROOT" and token.pos_ == "VERB" for token in doc):
        return False
    if not any(token.pos_ in ("NOUN", "PROPN", "NUM") or token.ent_type_ for token in doc):
        return False
    words = [token.lower_ for token in doc if not token.is_punct]
    opening = words[0] in OPENERS or tuple(words[:2]) in OPENING_PAIRS
    return opening or len(words) <= 3


def _focus(doc: Any) -> Any:
    """The fragment's content: its span after the lead words and before the closing punctuation."""
    start, end = 0, len(doc)
    while start < end and (doc[start].lower_ in _LEADS or doc[start].is_punct):
        start += 1
    while end > start and doc[end - 1].is_punct:
        end -= 1
    return doc[start:end]


def fill_frame(doc: Any, frame: Any) -> str | None:
    """The previous question (`frame`, parsed) with the fragment's focus put in the place of the span it replaces."""
    focus = _focus(doc)
    if not len(focus):
        return None
    replaced = _slot(frame, focus)
    body = frame.text.rstrip(" ?.!")
    if replaced is None:
        return f"{body} {focus.text}?"
    start, end = replaced
    return (frame.text[:start] + _focus_text(focus, frame, start) + frame.text[end:]).strip()


def _focus_text(focus: Any, frame: Any, start: int) -> str:
    """The focus as it reads in place (a leading preposition dropped when the frame keeps its own)."""
    text = focus.text
    if focus[0].pos_ == "ADP" and start > 0 and frame.text[:start].rstrip().lower().split()[-1:] == [focus[0].lower_]:
        text = focus[1:].text
    return text


def _slot(frame: Any, focus: Any) -> tuple[int, int] | None:
    """Character range of the frame's span that the focus replaces (None: append the focus)."""
    ents = list(focus.ents)
    if focus[0].pos_ == "ADP":  # "in the second batch": the frame's phrase with the same preposition
        for token in frame:
            if token.pos_ == "ADP" and token.lower_ == focus[0].lower_ and token.right_edge.i > token.i:
                return (frame[token.i + 1].idx, frame[token.right_edge.i].idx + len(frame[token.right_edge.i].text))
        return _same_kind(frame, ents[0].label_) if ents else None
    head = focus.root
    if head.pos_ in ("NOUN", "PROPN") and not head.ent_type_:
        for chunk in frame.noun_chunks:
            if chunk.root.lower_ == head.lower_ or (head.lemma_ and chunk.root.lemma_ == head.lemma_):
                end = chunk.end_char
                for child in chunk.root.rights:  # "the number of bytes": the "of" phrase goes with it
                    if child.dep_ == "prep" and child.lower_ in ("of", "for"):
                        last = frame[child.right_edge.i]
                        end = last.idx + len(last.text)
                        break
                return (chunk.start_char, end)
    if ents:
        found = _same_kind(frame, ents[0].label_)
        if found is not None:
            return found
    topic = _topic(frame)
    return (topic.start_char, topic.end_char) if topic is not None else None


def _same_kind(frame: Any, label: str) -> tuple[int, int] | None:
    """The frame's entity with the same label, else one of the same group (numbers, times, names)."""
    for group in ((label,), _group(label)):
        for ent in frame.ents:
            if ent.label_ in group:
                return (ent.start_char, ent.end_char)
    return None


def _group(label: str) -> frozenset[str]:
    for group in (_NUMERIC, _TEMPORAL, NAMED):
        if label in group:
            return group
    return frozenset({label})


def _topic(frame: Any) -> Any:
    """The previous question's topic: its first named entity, else its subject or object noun phrase."""
    for ent in frame.ents:
        if ent.label_ in NAMED:
            return ent
    chunks = [c for c in frame.noun_chunks if c.root.lower_ not in WH and c.root.pos_ != "PRON"]
    for chunk in chunks:
        if chunk.root.dep_ in ("nsubj", "nsubjpass"):
            return frame[content_start(chunk) : chunk.end]
    return frame[content_start(chunks[-1]) : chunks[-1].end] if chunks else None
