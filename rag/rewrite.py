"""Rule rewriting of a follow-up question into one that stands alone, over spaCy's parse (general English only).

Rules, in order:
1. A question with no earlier turn, or with nothing that leans on one, is returned unchanged.
2. Third-person pronouns and possessives ("he", "its", "their") and demonstratives ("this", "that
   command", "the same option") resolve to the salient entity of the earlier turns, newest first: the
   named entities and subject of the question as searched, then the answer's short span. Person pronouns
   take a PERSON entity, "it" anything else. A pronoun whose antecedent the question itself names in
   another clause ("Now, about the X command: what does it do?") is left alone: that is a topic switch.
3. A fragment with no verb ("And in 2019?", "What about the second batch?") is filled into the previous
   question's frame: it replaces the previous question's span of the same kind (an entity of the same
   label, a noun phrase with the same head, the prepositional phrase with the same preposition), else
   the previous question's topic (rag/ellipsis.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ingest.text import nlp
from rag.conversation import Turn
from rag.ellipsis import DEMONSTRATIVE, NAMED, OPENERS, OPENING_PAIRS, WH, fill_frame, is_fragment

__all__ = ["Rewrite", "clear_caches", "rewrite_question"]

# Reflexives ("itself", "himself") are left out: they always point inside their own clause.
_PERSON = frozenset({"he", "she", "him", "her", "his", "hers"})
_THING = frozenset({"it", "its"})
_PLURAL = frozenset({"they", "them", "their", "theirs"})
_POSSESSIVE = frozenset({"his", "her", "its", "their"})
_MARKER = re.compile(r"\s*\[\d+\]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_EXTRAPOSING = frozenset({
    "take", "takes", "took", "taken", "seem", "seems", "seemed", "appear", "appears", "appeared", "matter",
    "matters", "cost", "costs", "is", "was", "be", "are", "were", "'s",
})


@dataclass(frozen=True)
class Rewrite:
    """The standalone question and how it was reached ("unchanged", "pronoun", "ellipsis", "switch")."""

    question: str
    rule: str


@dataclass(frozen=True)
class _Mention:
    """A candidate antecedent from an earlier turn."""

    text: str
    label: str  # spaCy entity label, or "NOUN" for a noun phrase
    plural: bool


@lru_cache(maxsize=256)
def _parse(text: str) -> Any:
    return nlp()(text)


def rewrite_question(question: str, history: Sequence[Turn]) -> Rewrite:
    """The question rewritten to stand alone given the earlier turns (oldest first)."""
    if not history or not _may_lean(question):
        return Rewrite(question, "unchanged")
    doc = _parse(question)
    if is_fragment(doc):
        filled = fill_frame(doc, _parse(history[-1].searched))
        if filled is not None:
            resolved = _resolve(_parse(filled), history)
            return Rewrite(resolved or filled, "ellipsis")
    resolved = _resolve(doc, history)
    if resolved is None:
        return Rewrite(question, "switch" if _names_own_subject(doc) else "unchanged")
    return Rewrite(resolved, "pronoun")


def clear_caches() -> None:
    """Forget the parses kept of recent questions and answers (for benches)."""
    for cached in (_parse, _question_mentions, _answer_mentions, _asks_for_entity):
        cached.cache_clear()


def _may_lean(question: str) -> bool:
    """Whether the question holds a word the rules act on (a pronoun, a demonstrative, "same") or may be a
    fragment (it opens like one, or is a few words long); the others are left unchanged without parsing."""
    words = _WORD.findall(question.lower())
    if not words:
        return False
    if set(words) & (_PERSON | _THING | _PLURAL | DEMONSTRATIVE | {"same"}):
        return True
    return words[0] in OPENERS or tuple(words[:2]) in OPENING_PAIRS or len(words) <= 3


# ---- pronouns and demonstratives --------------------------------------------------------------------


def _resolve(doc: Any, history: Sequence[Turn]) -> str | None:
    """The question with its anaphors replaced, or None when none needed resolving."""
    edits: list[tuple[int, int, str]] = []  # (start char, end char, replacement)
    # mentions already put in: a later possessive of the same stays ("their paper"), and an object pronoun
    # never takes its clause's subject's referent ("did it start recommending them")
    named: set[str] = set()
    for token in doc:
        lower = token.lower_
        if lower in _PERSON | _THING | _PLURAL and token.tag_ in ("PRP", "PRP$"):
            if lower == "it" and _expletive(token):
                continue
            if _bound_inside(doc, token):
                continue
            possessive = token.tag_ == "PRP$"
            mention = _antecedent(history, lower, set() if possessive else named)
            if mention is None or (possessive and mention.text in named):
                continue
            named.add(mention.text)
            text = _possessive(mention.text) if lower in _POSSESSIVE and token.tag_ == "PRP$" else _as_argument(mention.text, token.i == 0)
            edits.append((token.idx, token.idx + len(token.text), text))
        elif lower in DEMONSTRATIVE and token.tag_ == "DT" and not _bound_inside(doc, token, set_off_only=True):
            edit = _demonstrative(doc, token, history)
            if edit is not None:
                edits.append(edit)
        elif lower == "same" and token.i > 0 and doc[token.i - 1].lower_ == "the" and token.head.pos_ in ("NOUN", "PROPN"):
            edit = _same(doc, token, history)
            if edit is not None:
                edits.append(edit)
    if not edits:
        return None
    text = doc.text
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _expletive(token: Any) -> bool:
    """"it" as a dummy subject: "Is it possible to ...", "How long does it take to ...", "it seems that"."""
    if token.dep_ == "expl":
        return True
    head = token.head
    # "it takes/seems/is ... to": a clause hung on the verb itself counts only for verbs that extrapose;
    # "when is it allowed to ..." raises a real subject
    extraposing = head.lower_ in _EXTRAPOSING
    clauses = [c for c in head.children if extraposing and c.dep_ in ("xcomp", "ccomp", "csubj", "advcl")]
    if token.dep_ == "nsubjpass":  # "it is assumed that ...", "is it confirmed that ..."
        clauses += [c for c in head.children if c.dep_ == "ccomp" and c.left_edge.lower_ in ("that", "whether")]
    for child in head.children:
        if child.dep_ in ("acomp", "attr"):
            clauses += [c for c in child.children if c.dep_ in ("xcomp", "ccomp")]
    # the extraposed clause opens with "to", "that" or "whether" (an adverbial one with "to" only)
    opens = {"to", "that", "whether"}
    return any(c.left_edge.lower_ in (opens if c.dep_ != "advcl" else {"to"}) for c in clauses)


def _bound_inside(doc: Any, pronoun: Any, set_off_only: bool = False) -> bool:
    """Whether the question itself names the pronoun's antecedent, before it: a phrase set off by
    punctuation ("Now, about the X command: what does it do?"), or one that binds a possessive or a
    clause's subject ("Did Ann say she ...", "the group and its members"). An object pronoun is not bound
    by its own clause's subject ("Does the tool support it?" asks about something earlier)."""
    possessive = pronoun.tag_ == "PRP$"
    subject = pronoun.dep_ in ("nsubj", "nsubjpass")
    if pronoun.lower_ in _PERSON and any(t.lower_ in ("who", "whom") for t in doc[: pronoun.i]):
        return not set_off_only  # "Who said he ...", "Who based it on his notes?": the person asked for
    for chunk in doc.noun_chunks:
        if chunk.end > pronoun.i:
            break
        root = chunk.root
        if root.lower_ in WH or root.tag_ in ("PRP", "PRP$", "WP", "WDT"):
            continue
        if _inside(pronoun, root) or not _fits(chunk, pronoun.lower_):
            continue
        if any(token.text in (":", ";", ",", "—", "–", "-") for token in doc[chunk.end : pronoun.i]):
            return True
        asked = any(token.lower_ in WH for token in chunk)  # "how many days": what is asked, not a referent
        if not set_off_only and (possessive or (subject and not asked)):
            return True
    return False


