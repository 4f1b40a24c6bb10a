"""Citation markers in an LLM's reply and the claims (sentences) they belong to.

Formats read (what small local models write): `[1]`, `[1, 2]`, `[1][2]`, `[1-3]`, "passage 1",
"(Source 1)". They are rewritten to `[n]` markers; anything else is no citation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.chunker import split_sentences
from ingest.text import terms

__all__ = ["SplitClaim", "canonical_markers", "is_abstention", "split_claims", "strip_markers"]

_MARKER = re.compile(r"\[(\d{1,3})\]")
# "[1]", "[1, 2]", "[1,2 and 3]", "[1-3]", "[1–3]": digits joined by commas, "and" or a dash.
_BRACKET = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:,|-|–|and)\s*\d{1,3})*)\s*\]")
_SOURCE = re.compile(r"\(\s*(?:source|passage)\s+(\d{1,3})\s*\)", re.IGNORECASE)
_PASSAGE = re.compile(r"\bpassage\s+(\d{1,3})\b(?!\s*[\]\d])", re.IGNORECASE)
_LONGEST_RANGE = 10  # "[1-300]" is not a citation a reader could follow
_ABSTAIN = re.compile(
    r"\b(documents|passages|context|sources?) (do|does) not (say|contain|mention|answer|state|provide)"
    r"|\bcannot find\b|\bno information\b|\bnot (mentioned|stated|provided) in the (documents|passages)",
    re.IGNORECASE,
)
# Words of a sentence that only points at its source ("This can be seen from passage [5].") rather
# than claiming anything; general English, stemmed like `terms`.
_POINTER_WORDS = frozenset(
    terms(
        "see seen shown show stated state states mentioned mention found according passage passages source "
        "sources document documents text support supported supports indicated indicates confirmed confirms "
        "evident clear noted written says said given"
    )
)
# Leading and trailing phrases that name the source rather than the fact ("According to passage 1, ...",
# "..., as stated in [1]"); cut before the claim is compared with the passages.
_LEAD = re.compile(r"^\s*(according to|as (stated|shown|mentioned|noted) in|based on)\s+(the\s+)?(passages?|sources?|documents?|texts?)\s*(\[?\d+\]?\s*)*,?\s*", re.IGNORECASE)
_TRAIL = re.compile(
    r",?\s*((as\s+)?(is\s+)?(stated|shown|mentioned|seen|noted|reported|indicated|confirmed)\s+(in|by|from)|according\s+to)"
    r"\s*(the\s+)?(passages?|sources?|documents?)?\s*(\d{1,3})?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SplitClaim:
    """One sentence of a reply (as written, markers included) and the passage numbers it cites."""

    text: str
    citations: tuple[int, ...]
    core: str  # the text without pointer phrases ("according to passage 1"), what is checked
    end: int = 0  # where the sentence (and its markers) ends in the reply


def _numbers(body: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|and)\s*", body):
        bounds = re.split(r"\s*[-–]\s*", part.strip())
        if len(bounds) == 2 and all(b.isdigit() for b in bounds):
            low, high = int(bounds[0]), int(bounds[1])
            if low <= high and high - low < _LONGEST_RANGE:
                numbers.extend(range(low, high + 1))
        elif len(bounds) == 1 and bounds[0].isdigit():
            numbers.append(int(bounds[0]))
    return numbers


def canonical_markers(text: str, passages: int) -> tuple[str, list[int]]:
    """Rewrite every citation format to `[n]` markers, dropping numbers that point at no passage;
    return (text, cited passage numbers in order of first mention)."""

    def markers(numbers: list[int]) -> str:
        return "".join(f"[{n}]" for n in dict.fromkeys(numbers) if 1 <= n <= passages)

    text = _SOURCE.sub(lambda m: markers([int(m.group(1))]), text)
    text = _PASSAGE.sub(lambda m: f"{m.group(0)[: -len(m.group(1))]}{markers([int(m.group(1))]) or m.group(1)}", text)
    text = _BRACKET.sub(lambda m: markers(_numbers(m.group(1))), text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    return text, list(dict.fromkeys(int(n) for n in _MARKER.findall(text)))


def strip_markers(text: str) -> str:
    """The text without `[n]` markers ("passage [2]" reads "passage 2")."""
    text = re.sub(r"\b(passages?|sources?)\s+\[(\d{1,3})\]", r"\1 \2", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", _MARKER.sub("", text))).strip()


def is_abstention(text: str) -> bool:
    """Whether a reply (or one of its sentences) says the documents do not answer."""
    return bool(_ABSTAIN.search(text))


def _is_pointer(sentence: str) -> bool:
    words = {word for word in terms(strip_markers(sentence)) if not word.isdigit()}
    return bool(_MARKER.search(sentence)) and words <= _POINTER_WORDS | set(terms("this that it which can be"))


def split_claims(text: str) -> list[SplitClaim]:
    """The claims of a reply whose markers are already `[n]` (see `canonical_markers`): one per
    sentence; markers opening a sentence and sentences that only point at a source ("This can be
    seen from passage [5].") belong to the sentence before; sentences that abstain are no claims."""
    pieces: list[tuple[str, list[int], list[int]]] = []  # (sentence, cited numbers, [end offset])
    for start, end in split_sentences(text):
        sentence = text[start:end]
        lead = re.match(r"^(\s*\[\d{1,3}\][.,;:]?)+", sentence)
        if lead and pieces:
            pieces[-1][1].extend(int(n) for n in _MARKER.findall(lead.group(0)))
            pieces[-1][2][0] = start + lead.end()
            sentence = sentence[lead.end() :]
        if not sentence.strip(" .;:"):
            continue
        numbers = [int(n) for n in _MARKER.findall(sentence)]
        if pieces and _is_pointer(sentence):
            pieces[-1][1].extend(numbers)
            pieces[-1][2][0] = end
            continue
        pieces.append((sentence, numbers, [end]))
    claims = []
    for sentence, numbers, (stop,) in pieces:
        plain = strip_markers(sentence)
        if is_abstention(plain) and not numbers:
            continue
        core = _TRAIL.sub("", _LEAD.sub("", plain).rstrip(" .")).strip()
        core = re.sub(r"\b(passages?|sources?)\s+\d{1,3}\b", "", core, flags=re.IGNORECASE).strip() or plain
        claims.append(SplitClaim(sentence.strip(), tuple(dict.fromkeys(numbers)), core, stop))
    return claims
