"""Turn a loaded file into citable chunks that end on sentence boundaries and never mix sections or kinds."""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpusqa.types import Chunk, TableRows
from ingest.formats import Paragraph
from ingest.formats.tables import row_text
from ingest.loader import LoadedFile, structure

__all__ = ["chunk_file", "count_tokens", "split_sentences"]

# A "sentence" longer than this many chunk sizes (a minified file, a table dump) is cut at word
# boundaries: keeping it whole would make an unreadable, unembeddable passage.
_LONGEST_SENTENCE_FACTOR = 2
# News layout: a line shorter than this share of its passage's longest line, followed by a capitalised
# line, ends a sentence. Hard-wrapped prose fills each line to within one word of the wrap width, so a
# much shorter line is a line of its own (a credit, a label, a dateline); a file that does not wrap its
# paragraphs has no such prose lines to protect.
_SHORT_SHARE = 2 / 3
# A line break after these ends a sentence: end punctuation, perhaps inside closing quotes or brackets.
_LINE_END = re.compile(r"[.!?…:][\"”’')\]]*$")
# A line break before a list item ends a sentence: "- ", "* ", "• ", "1. ", "2) ".
_LIST_ITEM = re.compile(r"^(?:[-*•+]|\d{1,3}[.)])\s")


@lru_cache(maxsize=1)
def _punkt() -> Any:
    # The trained English Punkt model knows abbreviations ("Gen.", "Rep.", "U.S."); llama-index's
    # helper registers its bundled NLTK data (no download while NLTK_DATA is unset). Its own
    # `punkt_tokenizer` is an untrained PunktSentenceTokenizer, hence PunktTokenizer("english").
    from llama_index.core.utils import globals_helper
    from nltk.tokenize.punkt import PunktTokenizer

    globals_helper.wait_for_nltk_check()
    return PunktTokenizer("english")


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    # llama-index's tokenizer reads tiktoken's cl100k_base from its bundled cache (no download).
    from llama_index.core.utils import get_tokenizer

    return get_tokenizer()


def count_tokens(text: str) -> int:
    """Tokens in `text` (cl100k_base, the encoding llama-index uses for budgets)."""
    return len(_tokenizer()(text))


def split_sentences(text: str, start: int = 0, end: int | None = None, layout: str = "plain") -> list[tuple[int, int]]:
    """Sentence spans of text[start:end] as absolute (start, end) offsets, whitespace trimmed.

    Wrapped lines are joined first: a line break ends a sentence only after end punctuation or before a
    list item ("weighs 3,200\nkilograms" is one sentence). In the news layout a short line before a
    capitalised one (a photo credit, a dateline; under _SHORT_SHARE of the passage's longest line) is a
    sentence of its own as well.
    """
    piece = text[start:end]
    # Same length, so Punkt's offsets are offsets into the text.
    joined = piece.replace("\r", " ").replace("\n", " ")
    short = _SHORT_SHARE * max((len(line.strip()) for line in piece.splitlines()), default=0) if layout == "news" else 0.0
    spans = []
    for left, right in _punkt().span_tokenize(joined):
        for sub_left, sub_right in _split_at_line_ends(piece, left, right, short):
            spans.append((start + sub_left, start + sub_right))
    return spans


def _split_at_line_ends(piece: str, left: int, right: int, short: float) -> list[tuple[int, int]]:
    """Sentence spans of piece[left:right] cut at line breaks that end a sentence; `short` (news layout
    only, else 0): a line shorter than this many characters before a capitalised line ends one."""
    out = []
    cursor = left
    line_start = left
    for match in re.finditer(r"\n", piece[left:right]):
        newline = left + match.start()
        before = piece[cursor:newline].rstrip()
        line = piece[line_start:newline].strip()
        following = piece[newline + 1 : right].lstrip()
        ends = bool(_LINE_END.search(before)) or bool(_LIST_ITEM.match(following))
        if short and not ends:
            starts_anew = following[:1].isupper() or following[:1] in "\"“'‘"
            unterminated = bool(before) and before[-1] not in ",;-–—(" and not before[-1].islower()
            ends = starts_anew and (unterminated or 0 < len(line) < short)
        if ends and before:
            out.append((cursor, cursor + len(before)))
            cursor = newline + 1
        line_start = newline + 1
    out.append((cursor, right))
    trimmed = []
    for a, b in out:
        while a < b and piece[a].isspace():
            a += 1
        if a < b:
            trimmed.append((a, b))
    return trimmed


