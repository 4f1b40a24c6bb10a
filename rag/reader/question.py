"""Question analysis, the reader's first step: what a question asks for (its answer type) and the specifics
an answer must agree with.

General English only: the wh-word and, for "what/which X", X's head noun from a short list of common
nouns; the answer types map to spaCy's (OntoNotes) entity labels, which ingest stores with each sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.text import entity_spans, nlp, stem, terms, words
from rag.reader.syntax import Role, dep_group, question_roles

__all__ = ["NEGATIONS", "TYPE_LABELS", "QuestionAnalysis", "analyse_question"]

#: Answer types and the spaCy (OntoNotes) entity labels that fill them.
TYPE_LABELS: dict[str, frozenset[str]] = {
    "number": frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}),
    "money": frozenset({"MONEY"}),
    "percent": frozenset({"PERCENT"}),
    "date": frozenset({"DATE", "TIME"}),
    "duration": frozenset({"DATE", "TIME", "QUANTITY", "CARDINAL"}),
    # "how often": spaCy tags "every evening", "twice a week", "daily" as DATE or TIME
    "frequency": frozenset({"DATE", "TIME", "CARDINAL"}),
    "person": frozenset({"PERSON"}),
    "agent": frozenset({"PERSON", "ORG", "NORP"}),
    "organisation": frozenset({"ORG"}),
    "place": frozenset({"GPE", "LOC", "FAC"}),
    "named": frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}),
}

#: Words that negate a clause.
NEGATIONS = frozenset({"not", "n't", "never", "no", "none", "nor", "neither", "without", "cannot", "nobody", "nothing"})

# Head nouns of "what X" / "which X" that name the kind of answer (general English).
_NOUN_TYPES: dict[str, str] = {
    **dict.fromkeys(["year", "date", "day", "month", "century", "decade", "time", "period", "era", "season", "week", "hour", "age"], "date"),
    **dict.fromkeys(
        ["number", "amount", "quantity", "total", "count", "sum", "population", "size", "length", "height", "width",
         "depth", "distance", "weight", "speed", "temperature", "score", "rank", "version"],
        "number",
    ),
    **dict.fromkeys(["percentage", "percent", "proportion", "share", "fraction", "ratio", "rate"], "percent"),
    **dict.fromkeys(["price", "cost", "salary", "budget", "fee", "revenue", "income", "money", "fine", "value"], "money"),
    **dict.fromkeys(
        ["country", "city", "state", "town", "place", "region", "continent", "location", "nation", "province",
         "capital", "village", "island", "county", "area", "district", "river", "mountain", "ocean", "sea", "street"],
        "place",
    ),
    **dict.fromkeys(
        ["person", "man", "woman", "individual", "author", "leader", "president", "king", "queen", "inventor", "founder",
         "scientist", "writer", "player", "director", "mathematician"],
        "person",
    ),
    **dict.fromkeys(
        ["company", "organization", "organisation", "agency", "group", "university", "institution", "party", "team",
         "firm", "association", "school", "corporation", "department", "ministry", "government", "body", "club"],
        "organisation",
    ),
    **dict.fromkeys(["name", "title"], "named"),
}
_HOW: dict[str, str] = {
    "many": "number", "much": "number", "long": "duration", "old": "duration", "far": "number", "often": "frequency",
    "big": "number", "large": "number", "tall": "number", "high": "number", "fast": "number", "small": "number",
}
_WH_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})
_WH_TYPES = {"when": "date", "who": "agent", "whom": "agent", "whose": "agent", "where": "place"}


@dataclass(frozen=True)
class QuestionAnalysis:
    """A parsed question: the type of answer it expects and the specifics an answer must agree with."""

    text: str
    answer_type: str | None  # a key of TYPE_LABELS, or None for any sentence
    entities: tuple[tuple[str, str], ...]  # (text, label) of names, numbers and dates the question gives
    negated: bool
    focus: str  # stem of the head noun of "how many X" / "which X" ("" when none)
    words: frozenset[str]  # every lower-cased word of the question
    # read by the span model (rag.reader.span)
    wh: str  # the question word's class: what, which, who, when, where, why, how_many, how_adj, how, none
    wh_role: str  # the syntactic role of the question word's phrase (rag.reader.syntax.dep_group), "" when none
    wh_prep: str  # the preposition governing it ("by" in "By what ..."), "" when none
    verbs: frozenset[str]  # stems of the question's full verbs (not auxiliaries)
    roles: tuple[Role, ...]  # its content words by syntactic slot (rag.reader.syntax), for near-miss swaps

    @property
    def labels(self) -> frozenset[str]:
        """spaCy entity labels that can answer the question (empty when any sentence may)."""
        return TYPE_LABELS.get(self.answer_type or "", frozenset())

    @property
    def entity_terms(self) -> tuple[tuple[frozenset[str], str], ...]:
        """The entities as (content terms, label): "the" and the like do not count, and none is left empty."""
        return tuple((frozenset(found), label) for text, label in self.entities if (found := terms(text)))


def _asking_from(tokens: list[Any]) -> int:
    """Where the question word is looked for: after a fronted clause that opens with "when" or "where"
    and ends at a comma before another question word ("When the museum opens, which door do visitors use?" asks
    "which", not "when"); else from the start."""
    if tokens and tokens[0].lower_ in ("when", "where"):
        for i in range(2, len(tokens)):
            if tokens[i - 1].text == "," and tokens[i].lower_ in _WH_WORDS:
                return i
    return 0


def _head_noun(token: Any) -> Any:
    """The noun a compound modifier belongs to ("ticket" in "ticket price" gives "price"); other tokens as they are."""
    while token.dep_ == "compound" and token.head.i > token.i:
        token = token.head
    return token


def _wh_type(doc: object) -> tuple[str | None, str]:
    """(answer type, focus stem) from the question word of a parsed question."""
    tokens = list(doc)  # type: ignore[call-overload]
    start = _asking_from(tokens)
    for i, token in enumerate(tokens):
        if i < start:
            continue
        lower = token.lower_
        if lower == "how" and i + 1 < len(tokens):
            following = tokens[i + 1].lower_
            kind = _HOW.get(following)
            if kind is None:
                continue
            focus = ""
            if following in ("many", "much") and i + 2 < len(tokens) and tokens[i + 2].pos_ in ("NOUN", "PROPN"):
                head = _head_noun(tokens[i + 2])
                focus = stem(head.lower_)
                if following == "much" and _NOUN_TYPES.get(head.lower_) == "money":
                    kind = "money"
                # "how many days/years": spaCy marks "100 days" as a DATE (the pipeline has no lemmatizer,
                # hence the plural "s" is dropped here)
                singular = head.lower_[:-1] if head.tag_ == "NNS" and head.lower_.endswith("s") else head.lower_
                if following == "many" and _NOUN_TYPES.get(singular) == "date":
                    kind = "duration"
            return kind, focus
        if lower in _WH_TYPES:
            return _WH_TYPES[lower], ""
        if lower in ("what", "which"):
            noun = token.head if token.dep_ == "det" else None
            if noun is None and i + 1 < len(tokens) and tokens[i + 1].pos_ in ("NOUN", "PROPN"):
                noun = _head_noun(tokens[i + 1])  # "what ferry ticket price": the head noun
            if noun is None:
                # "What is the name of ...", "What year ...": the first noun after the copula
                for later in tokens[i + 1 : i + 5]:
                    if later.pos_ == "NOUN":
                        noun = later
                        break
                    if later.pos_ not in ("AUX", "DET", "ADJ"):
                        break
            if noun is None:
                return None, ""
            kind = _NOUN_TYPES.get(noun.lower_) or _NOUN_TYPES.get(noun.lower_.rstrip("s"))
            return kind, stem(noun.lower_)
        if token.tag_ in ("WDT", "WP", "WP$", "WRB"):
            return None, ""
    return None, ""


def _wh_phrase(doc: object) -> tuple[str, str, str]:
    """(class of the question word, role of its phrase, governing preposition) of a parsed question."""
    tokens = list(doc)  # type: ignore[call-overload]
    start = _asking_from(tokens)
    for i, token in enumerate(tokens):
        lower = token.lower_
        if i < start or lower not in _WH_WORDS:
            continue
        if lower == "how":
            following = tokens[i + 1].lower_ if i + 1 < len(tokens) else ""
            wh = "how_many" if following in ("many", "much") else "how_adj" if following in _HOW else "how"
        else:
            wh = {"whom": "who", "whose": "who"}.get(lower, lower)
        head = token.head if token.dep_ in ("det", "advmod") and token.head.pos_ in ("NOUN", "PROPN", "ADJ") else token
        if wh in ("how_many", "how_adj") and i + 2 < len(tokens):
            head = tokens[i + 2] if tokens[i + 2].pos_ in ("NOUN", "PROPN") else token
        prep = head.head.lower_ if head.dep_ == "pobj" and head.head.dep_ in ("prep", "agent") else ""
        return wh, dep_group(head.dep_), prep
    return "none", "", ""


def analyse_question(question: str) -> QuestionAnalysis:
    """Parse a question with spaCy (~5 ms): answer type, its names/numbers/dates, negation, focus noun."""
    doc = nlp()(question)
    answer_type, focus = _wh_type(doc)
    entities = tuple(
        (question[s:e], label) for s, e, label in entity_spans(doc) if not set(words(question[s:e])) & _WH_WORDS
    )
    negated = any(token.dep_ == "neg" or token.lower_ in NEGATIONS for token in doc)
    wh, role, prep = _wh_phrase(doc)
    verbs = frozenset(stem(token.lower_) for token in doc if token.pos_ == "VERB")
    return QuestionAnalysis(
        question, answer_type, entities, negated, focus, frozenset(words(question)), wh, role, prep, verbs,
        question_roles(doc),
    )

