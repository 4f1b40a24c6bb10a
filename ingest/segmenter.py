"""The news layout of plain text: articles under one-line headlines, with readers' comments between them.

Hand-written because no library we have knows this layout. It runs only when `is_news_layout` says the
file has it (or CORPUSQA_TEXT_LAYOUT=news). The rules are general (headline shape, reporting verbs,
first/second-person voice), not tied to one corpus.
"""

from __future__ import annotations

import re

from ingest.formats import Paragraph, Section

__all__ = ["is_news_layout", "news_sections"]

# Cues that a paragraph is reported news: the common English verbs of attribution (as a style guide lists
# them for news writing), or quotation marks.
_REPORTING = re.compile(
    r"\b(said|says|told|according to|wrote|added|announced|stated|reported|quoted|asked|explained|"
    r"noted|claimed|called on|called for|suggested|urged|warned|insisted)\b|[“”\"]",
    re.IGNORECASE,
)
# Cues of a reader's voice: the first person singular, addressing "you", doubled punctuation, a trailing
# ellipsis. Pronouns only, no slang: a list of chat words would be a list of one page's words.
_COMMENT_VOICE = re.compile(
    r"\b(I|I'm|I’m|I've|I’ve|my|me|you|your)\b|\?\?|!!|\.\.\.\s*$",
)
_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "vs", "with"}




def news_sections(text: str) -> list[Section]:
    """Sections under each headline, the paragraphs after an article's last reported one marked `comment`."""
    sections = _headline_sections(text)
    for section in sections:
        _mark_trailing_comments(text, section)
    return sections


def is_news_layout(text: str) -> bool:
    """The rule: two or more headlines, reported speech under at least 3/4 of them, and a reader's voice after one.

    A headline is a short Title-Case line (3-16 words) followed within a few lines by a long body line;
    reported speech is a paragraph with an attribution verb or quotation marks in the writer's voice; a
    comment is a paragraph after an article's last reported one, written in a reader's voice (I, you, "??").
    """
    sections = _headline_sections(text)
    headlined = [section for section in sections if section.path]
    if len(headlined) < 2:
        return False
    reported = [section for section in headlined if any(_reads_as_report(text, p) for p in section.paragraphs)]
    if len(reported) * 4 < len(headlined) * 3:
        return False
    for section in sections:
        _mark_trailing_comments(text, section)
    return any(
        paragraph.kind == "comment" and _COMMENT_VOICE.search(text[paragraph.start : paragraph.end])
        for section in sections
        for paragraph in section.paragraphs
    )


def _headline_sections(text: str) -> list[Section]:
    lines = _lines(text)
    sections: list[Section] = [Section(())]
    para_start: int | None = None
    para_end = 0

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
        if _looks_like_headline(stripped, text, lines, index):
            close_paragraph()
            sections.append(Section((stripped,)))
            continue
        if para_start is None:
            para_start = start + (len(line) - len(line.lstrip()))
        para_end = start + len(line.rstrip())
    close_paragraph()
    return [section for section in sections if section.paragraphs]


def _lines(text: str) -> list[tuple[int, int]]:
    spans = []
    position = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        spans.append((position, position + len(body)))
        position += len(line)
    return spans


def _looks_like_headline(line: str, text: str, lines: list[tuple[int, int]], index: int) -> bool:
    """A short Title-Case line, not ending like a sentence or a label, followed soon by body text."""
    words = line.split()
    if not 3 <= len(words) <= 16 or len(line) > 120:
        return False
    if line[-1] in ".!?,;:“”\")":
        return False
    if sum(char.isdigit() for char in line) > 0.2 * len(line):
        return False  # a dateline such as "April 2, 2018 7:05 AM ET"
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
        if _reads_as_report(text, paragraph):
            last_article = position
    for paragraph in section.paragraphs[last_article + 1 :]:
        paragraph.kind = "comment"


def _reads_as_report(text: str, paragraph: Paragraph) -> bool:
    body = text[paragraph.start : paragraph.end]
    return bool(_REPORTING.search(body)) and not _COMMENT_VOICE.search(_outside_quotes(body))


def _outside_quotes(body: str) -> str:
    return re.sub(r"“[^”]*”|\"[^\"]*\"", " ", body)