def chunk_file(loaded: LoadedFile, doc_hash: str, chunk_tokens: int) -> list[Chunk]:
    """Chunks of a loaded file, in document order, with titles, kinds, pages, line ranges and offsets."""
    text = loaded.text
    line_starts = [0] + [match.end() for match in re.finditer(r"\n", text)]
    default_title = loaded.title or _title_from_path(loaded.source)
    sections, layout = (list(loaded.sections), loaded.layout) if loaded.sections else structure(text, loaded.format)
    chunks: list[Chunk] = []
    for section in sections:
        title = section.title(default_title)
        for (kind, page, _), paragraphs in _runs(section.paragraphs):
            if kind == "table":
                for rows in _pack_rows(paragraphs, chunk_tokens):
                    chunks.append(_table_chunk(loaded.source, line_starts, rows, title, page, doc_hash, chunk_tokens))
                continue
            sentences = [span for para in paragraphs for span in _sentences_of(text, para, chunk_tokens, layout)]
            for group in _pack(text, sentences, chunk_tokens):
                chunk = _make_chunk(loaded.source, text, line_starts, group, title, kind, page, doc_hash, chunk_tokens)
                # a run is one page, so its paragraphs share their page's OCR confidence
                chunks.append(replace(chunk, ocr_confidence=paragraphs[0].ocr_confidence) if paragraphs[0].ocr_confidence is not None else chunk)
    return chunks


def _title_from_path(source: str) -> str:
    stem = Path(source).stem.replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else source


_RunKey = tuple[str, int | None, int | None]


def _runs(paragraphs: list[Paragraph]) -> list[tuple[_RunKey, list[Paragraph]]]:
    """Consecutive paragraphs of one kind on one page (and rows of one table); a code block is a run of its own."""
    runs: list[tuple[_RunKey, list[Paragraph]]] = []
    for paragraph in paragraphs:
        key = (paragraph.kind, paragraph.page, paragraph.row.table if paragraph.row else None)
        if runs and runs[-1][0] == key and paragraph.kind != "code":
            runs[-1][1].append(paragraph)
        else:
            runs.append((key, [paragraph]))
    return runs


def _sentences_of(text: str, paragraph: Paragraph, chunk_tokens: int, layout: str) -> list[tuple[int, int, int]]:
    """(start, end, tokens) for each sentence; over-long ones cut at word boundaries; a code block is one piece."""
    out = []
    spans = [(paragraph.start, paragraph.end)] if paragraph.kind == "code" else split_sentences(
        text, paragraph.start, paragraph.end, layout
    )
    for start, end in spans:
        tokens = count_tokens(text[start:end])
        if tokens <= chunk_tokens * _LONGEST_SENTENCE_FACTOR:
            out.append((start, end, tokens))
        else:
            out.extend(_cut_long(text, start, end, chunk_tokens))
    return out


def _cut_long(text: str, start: int, end: int, chunk_tokens: int) -> list[tuple[int, int, int]]:
    pieces = []
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    # about 0.75 words a token for English prose; re-measured below
    step = max(1, int(chunk_tokens * 0.75))
    for index in range(0, len(words), step):
        left, right = words[index][0], words[min(index + step, len(words)) - 1][1]
        pieces.append((left, right, count_tokens(text[left:right])))
    return pieces


def _pack(text: str, sentences: list[tuple[int, int, int]], chunk_tokens: int) -> list[list[tuple[int, int, int]]]:
    """Greedy: add whole sentences until the next would pass the budget."""
    groups: list[list[tuple[int, int, int]]] = []
    for sentence in sentences:
        # Measure the real passage: summed sentence counts leave out the whitespace between sentences.
        if groups and count_tokens(text[groups[-1][0][0] : sentence[1]]) <= chunk_tokens:
            groups[-1].append(sentence)
        else:
            groups.append([sentence])
    return groups


