"""Indexed documents read back line by line from their chunks, so a client can open the lines a citation names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from corpusqa.errors import InvalidSettingError, SourceNotFoundError
from corpusqa.types import Chunk, DocumentLines
from ingest.loader import UnreadableFile, file_hash, read_file
from ingest.store import StoredDocument

__all__ = ["document_lines", "indexed_text"]


def indexed_text(stored: StoredDocument | None, max_bytes: int) -> str | None:
    """The text ingest chunked for a document, read again from its file; None if it moved or changed since."""
    if stored is None or not stored.root:
        return None
    path = Path(stored.root) / stored.source
    try:
        data = path.read_bytes()
        if file_hash(data) != stored.hash:
            return None
        loaded = read_file(data, path, stored.source, max_bytes)
    except (OSError, UnreadableFile):
        return None
    # pages ingest read by OCR are not read again here: the lines come from the chunks instead
    return None if loaded.pages.unread else loaded.text


def document_lines(
    chunks: Iterable[Chunk], source: str, start: int | None = None, end: int | None = None, text: str | None = None
) -> DocumentLines:
    """Lines start..end (1-based, inclusive; default: all) of `source`, numbered as its citations number them.

    With `text` (what ingest read from the file, see `indexed_text`) every line is there, headings too.
    Without it (the file moved or changed, or the index lives on a Chroma server) the lines are rebuilt
    from the chunks: they are disjoint slices of that text, so each line is put together from the pieces
    chunks hold (two pieces on one line joined by a space); a line no chunk holds (a blank line, a
    heading) comes out empty.
    """
    own = sorted((chunk for chunk in chunks if chunk.source == source), key=lambda chunk: chunk.start_char)
    if not own:
        raise SourceNotFoundError(f"No indexed document is named {source!r}; list the documents with `corpusqa status`.")
    pieces: dict[int, list[str]] = defaultdict(list)
    if text is not None:
        for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
            pieces[number].append(line.rstrip())
    else:
        for chunk in own:
            for offset, part in enumerate(chunk.text.split("\n")):
                if part.strip():
                    pieces[chunk.start_line + offset].append(part.strip())
    last = max(pieces) if text is not None else max(chunk.end_line for chunk in own)
    first_wanted = max(1, start or 1)
    last_wanted = min(last, end or last)
    if first_wanted > last_wanted:
        raise InvalidSettingError(
            f"{source} has lines 1-{last}; ask for a range inside them (e.g. lines=1-{min(last, 20)})."
        )
    lines = [(number, " ".join(pieces.get(number, []))) for number in range(first_wanted, last_wanted + 1)]
    return DocumentLines(source, own[0].title, first_wanted, last_wanted, last, lines)
