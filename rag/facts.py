"""The checkable facts of a claim — numbers, dates and proper names — and whether a passage states them.

Names come from spaCy's en_core_web_sm (named entities and proper nouns), the one pipeline
ingest/text.py loads for the whole process. Numbers and dates are read by the same small patterns from
claim and passage alike, so "4,500" = "4500", "2.4 million" = "2,400,000", "five" = "5" and
"Oct. 7" = "October 7" (a date is its day and year numbers plus its month name). dateparser was
not used: it parses a date string one at a time, and finding every date in a passage with its
`search_dates` costs tens of milliseconds, where these patterns cost microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ingest.text import STOPWORDS, nlp, stem

__all__ = ["Facts", "claim_facts", "missing_facts"]

# Entities need only the NER component, proper nouns the tagger (and the shared tok2vec it listens to);
# the parser is skipped. The attribute ruler is skipped too: its only rules about proper nouns map the
# tags NNP/NNPS to PROPN (read from the model's patterns; 0 of 67,828 tokens of the bundled and eval
# corpora differ), so the tag is read directly, ~1.6 ms less for five claims (2026-11-30).
_UNUSED = ("parser", "attribute_ruler")
_PROPER = frozenset({"NNP", "NNPS"})
_NAME_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})
# Titles and generic words that go with a name but are not the name ("President", "Mr").
_TITLES = frozenset(
    ["mr", "mrs", "ms", "dr", "sir", "madam", "president", "gen", "general", "sen", "senator", "rep", "representative", "minister", "prime", "secretary", "chief", "spokesman", "spokeswoman", "spokesperson", "envoy", "ambassador", "king", "queen", "prince", "st"]
)
_MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "may": "may", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "oct": "october",
    "nov": "november", "dec": "december",
}
_WEEKDAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
_MONTH = re.compile(
    r"\b(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May(?=\s+\d)|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?|\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
)
_SCALES = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_UNITS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12,
}
_ONES = {"one": 1, **{k: v for k, v in _UNITS.items() if v < 10}}
_SCALE = r"(?:\s+(hundred|thousand|million|billion|trillion)\b)?"
# "4,500", "2.4", "1987" (not inside a word or a decimal); number words ("twenty-five", "five thousand").
_NUMBER = re.compile(
    rf"(?<![\w.,])(\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?![\w]){_SCALE}"
    rf"|\b({'|'.join(_UNITS)})(?:[\s-]({'|'.join(_ONES)}))?\b{_SCALE}",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:\.[^\W\d_]+)*\.?", re.UNICODE)


@dataclass(frozen=True)
class Facts:
    """What a claim states that a passage must also state: numbers (surface, value), names, months."""

    numbers: tuple[tuple[str, float], ...] = ()
    names: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()  # month and weekday names, normalised ("february")


def numbers_in(text: str) -> list[tuple[str, float]]:
    """Every number in `text` with its value ("2.4 million" -> 2400000.0)."""
    out = []
    for match in _NUMBER.finditer(text):
        digits, scale, word, unit, word_scale = match.groups()
        if digits is not None:
            value = float(digits.replace(",", ""))
        else:
            value = float(_UNITS[word.lower()] + (_ONES[unit.lower()] if unit else 0))
            scale = word_scale
        if scale:
            value *= _SCALES[scale.lower()]
        out.append((match.group(0).strip(), round(value, 6)))
    return out


def _dates_in(text: str) -> list[str]:
    found = []
    for match in _MONTH.finditer(text):
        if match.group(1):
            found.append(_MONTHS[match.group(1).lower()[:3]])
        else:
            found.append(match.group(2).lower())
    return found


def _words(text: str) -> list[str]:
    """Lower-cased words without dots ("U.S." -> "us") and possessives."""
    return [re.sub(r"['’]s$", "", w.replace(".", "").lower()) for w in _WORD.findall(text.replace("’s", "").replace("'s", ""))]


# Initials written apart ("U. S." for "U.S.") read as one word, as passages write them.
_SPACED_INITIALS = re.compile(r"\b([A-Z])\. (?=[A-Z]\.)")


def claim_facts(texts: list[str]) -> list[Facts]:
    """The facts of each claim (spaCy runs once over all of them)."""
    texts = [_SPACED_INITIALS.sub(r"\1.", text) for text in texts]
    # nlp() takes its own lock; `disable` here leaves the shared pipeline as it is (select_pipes would
    # change it for every thread)
    docs = list(nlp().pipe(texts, disable=_UNUSED))
    out = []
    for text, doc in zip(texts, docs):
        spans = [ent for ent in doc.ents if ent.label_ in _NAME_LABELS]
        tokens = {token.i for ent in spans for token in ent}
        names: list[str] = [ent.text for ent in spans]
        names += [t.text for t in doc if t.tag_ in _PROPER and t.i not in tokens and t.text[:1].isupper()]
        words = []
        for name in names:
            for word in _words(name):
                if word in _TITLES or word in STOPWORDS or word in _WEEKDAYS or word[:3] in _MONTHS and _MONTH.search(name):
                    continue
                if word not in words:
                    words.append(word)
        out.append(Facts(tuple(numbers_in(text)), tuple(words), tuple(dict.fromkeys(_dates_in(text)))))
    return out


@dataclass(frozen=True)
class _Passage:
    values: frozenset[float]
    words: frozenset[str]
    stems: frozenset[str]
    dates: frozenset[str]


@lru_cache(maxsize=512)
def _passage(text: str) -> _Passage:
    words = frozenset(_words(text))
    return _Passage(
        frozenset(value for _, value in numbers_in(text)),
        words,
        frozenset(stem(word) for word in words),
        frozenset(_dates_in(text)),
    )


def _has_word(word: str, passage: _Passage) -> bool:
    if word in passage.words or stem(word) in passage.stems:
        return True
    # "Israel" / "Israeli": a name word of five letters or more that begins another counts.
    return len(word) >= 5 and any(other.startswith(word) or (len(other) >= 5 and word.startswith(other)) for other in passage.words)


def missing_facts(facts: Facts, passages: list[str]) -> list[str]:
    """The claim's numbers, dates and names that none of the passages states (empty: all stated)."""
    read = [_passage(text) for text in passages]
    missing = [surface for surface, value in facts.numbers if not any(value in p.values for p in read)]
    missing += [date.capitalize() for date in facts.dates if not any(date in p.dates for p in read)]
    missing += [name.capitalize() if name.islower() else name for name in facts.names if not any(_has_word(name, p) for p in read)]
    return missing