def _inside(token: Any, root: Any) -> bool:
    """Whether a token sits within the noun phrase headed by `root` ("the size of its cache"), not past a verb."""
    while token.head.i != token.i:
        token = token.head
        if token.i == root.i:
            return True
        if token.pos_ in ("VERB", "AUX"):
            return False
    return False


def _fits(chunk: Any, pronoun: str) -> bool:
    """Whether a noun phrase can be what the pronoun points at (person, thing, plural)."""
    if pronoun in _PERSON:
        return any(token.pos_ == "PROPN" or token.ent_type_ == "PERSON" for token in chunk)
    plural = chunk.root.tag_ in ("NNS", "NNPS")
    if pronoun in _PLURAL:
        return plural or any(token.ent_type_ in ("ORG", "NORP") for token in chunk)
    return not plural and not any(token.ent_type_ == "PERSON" for token in chunk)


def _names_own_subject(doc: Any) -> bool:
    """Whether the question names a subject of its own (a named entity or a proper noun)."""
    return bool(doc.ents) or any(token.pos_ == "PROPN" for token in doc)


def _antecedent(history: Sequence[Turn], pronoun: str, taken: set[str] | None = None) -> _Mention | None:
    """The salient mention of the earlier turns that fits the pronoun, newest turn first (not one `taken`)."""
    taken = taken or set()
    for turn in reversed(history):
        for mention in _mentions(turn):
            if mention.text in taken:
                continue
            if pronoun in _PERSON:
                if mention.label == "PERSON":
                    return mention
            elif pronoun in _THING:
                if mention.label not in ("PERSON", "NORP", "GROUP") and not mention.plural:
                    return mention
            elif mention.plural or mention.label in ("ORG", "NORP"):
                return mention
    if pronoun in _PLURAL:  # "they" for a singular group noun ("the committee")
        for turn in reversed(history):
            for mention in _mentions(turn):
                if mention.label != "PERSON" and mention.text not in taken:
                    return mention
    if pronoun in _PERSON:  # "Who is X?" asks about a person, whatever label the tagger gave the name
        for turn in reversed(history):
            if turn.searched.lower().startswith(("who is ", "who was ")):
                for mention in _question_mentions(turn.searched):
                    if mention.label in NAMED:
                        return mention
    return None


