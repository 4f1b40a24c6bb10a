"""The short span, the reader's fifth step: the span of the chosen sentence that answers the question,
picked by a fitted span model.

Only the chosen sentence is parsed at answer time (spaCy's tagger and parser, ~4 ms; its entities come
from ingest). Its candidate spans are the stored entities, noun chunks and syntactic constituents (a
token's subtree, its pre-modified head, the subtree cut before a relative clause, single content words),
never one holding a name, number or date the question gives; for "Who is X?" about a person, only what
the sentence calls X.
Each gets features that mean the same on any document: the question word against the span's kind, the
question word's role against the span's role, the share of the span already in the question, the
distance to the question's words in the sentence, whether the span's governing verb or preposition is
the question's. A logistic model fitted leave-one-corpus-out by `python -m evals.fit_spans` scores them
(`rag/fitted_spans.json`, applied here with numpy); the best span is the short answer when its score
clears the fitted threshold (the rule is written in that file and in docs/evaluation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ingest.text import Span, stem, terms, words
from rag.reader.fitted import LinearModel
from rag.reader.question import QuestionAnalysis
from rag.reader.syntax import DEP_GROUPS, content_stem, dep_group, parse_sentence

__all__ = [
    "FITTED_SPANS_PATH",
    "SpanCandidate",
    "SpanModel",
    "balanced",
    "best_span",
    "described_person",
    "given_span",
    "load_span_model",
    "pick_span",
    "short_span",
    "span_candidates",
    "span_feature_names",
]

FITTED_SPANS_PATH = Path(__file__).resolve().parent.parent / "fitted_spans.json"

#: Longest constituent (in tokens) offered as a short answer; longer ones are no shorter than the sentence.
MAX_TOKENS = 12
#: How far (tokens) the distance to the question's words is counted.
FAR = 12

WH_CLASSES = ("what", "which", "who", "when", "where", "why", "how_many", "how_adj", "how", "none")
KINDS = ("person", "org", "place", "date", "number", "named", "noun", "verb", "adj", "other")
PREP_GROUPS = ("time_place", "by", "of", "other", "none")

_LABEL_KINDS = {
    "PERSON": "person", "ORG": "org", "NORP": "org", "GPE": "place", "LOC": "place", "FAC": "place",
    "DATE": "date", "TIME": "date", "CARDINAL": "number", "QUANTITY": "number", "MONEY": "number",
    "PERCENT": "number", "ORDINAL": "number", "PRODUCT": "named", "EVENT": "named", "WORK_OF_ART": "named",
    "LAW": "named", "LANGUAGE": "named",
}
_POS_KINDS = {"NOUN": "noun", "PROPN": "noun", "PRON": "noun", "NUM": "number", "VERB": "verb", "AUX": "verb", "ADJ": "adj", "ADV": "adj"}
# General English prepositions of time and place.
_TIME_PLACE = frozenset({"in", "on", "at", "during", "since", "after", "before", "until", "from", "near", "within", "throughout"})
# Children after which a head's phrase is cut short (a relative clause, an apposition, a list).
_CUT = frozenset({"relcl", "acl", "punct", "appos", "cc", "conj", "advcl"})
_CONTENT_POS = frozenset({"NOUN", "PROPN", "NUM", "ADJ", "VERB"})


def span_feature_names() -> tuple[str, ...]:
    """Every feature the span model reads, in a fixed order."""
    base = (
        "type_match", "typed_q", "q_share", "q_any", "dist", "adjacent", "no_anchor",
        "gov_in_q", "gov2_in_q", "verb_in_q", "prep_in_q", "prep_match", "role_match", "len", "len1",
        "len_le3", "len_gt6", "is_ent", "part_ent", "has_num", "is_chunk", "starts_det", "position",
        "focus_in", "focus_after", "focus_head", "propn_head", "comma", "nearest_typed", "nearest",
        "cuts_entity", "sibling_anchor", "near_anchors", "rest_cover",
    )
    return (
        base
        + tuple(f"kind={k}" for k in KINDS)
        + tuple(f"dep={d}" for d in DEP_GROUPS)
        + tuple(f"prep={p}" for p in PREP_GROUPS)
        + tuple(f"wh={w}*kind={k}" for w in WH_CLASSES for k in KINDS)
        + tuple(f"wh={w}*prep={p}" for w in WH_CLASSES for p in PREP_GROUPS)
        + tuple(f"role={r}*dep={d}" for r in DEP_GROUPS for d in DEP_GROUPS)
        + tuple(f"wh={w}*q_share" for w in WH_CLASSES)
        + tuple(f"wh={w}*dist" for w in WH_CLASSES)
    )


@dataclass(frozen=True)
class SpanCandidate:
    """A span of the sentence (characters), its text and its features."""

    start: int
    end: int
    text: str
    features: dict[str, float]


@dataclass(frozen=True)
class SpanModel:
    """The fitted span scorer and the score at or above which its best span becomes the short answer."""

    model: LinearModel
    threshold: float

    def scores(self, found: list[SpanCandidate]) -> np.ndarray:
        """The model's probability for each candidate."""
        return self.model.probabilities([c.features for c in found])


