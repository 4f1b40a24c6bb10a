"""Wh-questions from a parsed sentence, each with the span that answers it, and their near-miss variants.

Rules over spaCy's dependency parse (general English, no word lists from any corpus):
- subject: "<wh> <the rest of the clause>?", the subject is the answer;
- object: "<wh> <aux or do> <subject> <verb> <the rest>?", the direct object is the answer;
- when / where: a date, time or place in a prepositional phrase of the verb is asked for;
- how many: a number that counts the subject or the object is asked for;
- why: a clause introduced by "because" or "since" is the answer;
- definition: "X is Y" gives "What is X?" with Y the answer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Generated", "generate", "substituted", "swapped_entity", "swapped_number"]

Token = Any  # spacy.tokens.Token
Span = Any  # spacy.tokens.Span


@dataclass(frozen=True)
class Generated:
    """A question and the character span of its sentence that answers it."""

    question: str
    answer: str
    start: int
    end: int
    kind: str
    # the same question about the opposite relation ("What does X not return?"), a near-miss; "" when none
    negated: str = ""


_WH_PLACE_TIME = {"DATE": "When", "TIME": "When", "GPE": "Where", "LOC": "Where", "FAC": "Where"}
_CAUSE_MARKS = {"because", "since"}
_SUBJECTS = {"nsubj", "nsubjpass"}
_PRESENT_PLURAL = {"are": "is", "were": "was", "have": "has", "do": "does"}


def _text(tokens: Iterable[Token]) -> str:
    return "".join(token.text_with_ws for token in tokens).strip()


def _third_person(verb: str) -> str:
    """The present third-person singular of a plural present verb ("return" -> "returns")."""
    lower = verb.lower()
    if lower in _PRESENT_PLURAL:
        return _PRESENT_PLURAL[lower]
    if re.search(r"(s|sh|ch|x|z|o)$", lower):
        return verb + "es"
    if re.search(r"[^aeiou]y$", lower):
        return verb[:-1] + "ies"
    return verb + "s"


def _lower_first(tokens: Sequence[Token]) -> str:
    """A span's text with its first word lowercased unless it is a name or an acronym."""
    text = _text(tokens)
    first = tokens[0]
    common = first.pos_ != "PROPN" and (not first.ent_type_ or first.like_num) and first.text[1:] == first.text[1:].lower()
    if first.i == first.sent.start and common:
        return text[:1].lower() + text[1:]
    return text


def _is_pronoun(span_root: Token) -> bool:
    return bool(span_root.pos_ == "PRON" or span_root.tag_ in ("WDT", "WP", "EX"))


def _wh_for(head: Token) -> str:
    return "Who" if head.ent_type_ == "PERSON" else "What"


def _span(sent: Span, tokens: Sequence[Token]) -> tuple[int, int]:
    return tokens[0].idx - sent.start_char, tokens[-1].idx + len(tokens[-1].text) - sent.start_char


def _inverted(root: Token, subject: Sequence[Token], excluded: set[int], wh: str, negate: bool = False) -> str | None:
    """<wh> <aux or do> <subject> <verb> <rest>?: the clause asked about one of its parts."""
    auxes = [child for child in root.children if child.dep_ in ("aux", "auxpass") and child.i < root.i]
    negation = [child for child in root.children if child.dep_ == "neg"]
    end_of_subject = subject[-1].i
    middle = [
        token for token in root.sent
        if end_of_subject < token.i < root.i and token not in auxes and token.i not in excluded
    ]
    if auxes:
        lead, verb = auxes[0].text.lower(), _text([*auxes[1:], *negation, root])
        middle = [token for token in middle if token not in negation]
    elif root.lemma_ == "be":
        lead, verb = root.text.lower(), _text(negation)
        middle = [token for token in middle if token not in negation]
    else:
        do = {"VBD": "did", "VBZ": "does", "VBP": "do", "VB": "do"}.get(root.tag_)
        if do is None or not root.lemma_:
            return None
        lead, verb = do, _text([*negation, root]) if negation else root.lemma_
        if negation:
            verb = _text(negation) + " " + root.lemma_
            middle = [token for token in middle if token not in negation]
    if negate:
        if negation:
            return None
        verb = "not " + verb if verb else "not"
    rest = [
        token for token in root.sent
        if token.i > root.i and token.i not in excluded and not (token.is_punct and token.i == root.sent.end - 1)
    ]
    parts = [wh, lead, _lower_first(subject), _text(middle), verb, _text(rest)]
    return _question(" ".join(part for part in parts if part))


def _question(text: str) -> str:
    text = re.sub(r"\s+([,;:.])", r"\1", re.sub(r"\s+", " ", text)).strip(" ,;:")
    return text[:1].upper() + text[1:] + "?"


def _usable(sent: Span) -> bool:
    words = [token for token in sent if token.is_alpha]
    return 6 <= len(sent) <= 45 and len(words) >= 0.6 * len(sent) and sent.text.rstrip().endswith(".")