def _make_chunk(
    source: str,
    text: str,
    line_starts: list[int],
    group: list[tuple[int, int, int]],
    title: str,
    kind: str,
    page: int | None,
    doc_hash: str,
    chunk_tokens: int,
) -> Chunk:
    start, end = group[0][0], group[-1][1]
    key = f"{source}\x00{doc_hash}\x00{chunk_tokens}\x00{start}:{end}"
    return Chunk(
        id=hashlib.sha256(key.encode("utf-8")).hexdigest()[:32],
        text=text[start:end],
        source=source,
        title=title,
        kind=kind,
        page=page,
        start_line=bisect.bisect_right(line_starts, start),
        end_line=bisect.bisect_right(line_starts, end - 1),
        start_char=start,
        end_char=end,
        doc_hash=doc_hash,
        sentences=tuple((left - start, right - start) for left, right, _ in group),
    )


# ---- tables: whole rows, each with its headers -----------------------------------------------------


def _pack_rows(rows: list[Paragraph], chunk_tokens: int) -> list[list[tuple[Paragraph, str]]]:
    """Greedy over whole rows (never a part of one): add rows until the next would pass the budget.

    A row longer than the budget is a chunk of its own, whole: a row's cells only mean something together.
    """
    groups: list[list[tuple[Paragraph, str]]] = []
    for paragraph in rows:
        assert paragraph.row is not None
        line = row_text(paragraph.row.columns, paragraph.row.cells)
        if groups and count_tokens("\n".join([*(text for _, text in groups[-1]), line])) <= chunk_tokens:
            groups[-1].append((paragraph, line))
        else:
            groups.append([(paragraph, line)])
    return groups


def _table_chunk(
    source: str,
    line_starts: list[int],
    rows: list[tuple[Paragraph, str]],
    title: str,
    page: int | None,
    doc_hash: str,
    chunk_tokens: int,
) -> Chunk:
    """A passage of whole rows, one per line; each row is a sentence (a row over the budget: pieces of whole cells)."""
    text = "\n".join(line for _, line in rows)
    sentences: list[tuple[int, int]] = []
    offset = 0
    for _, line in rows:
        sentences.extend((offset + a, offset + b) for a, b in _cell_pieces(line, chunk_tokens))
        offset += len(line) + 1
    first, last = rows[0][0], rows[-1][0]
    assert first.row is not None and last.row is not None
    start, end = first.start, last.end
    key = f"{source}\x00{doc_hash}\x00{chunk_tokens}\x00{start}:{end}\x00table"
    table = TableRows(
        name=first.row.name or title,
        first_row=first.row.number,
        last_row=last.row.number,
        columns=first.row.columns,
        cells=tuple(paragraph.row.cells for paragraph, _ in rows if paragraph.row is not None),
    )
    return Chunk(
        id=hashlib.sha256(key.encode("utf-8")).hexdigest()[:32],
        text=text,
        source=source,
        title=title,
        kind="table",
        page=page,
        start_line=bisect.bisect_right(line_starts, start),
        end_line=bisect.bisect_right(line_starts, end - 1),
        start_char=start,
        end_char=end,
        doc_hash=doc_hash,
        sentences=tuple(sentences),
        table=table,
        ocr_confidence=first.ocr_confidence,
    )


# Cell separators of `row_text`: a long row's sentences end after one of them.
_CELL_END = re.compile(r"(?:; | \| )")


def _cell_pieces(line: str, chunk_tokens: int) -> list[tuple[int, int]]:
    """(start, end) spans covering a row: the whole row, or runs of whole cells of at most the budget each.

    The embedding model reads a sentence only so far, so a wide row is embedded in pieces; the chunk keeps it whole.
    """
    if count_tokens(line) <= chunk_tokens:
        return [(0, len(line))]
    separators = list(_CELL_END.finditer(line))
    starts = [0, *(match.end() for match in separators)]
    ends = [*(match.start() for match in separators), len(line)]
    pieces: list[tuple[int, int]] = []
    for start, end in zip(starts, ends):
        if pieces and count_tokens(line[pieces[-1][0] : end]) <= chunk_tokens:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((start, end))
    return pieces
