"""From a citation to its source: the link a citation carries, and the indexed file it opens (read-only).

The link names a document by its indexed name (and a chunk id); the file is found from the path the
index recorded for that name at ingest, never from a path in a request, and only when it still lies
inside the folder it was ingested from and still holds the content that was indexed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from corpusqa.errors import SourceNotFoundError
from corpusqa.types import Chunk
from ingest.loader import UnreadableFile, file_hash, read_file
from ingest.state import ManifestEntry

__all__ = ["FILE_ROUTE", "VIEW_ROUTE", "SourceFile", "SourceView", "citation_url", "open_source", "source_view"]

#: The server's routes (ui/sources.py): a PDF as it is, any indexed document as a rendered view.
FILE_ROUTE = "/source/file"
VIEW_ROUTE = "/source/view"
#: Element ids in the rendered view that a link's fragment scrolls to.
PASSAGE_ID, MARK_ID = "cqa-passage", "cqa-mark"


@dataclass(frozen=True)
class SourceFile:
    """An indexed file as it is on disk now (its bytes match what was indexed)."""

    source: str
    path: Path
    data: bytes


@dataclass(frozen=True)
class SourceView:
    """An indexed document's text with the cited passage and its supporting sentence located in it."""

    source: str
    title: str
    fmt: str  # "markdown" | "text" | "html" | "docx" | "pdf"
    text: str
    passage: tuple[int, int] | None  # character range of the cited chunk in `text`
    mark: tuple[int, int] | None  # character range of the supporting sentence in `text`
    start_line: int = 0
    end_line: int = 0


def citation_url(chunk: Chunk, highlight: str) -> str:
    """The link a citation gives to its source: a PDF at its page, anything else as a view at the passage."""
    if chunk.source.lower().endswith(".pdf"):
        page = f"#page={chunk.page}" if chunk.page else ""
        return f"{FILE_ROUTE}?{urlencode({'doc': chunk.source})}{page}"
    query = {"doc": chunk.source, "chunk": chunk.id}
    sentence = _sentence_index(chunk, highlight)
    if sentence is not None:
        query["mark"] = str(sentence)
    return f"{VIEW_ROUTE}?{urlencode(query)}#{MARK_ID if sentence is not None else PASSAGE_ID}"


def _sentence_index(chunk: Chunk, highlight: str) -> int | None:
    """Which of the chunk's sentences holds the highlight (compared ignoring whitespace)."""
    wanted = " ".join(highlight.split())
    if not wanted:
        return None
    spans = [" ".join(chunk.text[a:b].split()) for a, b in chunk.sentences]
    for index, sentence in enumerate(spans):
        if sentence == wanted:
            return index
    for index, sentence in enumerate(spans):
        if wanted in sentence or (len(sentence) > 20 and sentence in wanted):
            return index
    return None


def open_source(manifest: Mapping[str, ManifestEntry], source: str) -> SourceFile:
    """The committed document `source` from its recorded folder; SourceNotFoundError if it is not indexed,
    lies outside that folder (a link leading out) or changed since it was indexed."""
    entry = manifest.get(source)
    if entry is None or not entry.root:
        raise SourceNotFoundError(f"No indexed document is named {source[:200]!r}; list the documents with `corpusqa status`.")
    root = Path(entry.root).resolve()
    # Files of the corpus folder are named by their path in it; other folders' by "<folder>/<path>".
    names = [source] + ([source.split("/", 1)[1]] if "/" in source else [])
    for name in names:
        try:
            path = (root / name).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                continue
            data = path.read_bytes()
        except (OSError, RuntimeError):
            continue
        if file_hash(data) == entry.hash:
            return SourceFile(source, path, data)
    raise SourceNotFoundError(
        f"{source[:200]} changed or moved since it was indexed; run `corpusqa ingest` and follow the citation again."
    )


def source_view(found: SourceFile, chunks: Mapping[str, Chunk], chunk_id: str, mark: int | None, max_bytes: int) -> SourceView:
    """The document's text as ingest read it, with the chunk `chunk_id` and its sentence `mark` located."""
    try:
        loaded = read_file(found.data, found.path, found.source, max_bytes)
    except UnreadableFile as exc:
        raise SourceNotFoundError(f"{found.source[:200]} cannot be read any more ({exc}); run `corpusqa ingest`.") from exc
    text = loaded.text
    chunk = chunks.get(chunk_id)
    if chunk is None or chunk.source != found.source:
        return SourceView(found.source, loaded.title, loaded.format, text, None, None)
    passage = _locate(text, chunk.text, chunk.start_char) or (chunk.start_char, min(chunk.end_char, len(text)))
    located: tuple[int, int] | None = None
    if mark is not None and 0 <= mark < len(chunk.sentences):
        a, b = chunk.sentences[mark]
        located = _locate(text, chunk.text[a:b].strip(), passage[0] + a)
    return SourceView(found.source, loaded.title, loaded.format, text, passage, located, chunk.start_line, chunk.end_line)


def _locate(text: str, piece: str, near: int) -> tuple[int, int] | None:
    """Where `piece` sits in `text`, looked for from just before `near` first (a chunk is a slice of the text)."""
    if not piece:
        return None
    start = text.find(piece, max(0, near - 200))
    if start < 0:
        start = text.find(piece)
    return (start, start + len(piece)) if start >= 0 else None