def _mentions(turn: Turn) -> Iterator[_Mention]:
    """Candidate antecedents of one turn, most salient first: the question's subject, its named
    entities and noun phrases, then the names in the answer (its short span, else its first sentence;
    first when the question asked for a name: the answer then names what the conversation is about).
    The answer is parsed only when the question's own mentions did not fit."""
    if _asks_for_entity(turn.searched):
        yield from _answer_mentions(_answer_span(turn))
        yield from _question_mentions(turn.searched)
    else:
        yield from _question_mentions(turn.searched)
        yield from _answer_mentions(_answer_span(turn))


def _answer_span(turn: Turn) -> str:
    """The part of the answer that may name something: its short span, else its first sentence."""
    if turn.short_answer:
        return turn.short_answer
    short = _short_of(turn.answer)
    if short:
        return short
    text = _MARKER.sub("", turn.answer.removeprefix("Possibly: ")).strip().strip("“”\"")
    return text[:300]


@lru_cache(maxsize=256)
def _asks_for_entity(question: str) -> bool:
    """"Who negotiated the deal?" asks for a name; "Who is X?" asks about X (a form of "be" heads it)."""
    doc = _parse(question)
    root = next((token for token in doc if token.dep_ == "ROOT"), None)
    copular = root is not None and root.lower_ in ("is", "are", "was", "were", "'s")
    return doc[0].lower_ in ("who", "whom") and not copular


@lru_cache(maxsize=256)
def _question_mentions(question: str) -> tuple[_Mention, ...]:
    doc = _parse(question)
    found: list[tuple[int, _Mention]] = []
    covered: set[int] = set()
    for ent in doc.ents:
        # a name that only modifies a noun ("the X keyword", "which X version") is read with its phrase
        if ent.label_ in NAMED and ent.root.dep_ not in ("compound", "amod", "nmod"):
            rank = 0 if ent.root.dep_ in ("nsubj", "nsubjpass") else 1
            found.append((rank, _Mention(_entity_text(ent), ent.label_, ent.root.tag_ in ("NNS", "NNPS"))))
            covered.update(range(ent.start, ent.end))
    for chunk in doc.noun_chunks:
        root = chunk.root
        if root.i in covered or root.pos_ == "PRON" or root.tag_ in ("WP", "WDT", "PRP", "PRP$"):
            continue
        # "which version", "how many days": the slot the question asks to fill, not something it is about
        if any(t.lower_ in WH for t in chunk) or not any(t.pos_ in ("NOUN", "PROPN") for t in chunk):
            continue
        rank = 0 if root.dep_ in ("nsubj", "nsubjpass") else 2
        found.append((rank, _Mention(_phrase(root), "NOUN", root.tag_ in ("NNS", "NNPS"))))
    return tuple(mention for _, mention in sorted(found, key=lambda pair: pair[0]))


