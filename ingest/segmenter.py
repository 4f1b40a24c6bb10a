"""Split a document's text into titled sections of paragraphs, telling reader comments from article text.

Hand-written because no library we have knows this layout: a plain-text file that holds several news
articles, each under a one-line headline, with readers' comments pasted between them. The rules are
general (headline shape, reporting verbs, first/second-person voice), not tied to one corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Paragraph", "Section", "segment"]

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Cues that a paragraph is reported news: attribution verbs or quotation marks.
_REPORTING = re.compile(
    r"\b(said|says|told|according to|wrote|tweeted|added|announced|stated|reported|quoted|asked|explained|"
    r"noted|claimed|called on|called for|clarified|suggested|cautioned|urged|warned|insisted)\b|[“”\"]",
    re.IGNORECASE,
)
# Cues of a reader's voice: first person singular, addressing "you", chat shorthand, shouting punctuation.
_COMMENT_VOICE = re.compile(
    r"\b(I|I'm|I’m|I've|I’ve|IMO|IMHO|my|me|you|your|lol|bro)\b|\?\?|!!|\.\.\.\s*$",
)
_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "vs", "with"}


@dataclass
class Paragraph:
    """A run of non-blank lines, as character offsets into the document text."""

    start: int
    end: int
    kind: str = "article"


@dataclass
class Section:
    """Paragraphs under one title."""

    title: str
    paragraphs: list[Paragraph] = field(default_factory=list)


def segment(text: str, fmt: str, default_title: str) -> list[Section]:
    """Sections of `text` in order; `fmt` is "text", "markdown", "html" or "pdf"."""
    lines = _lines(text)
    markdown_like = fmt in ("markdown", "html")
    sections: list[Section] = [Section(default_title)]
    para_start: int | None = None
    para_end = 0
    headlines = 0

    def close_paragraph() -> None:
        nonlocal para_start
        if para_start is not None:
            sections[-1].paragraphs.append(Paragraph(para_start, para_end))
            para_start = None

    for index, (start, end) in enumerate(lines):
        line = text[start:end]
        stripped = line.strip()
        if not stripped:
            close_paragraph()
            continue
        title = _heading(stripped) if markdown_like else None
        if title is None and fmt == "text" and _looks_like_headline(stripped, text, lines, index):
            title = stripped
        if title is not None:
            close_paragraph()
            headlines += 1
            sections.append(Section(title))
            continue
        if para_start is None:
            para_start = start + (len(line) - len(line.lstrip()))
        para_end = start + len(line.rstrip())
    close_paragraph()
    sections = [section for section in sections if section.paragraphs]
    if fmt == "text" and headlines >= 2:
        for section in sections:
            _mark_trailing_comments(text, section)
    return sections


def _lines(text: str) -> list[tuple[int, int]]:
    spans = []
    position = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        spans.append((position, position + len(body)))
        position += len(line)
    return spans


def _heading(line: str) -> str | None:
    match = _MD_HEADING.match(line)
    return match.group(2).strip() if match else None


def _looks_like_headline(line: str, text: str, lines: list[tuple[int, int]], index: int) -> bool:
    """A short Title-Case line, not ending like a sentence or a label, followed soon by body text."""
    words = line.split()
    if not 3 <= len(words) <= 16 or len(line) > 120:
        return False
    if line[-1] in ".!?,;:“”\")":
        return False
    if sum(char.isdigit() for char in line) > 0.2 * len(line):
        return False  # a dateline such as "March 11, 2020 5:31 PM ET"
    alpha = [word for word in words if word[0].isalpha()]
    if not alpha:
        return False
    capitalised = sum(1 for word in alpha if word[0].isupper() or word.lower() in _MINOR_WORDS)
    if capitalised / len(alpha) < 0.85 or not alpha[0][0].isupper():
        return False
    following = [text[s:e].strip() for s, e in lines[index + 1 : index + 6]]
    body = [candidate for candidate in following if candidate][:3]
    return any(len(candidate) >= 80 for candidate in body)


def _mark_trailing_comments(text: str, section: Section) -> None:
    """Paragraphs after the last one that reads as reported news are reader comments."""
    last_article = -1
    for position, paragraph in enumerate(section.paragraphs):
        body = text[paragraph.start : paragraph.end]
        if _REPORTING.search(body) and not _COMMENT_VOICE.search(_outside_quotes(body)):
            last_article = position
    for paragraph in section.paragraphs[last_article + 1 :]:
        paragraph.kind = "comment"


def _outside_quotes(body: str) -> str:
    return re.sub(r"“[^”]*”|\"[^\"]*\"", " ", body)