@lru_cache(maxsize=4)
def load_span_model(path: Path = FITTED_SPANS_PATH) -> SpanModel:
    """The shipped span model (or another fitted_spans.json)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return SpanModel(LinearModel.from_json(raw["model"]), float(raw["threshold"]))


def _token_ranges(doc: Any, spans: list[Span]) -> list[tuple[int, int, str]]:
    """Candidate (first token, last token, entity label or "") ranges of a parsed sentence."""
    out: dict[tuple[int, int], str] = {}

    def add(first: int, last: int, label: str = "") -> None:
        # answers rarely start with a preposition or a conjunction ("of 40 to 60")
        while first <= last and (doc[first].is_punct or doc[first].pos_ in ("ADP", "CCONJ", "SCONJ")):
            first += 1
        while last >= first and doc[last].is_punct and doc[last].text not in (")", "%"):
            last -= 1
        if first <= last and last - first < MAX_TOKENS and (label or (first, last) not in out):
            out[first, last] = label or out.get((first, last), "")

    for token in doc:
        if token.is_punct or token.pos_ == "ADP":
            continue  # a preposition's phrase is offered without it (its object's subtree)
        add(token.left_edge.i, token.right_edge.i)
        if token.pos_ in _CONTENT_POS:
            add(token.i, token.i)
        if token.pos_ in ("NOUN", "PROPN", "NUM", "PRON"):
            add(token.left_edge.i, token.i)
            end = token.i
            for child in token.rights:
                if child.dep_ in _CUT:
                    break
                end = child.right_edge.i
            add(token.left_edge.i, end)
    for chunk in doc.noun_chunks:
        add(chunk.start, chunk.end - 1)
    for start, end, label in spans:
        piece = doc.char_span(start, end, alignment_mode="expand")
        if piece is not None and len(piece):
            add(piece.start, piece.end - 1, label)
    return [(first, last, label) for (first, last), label in out.items()]


_PAIRS = {")": "(", "]": "[", "}": "{"}


def balanced(text: str) -> bool:
    """Whether every bracket of `text` is opened and closed inside it, in order (a rule of punctuation)."""
    open_: list[str] = []
    for char in text:
        if char in "([{":
            open_.append(char)
        elif char in _PAIRS and (not open_ or open_.pop() != _PAIRS[char]):
            return False
    return not open_


def span_candidates(sentence: str, spans: list[Span], analysis: QuestionAnalysis, doc: Any | None = None) -> list[SpanCandidate]:
    """Every candidate span of `sentence` with its features (`spans`: the sentence's stored entities)."""
    doc = doc if doc is not None else parse_sentence(sentence)
    if not len(doc):
        return []
    question_terms = set(terms(analysis.text))
    token_stems = [content_stem(t) for t in doc]
    anchors = [i for i, s in enumerate(token_stems) if s and s in question_terms]
    entity_tokens: dict[int, str] = {}
    entity_ids: dict[int, int] = {}
    for number, (start, end, label) in enumerate(spans):
        piece = doc.char_span(start, end, alignment_mode="expand")
        if piece is not None:
            entity_tokens.update(dict.fromkeys(range(piece.start, piece.end), label))
            entity_ids.update(dict.fromkeys(range(piece.start, piece.end), number))
    chunks = {(c.start, c.end - 1) for c in doc.noun_chunks}
    labels = analysis.labels
    wh = analysis.wh if analysis.wh in WH_CLASSES else "none"
    person = described_person(analysis)
    asked = [entity for entity, _ in analysis.entity_terms]
    mention = {i for i, s in enumerate(token_stems) if s and s in person} if person else set()
    n = len(doc)
    out = []
    for first, last, label in _token_ranges(doc, spans):
        piece = doc[first : last + 1]
        root = piece.root
        span_terms = [s for s in token_stems[first : last + 1] if s]
        if person and not _describes(piece, mention):
            continue  # "Who is X?" is answered by what the sentence calls X, never by another name beside X
        if any(entity <= set(span_terms) for entity in asked):
            continue  # it holds a name, number or date the question gives whole: it hands the question back
        inside = [s in question_terms for s in span_terms]
        if not span_terms or all(inside) or (first == 0 and last >= n - 2):
            continue  # no content word, only the question's own words, or the whole sentence: no shorter answer
        if not balanced(piece.text):
            continue  # "Arrays], page 100 )": a bracket closed or opened across its edge is not a phrase
        outside = [a for a in anchors if a < first or a > last]
        gap = min((first - a if a < first else a - last for a in outside), default=FAR)
        part_label = label or next((entity_tokens[i] for i in range(first, last + 1) if i in entity_tokens), "")
        covered = sum(i in entity_tokens for i in range(first, last + 1)) / (last - first + 1)
        kind = _LABEL_KINDS.get(part_label, "") if covered > 0.5 else ""
        kind = kind or _POS_KINDS.get(root.pos_, "other")
        dep = dep_group(root.dep_)
        governor = root.head if root.head.i != root.i else None
        prep = governor.lower_ if governor is not None and root.dep_ == "pobj" else ""
        prep_kind = "none" if not prep else "time_place" if prep in _TIME_PLACE else prep if prep in ("by", "of") else "other"
        verb = root
        while verb.pos_ not in ("VERB", "AUX") and verb.head.i != verb.i:
            verb = verb.head
        after = [stem(w) for w in words(sentence[piece.end_char : piece.end_char + 40])[:3]]
        length = last - first + 1
        features = {
            "type_match": 1.0 if part_label in labels and covered > 0.5 else 0.0,
            "typed_q": 1.0 if labels else 0.0,
            "q_share": sum(inside) / len(inside) if inside else 0.0,
            "q_any": 1.0 if any(inside) else 0.0,
            "dist": min(gap, FAR) / FAR,
            "adjacent": 1.0 if gap <= 1 else 0.0,
            "no_anchor": 0.0 if anchors else 1.0,
            "gov_in_q": 1.0 if governor is not None and token_stems[governor.i] in question_terms else 0.0,
            "gov2_in_q": 1.0 if governor is not None and governor.head.i != governor.i and token_stems[governor.head.i] in question_terms else 0.0,
            "verb_in_q": 1.0 if verb.i != root.i and stem(verb.lower_) in analysis.verbs else 0.0,
            "prep_in_q": 1.0 if prep and prep in analysis.words else 0.0,
            "prep_match": 1.0 if prep and prep == analysis.wh_prep else 0.0,
            "role_match": 1.0 if analysis.wh_role and dep == analysis.wh_role else 0.0,
            "len": min(length, MAX_TOKENS) / MAX_TOKENS,
            "len1": 1.0 if length == 1 else 0.0,
            "len_le3": 1.0 if length <= 3 else 0.0,
            "len_gt6": 1.0 if length > 6 else 0.0,
            "is_ent": 1.0 if label else 0.0,
            "part_ent": covered,
            "has_num": 1.0 if any(t.like_num for t in piece) else 0.0,
            "is_chunk": 1.0 if (first, last) in chunks else 0.0,
            "starts_det": 1.0 if doc[first].pos_ == "DET" else 0.0,
            "position": first / n,
            "focus_in": 1.0 if analysis.focus and analysis.focus in span_terms else 0.0,
            "focus_after": 1.0 if analysis.focus and analysis.focus in after else 0.0,
            "focus_head": 1.0 if analysis.focus and token_stems[root.i] == analysis.focus else 0.0,
            "propn_head": 1.0 if root.pos_ == "PROPN" else 0.0,
            "comma": 1.0 if any(t.text in (",", ";", "(") for t in piece) else 0.0,
            "cuts_entity": 1.0 if _cuts(first, last, entity_ids) else 0.0,
            "sibling_anchor": 1.0 if verb.i != root.i and _sibling_anchor(verb, first, last, anchors) else 0.0,
            "near_anchors": sum(1 for a in outside if min(abs(a - first), abs(a - last)) <= 5) / len(anchors) if anchors else 0.0,
            "rest_cover": len({token_stems[a] for a in outside}) / len(question_terms) if question_terms else 0.0,
            f"kind={kind}": 1.0,
            f"dep={dep}": 1.0,
            f"prep={prep_kind}": 1.0,
            f"wh={wh}*kind={kind}": 1.0,
            f"wh={wh}*prep={prep_kind}": 1.0,
        }
        if analysis.wh_role:
            features[f"role={analysis.wh_role}*dep={dep}"] = 1.0
        features[f"wh={wh}*q_share"] = features["q_share"]
        features[f"wh={wh}*dist"] = features["dist"]
        out.append(SpanCandidate(piece.start_char, piece.end_char, piece.text, features))
    _mark_nearest(out)
    return out


def described_person(analysis: QuestionAnalysis) -> frozenset[str]:
    """The terms of the person a "Who is/was X?" question names and asks nothing else about; empty otherwise.

    Its answer is what a sentence calls that person (a title, an apposition, a predicate noun), never another
    name that stands near it."""
    if analysis.wh != "who":
        return frozenset()
    people = [entity for entity, label in analysis.entity_terms if label == "PERSON"]
    if len(people) != 1 or set(terms(analysis.text)) - people[0]:
        return frozenset()
    return people[0]


#: Dependencies by which a phrase describes the noun it hangs on: an apposition, or a title or modifier before it.
_DESCRIBING = frozenset({"appos", "compound", "amod", "nmod"})
#: Fewer letters than this is an honorific ("Mr.", "Dr."), not a description.
_MIN_LETTERS = 4


def _describes(piece: Any, mention: set[int]) -> bool:
    """Whether a span says what the mentioned person is: it hangs on the mention as an apposition or a title
    before it, the mention hangs on it as its apposition ("the harbour master X"), or it is the predicate
    of a copula whose subject is the mention ("X is the harbour master")."""
    if any(token.i in mention for token in piece) or sum(ch.isalpha() for ch in piece.text) < _MIN_LETTERS:
        return False
    root = piece.root
    if root.dep_ in _DESCRIBING and root.head.i in mention:
        return True
    if any(child.i in mention and child.dep_ in _DESCRIBING for child in root.children):
        return True
    subjects = [child.i for child in root.head.children if child.dep_ in ("nsubj", "nsubjpass")]
    return root.dep_ in ("attr", "acomp") and any(i in mention for i in subjects)


def _cuts(first: int, last: int, entity_ids: dict[int, int]) -> bool:
    """Whether a span cuts an entity at either end (only "Thomas" of "Thomas Reed")."""
    before = first - 1 in entity_ids and entity_ids[first - 1] == entity_ids.get(first)
    after = last + 1 in entity_ids and entity_ids[last + 1] == entity_ids.get(last)
    return before or after


def _sibling_anchor(verb: Any, first: int, last: int, anchors: list[int]) -> bool:
    """Whether another argument of the span's predicate holds the question's words (the span fills the
    role the question word fills)."""
    for child in verb.children:
        if first <= child.i <= last:
            continue
        if any(child.left_edge.i <= a <= child.right_edge.i and not first <= a <= last for a in anchors):
            return True
    return False


def _mark_nearest(found: list[SpanCandidate]) -> None:
    """Flag the span(s) nearest to the question's words, overall and among the expected type."""
    for key, among in (("nearest", found), ("nearest_typed", [c for c in found if c.features["type_match"]])):
        if not among:
            continue
        closest = min(c.features["dist"] for c in among)
        for c in among:
            c.features[key] = 1.0 if c.features["dist"] == closest else 0.0


def pick_span(found: list[SpanCandidate], model: SpanModel) -> tuple[str, float] | None:
    """The highest-scoring candidate's text (trimmed) and its score; None without a candidate."""
    if not found:
        return None
    scores = model.scores(found)
    best = int(np.argmax(scores))
    return found[best].text.strip(" ,;:"), float(scores[best])


def best_span(sentence: str, spans: list[Span], analysis: QuestionAnalysis, model: SpanModel) -> tuple[str, float] | None:
    """The highest-scoring span of `sentence` and its score (None when the sentence has no candidate)."""
    return pick_span(span_candidates(sentence, spans, analysis), model)


def given_span(found: tuple[str, float] | None, threshold: float) -> str | None:
    """The rule for giving a short answer at all: the best span when its score is at or above the
    threshold, else None (the whole sentence answers)."""
    if found is None or not found[0] or found[1] < threshold:
        return None
    return found[0]


def short_span(sentence: str, spans: list[Span], analysis: QuestionAnalysis) -> str | None:
    """The short answer: the span of `sentence` that best answers the question by the fitted span model,
    or None when its score is under the fitted threshold (the whole sentence answers)."""
    model = load_span_model()
    return given_span(best_span(sentence, spans, analysis, model), model.threshold)