def _phrase(root: Any) -> str:
    """A noun with its left modifiers and an "of"/"for" phrase ("the first batch", "the purpose of the
    keyword": the phrase names what is meant), leading wh-words dropped."""
    start, end = root.i, root.i + 1
    for child in root.lefts:
        if child.dep_ in ("amod", "compound", "nmod", "nummod", "det", "poss", "npadvmod"):
            start = min(start, child.left_edge.i)
    for child in root.rights:
        if child.dep_ == "prep" and child.lower_ in ("of", "for") and child.right_edge.i - start < 12:
            end = child.right_edge.i + 1
            break
    doc = root.doc
    while start < root.i and doc[start].lower_ in WH | DEMONSTRATIVE | {"many", "much"}:
        start += 1
    while end > root.i + 1 and doc[end - 1].is_punct:
        end -= 1
    return doc[start:end].text


@lru_cache(maxsize=256)
def _answer_mentions(short: str) -> tuple[_Mention, ...]:
    if not short:
        return ()
    doc = _parse(short)
    named = [ent for ent in doc.ents if ent.label_ in NAMED]
    mentions = [_Mention(_entity_text(ent), ent.label_, False) for ent in named]
    words = [token for token in doc if not token.is_punct]
    labels = {ent.label_ for ent in named}
    if named and len(words) <= 6 and "PERSON" not in labels and not any(t.dep_ == "cc" for t in doc):
        # a short answer that is one name, however the tagger cut it ("US" + "Library of Congress")
        mentions.insert(0, _Mention(doc.text.strip(), "ORG" if "ORG" in labels else named[0].label_, False))
    if len(named) > 1 and len({ent.label_ for ent in named}) == 1 and any(t.dep_ == "cc" for t in doc):
        # "A and B": the pair is what "they" points at
        mentions.insert(0, _Mention(doc[named[0].start : named[-1].end].text, "GROUP", True))
    return tuple(mentions)


def _short_of(answer: str) -> str:
    """The short span an extractive answer shows before its quoted sentence ("Name — “...” [1]")."""
    head, dash, _ = answer.partition(" — ")
    return head.removeprefix("Possibly: ").strip() if dash else ""


def _entity_text(ent: Any) -> str:
    """An entity as it reads in place of a pronoun: a possessive "'s" dropped, a person without "the",
    anything else with the "the" the text gave it ("the committee")."""
    text = re.sub(r"['’]s?$", "", ent.text).strip()
    if ent.label_ == "PERSON":
        return text[4:] if text.lower().startswith("the ") else text
    before = ent.doc[ent.start - 1] if ent.start > 0 else None
    return f"{before.text} {text}" if before is not None and before.lower_ == "the" else text


def _possessive(text: str) -> str:
    return f"{text}'" if text.endswith("s") and not text.endswith("ss") else f"{text}'s"


def _as_argument(text: str, first: bool) -> str:
    """A noun phrase standing in for a pronoun: "a table" reads "the table"; the case of a first word kept."""
    words = text.split(" ", 1)
    if len(words) == 2 and words[0].lower() in ("a", "an"):
        text = f"the {words[1]}"
    return text[0].upper() + text[1:] if first else text


def _demonstrative(doc: Any, token: Any, history: Sequence[Turn]) -> tuple[int, int, str] | None:
    """ "this command" / "that" as a pronoun, resolved to the earlier mention it points at."""
    if token.dep_ == "det" and token.head.pos_ in ("NOUN", "PROPN"):
        noun = token.head
        for turn in reversed(history):
            for mention in _mentions(turn):
                if noun.lower_ in mention.text.lower().split() or noun.lower_.rstrip("s") in mention.text.lower():
                    return (token.idx, noun.idx + len(noun.text), _as_argument(_definite(mention.text), token.i == 0))
        return None
    # a bare "that" standing for a thing; "those grappling with ..." or "that which ..." is not one
    if token.dep_ in ("nsubj", "nsubjpass", "dobj", "pobj", "attr") and not list(token.children) and not _expletive(token):
        mention = _antecedent(history, "it")
        if mention is not None:
            return (token.idx, token.idx + len(token.text), _as_argument(mention.text, token.i == 0))
    return None


def _same(doc: Any, token: Any, history: Sequence[Turn]) -> tuple[int, int, str] | None:
    """ "the same option" -> the earlier mention with that head."""
    noun = token.head
    for turn in reversed(history):
        for mention in _mentions(turn):
            if noun.lower_ in mention.text.lower().split():
                start = doc[token.i - 1].idx
                return (start, noun.idx + len(noun.text), _as_argument(_definite(mention.text), token.i == 1))
    return None


def _definite(text: str) -> str:
    first = text.split(" ", 1)[0].lower()
    if first in ("a", "an", "the") or text[:1].isupper():
        return text
    return f"the {text}"
