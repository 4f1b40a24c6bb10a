"""Indexed documents read back line by line from their chunks, so a client can open the lines a citation names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from corpusqa.errors import InvalidSettingError, SourceNotFoundError
from corpusqa.types import Chunk, DocumentLines

__all__ = ["document_lines"]


def document_lines(chunks: Iterable[Chunk], source: str, start: int | None = None, end: int | None = None) -> DocumentLines:
    """Lines start..end (1-based, inclusive; default: the whole document) of `source` as the index holds it.

    The text comes from the index, not from the file: it is what was cited (PDF and HTML as extracted),
    and it stays readable when the file has since moved or changed. Chunks are disjoint slices of the
    extracted text, so each line is rebuilt from the pieces of it that chunks hold; the whitespace
    between two chunks on one line becomes one space, and a line no chunk holds (blank) stays empty.
    """
    own = sorted((chunk for chunk in chunks if chunk.source == source), key=lambda chunk: chunk.start_char)
    if not own:
        raise SourceNotFoundError(f"No indexed document is named {source!r}; list the documents with `corpusqa status`.")
    pieces: dict[int, list[str]] = defaultdict(list)
    for chunk in own:
        for offset, part in enumerate(chunk.text.split("\n")):
            if part.strip():
                pieces[chunk.start_line + offset].append(part.strip())
    last = max(chunk.end_line for chunk in own)
    first_wanted = max(1, start or 1)
    last_wanted = min(last, end or last)
    if first_wanted > last_wanted:
        raise InvalidSettingError(
            f"{source} has lines 1-{last}; ask for a range inside them (e.g. lines=1-{min(last, 20)})."
        )
    lines = [(number, " ".join(pieces.get(number, []))) for number in range(first_wanted, last_wanted + 1)]
    return DocumentLines(source, own[0].title, first_wanted, last_wanted, last, lines)