def generate(sent: Span) -> list[Generated]:
    """Every question the rules can ask of one parsed sentence."""
    if not _usable(sent):
        return []
    root = sent.root
    if root.pos_ not in ("VERB", "AUX"):
        return []
    subjects = [child for child in root.children if child.dep_ in _SUBJECTS]
    if len(subjects) != 1 or _is_pronoun(subjects[0]):
        return []
    subject = list(subjects[0].subtree)
    out: list[Generated] = []

    def add(question: str | None, tokens: Sequence[Token], kind: str, negated: str | None = None) -> None:
        if question is None or not tokens:
            return
        start, end = _span(sent, tokens)
        answer = sent.text[start:end]
        if answer.lower() in question.lower() or len(question.split()) < 4:
            return
        out.append(Generated(question, answer, start, end, kind, negated or ""))

    # The subject, when the clause after it reads as a question on its own.
    after = [token for token in sent if token.i > subject[-1].i and not (token.is_punct and token.i == sent.end - 1)]
    if after and after[0].i >= root.i - 2:
        words = [token.text_with_ws for token in after]
        verb_at = next((k for k, token in enumerate(after) if token.dep_ in ("aux", "auxpass") or token is root), 0)
        if after[verb_at].tag_ == "VBP" or after[verb_at].text.lower() in _PRESENT_PLURAL:
            words[verb_at] = _third_person(after[verb_at].text) + after[verb_at].whitespace_
        add(_question(_wh_for(subjects[0]) + " " + "".join(words)), subject, "subject")

    for child in root.children:
        tokens = list(child.subtree)
        ids = {token.i for token in tokens}
        if child.dep_ == "dobj" and not _is_pronoun(child):
            wh = _wh_for(child)
            add(_inverted(root, subject, ids, wh), tokens, "object", _inverted(root, subject, ids, wh, negate=True))
            counts = [token for token in child.children if token.dep_ == "nummod" and token.like_num]
            counts = counts if child.tag_ == "NNS" else []
            if counts:
                noun = [token for token in tokens if token not in counts[0].subtree]
                add(_inverted(root, subject, ids, "How many " + _text(noun)), list(counts[0].subtree), "how-many")
        elif child.dep_ == "attr" and root.lemma_ == "be" and len(subject) <= 6 and not _is_pronoun(child):
            add(_question(f"What {root.text.lower()} {_lower_first(subject)}"), tokens, "definition")
        elif child.dep_ == "prep":
            objects = [token for token in child.children if token.dep_ == "pobj"]
            if objects and objects[0].ent_type_ in _WH_PLACE_TIME:
                wh = _WH_PLACE_TIME[objects[0].ent_type_]
                answer = [token for token in objects[0].subtree if token.ent_type_ == objects[0].ent_type_]
                add(_inverted(root, subject, ids, wh), answer or list(objects[0].subtree), wh.lower())
        elif child.dep_ == "advcl":
            marks = [token for token in child.children if token.dep_ == "mark" and token.lower_ in _CAUSE_MARKS]
            if marks:
                commas = {token.i for token in root.sent if token.is_punct and token.i == tokens[0].i - 1}
                add(_inverted(root, subject, ids | commas, "Why"), tokens, "why")

    counts = [token for token in subjects[0].children if token.dep_ == "nummod" and token.like_num]
    if counts and after and subjects[0].tag_ == "NNS":
        noun = [token for token in subject if token not in counts[0].subtree]
        add(_question(" ".join(["How many", _text(noun), _text(after)])), list(counts[0].subtree), "how-many")
    return out


def swapped_entity(question: str, sent: Span, others: Sequence[tuple[str, str]], rng: random.Random) -> str | None:
    """The question with one of its sentence's named entities replaced by another of the same type."""
    for ent in sent.ents:
        if ent.label_ in ("CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY") or ent.text not in question:
            continue
        pool = [text for text, label in others if label == ent.label_ and text.lower() != ent.text.lower()]
        if pool:
            return question.replace(ent.text, rng.choice(sorted(set(pool))), 1)
    return None


def swapped_number(question: str, rng: random.Random) -> str | None:
    """The question with one of its numbers changed to another."""
    numbers = list(re.finditer(r"\b\d+(?:\.\d+)?\b", question))
    if not numbers:
        return None
    match = rng.choice(numbers)
    value = match.group(0)
    changed = str(int(float(value)) + rng.choice([1, 2, 10, 100])) if "." not in value else value + "5"
    return question[: match.start()] + changed + question[match.end():]


def substituted(question: str, answer: str, words: Callable[[str], list[str]], rng: random.Random) -> str | None:
    """The question with one content word replaced by another word `words` offers (a synonym, say)."""
    candidates = [
        match for match in re.finditer(r"\b[a-z]{4,}\b", question)
        if match.group(0) not in answer.lower() and words(match.group(0))
    ]
    if not candidates:
        return None
    match = rng.choice(candidates)
    return question[: match.start()] + rng.choice(words(match.group(0))) + question[match.end():]
