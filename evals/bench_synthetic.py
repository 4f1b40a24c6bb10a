"""A synthetic scale corpus: the scale pages copied N times, each copy with its numbers and names varied.

Copy 0 is the pages as they are (so the scale questions still find their evidence, among nine
near-duplicates); copy k >= 1 must not repeat it (identical texts would give BM25 the same terms N
times over and flatter its statistics), so it rewrites the text between HTML tags: every number is
shifted, and a share of the words (identifiers, mixed-case names, and about one word of five letters
or more in four) gets a suffix that depends on k. Tags and attributes are left alone, so the reader
finds the same structure (titles, headings, landmarks) in every copy.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["copy_varied", "synthetic_corpus", "vary_text"]

# Text between two tags. A regex rather than an HTML parser on purpose: a copy must keep the page's
# markup byte for byte (a parser re-serialises it), and only text nodes change.
_TEXT = re.compile(r">([^<]+)<")
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
_SYLLABLES = ("ka", "ro", "mi", "tel", "vo", "san", "dun", "pe", "lor", "bi")
# entity names in text nodes (&amp; &nbsp; ...) must survive the rewrite
_ENTITY = re.compile(r"&[A-Za-z]+;|&#\d+;|&#x[0-9A-Fa-f]+;")


def _suffix(copy: int) -> str:
    """A pronounceable suffix unique to the copy number (1 -> "ro", 12 -> "roro"...)."""
    digits = str(copy)
    return "".join(_SYLLABLES[int(d)] for d in digits)


def _chosen(word: str, copy: int) -> bool:
    """Whether copy `copy` renames `word`: names always, other words about one in four (by a stable hash)."""
    if "_" in word or any(char.isupper() for char in word[1:]):
        return True
    if len(word) < 5:
        return False
    digest = hashlib.blake2b(f"{copy}:{word.lower()}".encode(), digest_size=2).digest()
    return digest[0] % 4 == 0


def vary_text(text: str, copy: int) -> str:
    """Copy `copy`'s version of a text node: numbers shifted by the copy number, chosen words suffixed."""
    if copy == 0:
        return text
    suffix = _suffix(copy)

    def number(match: re.Match[str]) -> str:
        return str(int(match.group(0)) + copy * 7)

    def word(match: re.Match[str]) -> str:
        value = match.group(0)
        return value + suffix if _chosen(value, copy) else value

    out = []
    last = 0
    for entity in _ENTITY.finditer(text):  # rewrite around entities, never inside one
        out.append(_WORD.sub(word, _NUMBER.sub(number, text[last : entity.start()])))
        out.append(entity.group(0))
        last = entity.end()
    out.append(_WORD.sub(word, _NUMBER.sub(number, text[last:])))
    return "".join(out)


def copy_varied(source: Path, target: Path, copy: int) -> int:
    """Write copy `copy` of one HTML page to target; returns the bytes written."""
    html = source.read_text(encoding="utf-8", errors="replace")
    varied = _TEXT.sub(lambda m: ">" + vary_text(m.group(1), copy) + "<", html)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(varied, encoding="utf-8")
    return len(varied.encode("utf-8"))


def synthetic_corpus(root: Path, pages: list[str], copies: int, target: Path) -> float:
    """`copies` copies of the pages under target/copy-KK/ (copy 0 as it is, the others varied); returns MB written."""
    total = 0
    for copy in range(copies):
        for page in pages:
            total += copy_varied(root / page, target / f"copy-{copy:02d}" / page, copy)
    return total / (1024 * 1024)
