"""The kind of answer a question expects (number, date, person, place, reason) and whether a sentence holds one.

Hand-written rules: the candidates are single sentences already retrieved, so cheap patterns are
enough, and a tagger (spaCy and the like) would cost seconds of start-up and a model download.
"""

from __future__ import annotations

import re

__all__ = ["expected_type", "has_answer_type"]

_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|millions|dozen|dozens|half)"
)

_QUESTION_TYPES: list[tuple[str, re.Pattern[str]]] = [
    ("date", re.compile(r"^\s*(when\b|what (date|day|time|year|month)|on what (date|day)|which (date|day|year|month)|by when|how long ago)", re.I)),
    ("numeric", re.compile(r"\b(how (many|much|long|old|often|far)|what (number|percentage|share|proportion|age|rate|size)|at what rate)\b", re.I)),
    ("person", re.compile(r"^\s*(who\b|whom\b|whose\b)|\b(which|what) (person|official|leader|president|spokesman|spokesperson|envoy|journalist|minister|member|commander|negotiator|advisor|adviser)\b|\bwho (is|was)\b|\bname of the (person|official|spokesman|spokesperson)", re.I)),
    ("place", re.compile(r"^\s*where\b|\b(which|what) (country|city|province|place|town|region|capital|location|prison)\b|\bin which (country|city|province|place)\b", re.I)),
    ("why", re.compile(r"^\s*why\b|\bfor what (purpose|reason)\b|\bwhat (was|is) the (purpose|reason)\b", re.I)),
]

_SENTENCE_PATTERNS = {
    "numeric": re.compile(rf"\d|\b{_NUMBER_WORDS}\b", re.I),
    "date": re.compile(
        rf"\b{_MONTHS}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTHS}|\b{_WEEKDAYS}\b|\b(1[89]|20)\d\d\b|\b\d{{1,2}}:\d\d\b|"
        r"\b(yesterday|today|tonight|tomorrow|last (week|month|year)|next (week|month)|early|late|days? after|weeks? after|"
        r"in \d+ (days|weeks|months)|within \d+ (days|weeks|months)|(morning|evening|night))\b",
        re.I,
    ),
    # Two capitalised words in a row that do not start the sentence, or a title before a name.
    "person": re.compile(
        r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b|\b(President|Gen\.|Rep\.|Sen\.|Mr\.|Mrs\.|Ms\.|Dr\.|spokesman|spokesperson|envoy|minister|advisor|adviser)\b"
    ),
    "place": re.compile(r"\b(in|at|from|to|near|into|across|inside|outside|of)\s+(?:the\s+)?[A-Z][a-z]+"),
    "why": re.compile(
        r"\b(because|since|so that|in order to|to (build|create|ensure|open|test|end|help|keep|get|make)|intended|aimed|for the sake|due to|as a|reason|purpose|in exchange|so we)\b",
        re.I,
    ),
}


def expected_type(question: str) -> str | None:
    """"numeric", "date", "person", "place", "why", or None when any sentence could answer."""
    for name, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return name
    return None


def has_answer_type(sentence: str, answer_type: str | None) -> bool:
    """Whether the sentence contains something of the expected type (True when no type is expected)."""
    if answer_type is None:
        return True
    return bool(_SENTENCE_PATTERNS[answer_type].search(sentence))
