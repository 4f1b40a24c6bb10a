"""The kind of answer a question expects (number, date, person, place, reason) and whether a sentence holds one.

Hand-written rules: the candidates are single sentences already retrieved, so cheap patterns are
enough, and a tagger (spaCy and the like) would cost seconds of start-up and a model download.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container

_WORD = re.compile(r"[\w’'-]+")

__all__ = ["expected_type", "focus_match", "focus_terms", "has_answer_type"]

_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|millions|dozen|dozens|half)"
)

_QUESTION_TYPES: list[tuple[str, re.Pattern[str]]] = [
    ("date", re.compile(r"^\s*(when\b|what (date|day|time|year|month)|on what (date|day)|which (date|day|year|month)|by when|how long ago)", re.IGNORECASE)),
    ("numeric", re.compile(r"\b(how (many|much|long|old|often|far)|what (number|percentage|share|proportion|age|rate|size)|at what rate)\b", re.IGNORECASE)),
    ("person", re.compile(r"^\s*(who\b|whom\b|whose\b)|\b(which|what) (person|official|leader|president|spokesman|spokesperson|envoy|journalist|minister|member|commander|negotiator|advisor|adviser)\b|\bwho (is|was)\b|\bname of the (person|official|spokesman|spokesperson)", re.IGNORECASE)),
    ("place", re.compile(r"^\s*where\b|\b(which|what) (country|city|province|place|town|region|capital|location|prison)\b|\bin which (country|city|province|place)\b", re.IGNORECASE)),
    ("why", re.compile(r"^\s*why\b|\bfor what (purpose|reason)\b|\bwhat (was|is) the (purpose|reason)\b", re.IGNORECASE)),
]

_SENTENCE_PATTERNS = {
    "numeric": re.compile(rf"\d|\b{_NUMBER_WORDS}\b", re.IGNORECASE),
    "date": re.compile(
        rf"\b{_MONTHS}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTHS}|\b{_WEEKDAYS}\b|\b(1[89]|20)\d\d\b|\b\d{{1,2}}:\d\d\b|"
        r"\b(yesterday|today|tonight|tomorrow|last (week|month|year)|next (week|month)|early|late|days? after|weeks? after|"
        r"in \d+ (days|weeks|months)|within \d+ (days|weeks|months)|(morning|evening|night))\b",
        re.IGNORECASE,
    ),
    # Two capitalised words in a row that do not start the sentence, or a title before a name.
    "person": re.compile(
        r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b|\b(?:President|Gen\.|Rep\.|Sen\.|Mr\.|Mrs\.|Ms\.|Dr\.|"
        r"spokesman|spokesperson|envoy|minister|advisor|adviser)\s+[A-Z][a-z]+"
    ),
    "place": re.compile(r"\b(in|at|from|to|near|into|across|inside|outside|of)\s+(?:the\s+)?[A-Z][a-z]+"),
    "why": re.compile(
        r"\b(because|since|so that|in order to|to (build|create|ensure|open|test|end|help|keep|get|make)|intended|aimed|for the sake|due to|as a|reason|purpose|in exchange|so we)\b",
        re.IGNORECASE,
    ),
}


def expected_type(question: str) -> str | None:
    """"numeric", "date", "person", "place", "why", or None when any sentence could answer."""
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


# Words a match may carry that are not themselves an answer (prepositions before a place, titles before a name).
_NOT_ANSWERS = frozenset(
    ["in", "at", "from", "to", "near", "into", "across", "inside", "outside", "of", "the", "president", "gen.", "gen", "rep", "rep.", "sen", "mr", "mrs", "ms", "dr", "spokesman", "spokesperson", "envoy", "minister", "advisor", "adviser"]
)


def has_answer_type(sentence: str, answer_type: str | None, question: str = "") -> bool:
    """Whether the sentence contains something of the expected type that the question itself does not
    already say (True when no type is expected): "Who heads the council Faisal speaks for?" is not
    answered by a sentence whose only name is Faisal."""
    if answer_type is None:
        return True
    asked = {word.lower() for word in _WORD.findall(question)}
    for match in _SENTENCE_PATTERNS[answer_type].finditer(sentence):
        words = {word.lower() for word in _WORD.findall(match.group(0))}
        words -= _NOT_ANSWERS
        if not words or not words <= asked:
            return True
    return False


_FOCUS = re.compile(r"\b(how many|how much|which|what)\s+(.*)", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d[\d,.]*|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
    r"fifty|hundred|hundreds|thousand|thousands|dozens?)\b",
    re.IGNORECASE,
)
# Verbs that end a focus phrase but are not on the stopword list.
_VERBS = frozenset(
    ["said", "says", "say", "make", "makes", "made", "held", "hold", "have", "get", "got", "took", "take", "gave", "give", "think", "thinks", "must", "might", "may", "can", "will", "shall", "would", "could", "should", "need", "needs", "want", "wants"]
)


def focus_terms(question: str, stopwords: Container[str]) -> tuple[str, list[str]]:
    """("count" | "which" | "", words) — what a "how many X" / "which X" question asks about.

    X is the run of up to three words after the question phrase, ending at the first stopword or
    past-tense verb; its last word is the head noun.
    """
    match = _FOCUS.search(question)
    if not match:
        return "", []
    run: list[str] = []
    for word in _WORD.findall(match.group(2))[:3]:
        lower = word.lower().strip("’'")
        if lower in stopwords or lower in _VERBS or (lower.endswith(("ed", "ing")) and len(lower) > 4):
            break
        run.append(lower)
    kind = "count" if match.group(1).lower().startswith("how") else "which"
    return kind, run


def focus_match(
    question: str, sentence: str, stem: Callable[[str], str], stopwords: Container[str]
) -> tuple[float, float]:
    """(count focus, which focus): each 1 when the sentence holds what the question asks for, 0 when it
    does not, 0.5 when the question has no such focus.

    "how many X": a number stands within four words before X's head noun. "which X": X's head occurs.
    """
    kind, run = focus_terms(question, stopwords)
    if not run:
        return 0.5, 0.5
    head = stem(run[-1])
    tokens = _WORD.findall(sentence)
    stems = [stem(token.lower().strip("’'")) for token in tokens]
    if kind == "which":
        return 0.5, (1.0 if head in stems else 0.0)
    for index, token_stem in enumerate(stems):
        if token_stem == head and any(_NUMBER.fullmatch(word) for word in tokens[max(0, index - 4) : index]):
            return 1.0, 0.5
    return 0.0, 0.5
