"""Dataclasses shared by every floor: chunks, citations, answers and ingest reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Claim",
    "DocumentLines",
    "DocumentStatus",
    "IndexStatus",
    "IngestReport",
    "ScoredChunk",
    "SearchResult",
    "Skipped",
    "SkippedPages",
    "TableRows",
    "Timings",
    "kind_label",
]


def kind_label(kind: str) -> str:
    """How a passage's kind is shown to people: "reader comment" for a comment, else the kind itself."""
    return "reader comment" if kind == "comment" else kind


@dataclass(frozen=True)
class TableRows:
    """The body rows of one table that a passage holds: the table's name, the row range, headers and cells."""

    name: str  # the table's caption, or the heading it sits under
    first_row: int  # 1-based among the table's body rows (its header row is not counted)
    last_row: int
    columns: tuple[str, ...] = ()  # the column headers; () for a table without a header row
    cells: tuple[tuple[str, ...], ...] = ()  # one tuple of cell texts per row, first_row..last_row

    def to_json(self) -> dict[str, Any]:
        """The table part of a citation in `corpusqa ask --json`."""
        return {
            "name": self.name,
            "rows": [self.first_row, self.last_row],
            "columns": list(self.columns),
            "cells": [list(row) for row in self.cells],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableRows:
        """The inverse of `to_json`."""
        first, last = data["rows"]
        return cls(
            str(data["name"]), int(first), int(last), tuple(map(str, data["columns"])),
            tuple(tuple(map(str, row)) for row in data["cells"]),
        )


@dataclass(frozen=True)
class Chunk:
    """A citable passage: its text and where it sits in its source file."""

    id: str
    text: str
    source: str
    title: str
    kind: str  # "article" | "comment" (reader comments, news layout only) | "code" | "table" (whole rows of a table)
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    doc_hash: str
    # (start, end) character offsets of each sentence inside `text`
    sentences: tuple[tuple[int, int], ...] = ()
    # (start, end, spaCy label) of each named entity, number or date in `text`, found at ingest
    entities: tuple[tuple[int, int, str], ...] = ()
    page: int | None = None  # 1-based PDF page (or frame of an image file); None for other formats
    table: TableRows | None = None  # kind "table": which rows of which table
    # read by OCR: Tesseract's mean word confidence (0-100) on the page; None for text the file holds
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its fused score and the ranks each retriever gave it (0 = not found)."""

    chunk: Chunk
    score: float
    bm25_rank: int = 0
    dense_rank: int = 0


@dataclass(frozen=True)
class Citation:
    """A passage an answer cites, numbered as in the answer's [n] markers."""

    id: int
    source: str
    title: str
    kind: str
    start_line: int
    end_line: int
    text: str
    score: float
    chunk_id: str = ""
    # the sentence of `text` that supports the answer ("" when none is singled out)
    highlight: str = ""
    page: int | None = None  # 1-based PDF page (or frame of an image file); None for other formats
    table: TableRows | None = None  # a passage of table rows: the table's name, row range, headers and cells
    ocr_confidence: float | None = None  # text read by OCR: Tesseract's mean word confidence (0-100)
    # the server's link to the source: a PDF at its page, anything else as a view with the sentence marked
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        """The citation as in `corpusqa ask --json` (a stable contract)."""
        return {
            "id": self.id,
            "source": self.source,
            "title": self.title,
            "kind": self.kind,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "text": self.text,
            "score": round(self.score, 4),
            "page": self.page,
            "url": self.url,
            "ocr": self.ocr_confidence is not None,
            "ocr_confidence": None if self.ocr_confidence is None else round(self.ocr_confidence, 1),
            "table": self.table.to_json() if self.table else None,
        }


@dataclass(frozen=True)
class Claim:
    """One sentence of an LLM answer, checked against the passages it cites."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    # the sentence of a cited passage that supports the claim (None when unsupported)
    evidence: str | None = None
    # the citation number of the passage holding `evidence`
    evidence_id: int | None = None
    # why the claim failed ("" when supported): no citation, a number or name the passages lack, or no close sentence
    reason: str = ""
    # the passage number the model cited when the claim was found in another passage it was given ("cited [3];
    # found in [2]": recited_from 3, evidence_id 2); None when it was found where cited, or the claim cited nothing
    recited_from: int | None = None
    # whether the supported claim holds what the question asks for (None: not judged, e.g. unsupported)
    answers_question: bool | None = None

    @property
    def recited(self) -> bool:
        """Whether the claim was attributed to a passage it did not cite (a wrong or a missing marker)."""
        return self.supported and self.evidence_id is not None and self.evidence_id not in self.citations

    def to_json(self) -> dict[str, Any]:
        """The claim as in `corpusqa ask --json`."""
        return {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "evidence": self.evidence,
            "reason": self.reason,
            "evidence_id": self.evidence_id,
            "recited_from": self.recited_from,
            "answers_question": self.answers_question,
        }


@dataclass
class Timings:
    """Seconds spent in each stage of answering a question."""

    embedding: float = 0.0
    retrieval: float = 0.0
    answering: float = 0.0
    rewriting: float = 0.0  # a follow-up's rewrite into a standalone question (0 without history)

    @property
    def total(self) -> float:
        """All stages together."""
        return self.embedding + self.retrieval + self.answering + self.rewriting


@dataclass
class Answer:
    """An answer with the passages it cites; `abstained` when the documents do not say."""

    question: str
    answer: str
    abstained: bool
    backend: str
    seconds: float
    citations: list[Citation] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    # passages retrieved for the question, best first (what was shown to the answerer)
    retrieved: list[ScoredChunk] = field(default_factory=list)
    # True when an LLM answer carried no valid [n] citation, or any of its claims failed the check
    unsupported: bool = False
    confidence: float = 0.0
    # the span of the cited sentence that answers a number/date/name question (None: the sentence is the answer)
    short_answer: str | None = None
    band: str = "answer"  # "answer" | "possibly" (hedged) | "abstain"
    # the LLM answer's claims and their verdicts (empty for the extractive backend)
    claims: list[Claim] = field(default_factory=list)
    # the LLM's own text when no claim held up and the answer became an abstention
    model_answer: str | None = None
    # the question as searched: a follow-up rewritten to stand alone (the question itself when it did)
    standalone_question: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The answer as in `corpusqa ask --json` (a stable contract other tools read)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "backend": self.backend,
            "seconds": round(self.seconds, 4),
            "citations": [citation.to_json() for citation in self.citations],
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
            "band": self.band,
            "unsupported": self.unsupported,
            "claims": [claim.to_json() for claim in self.claims],
            "model_answer": self.model_answer,
            "standalone_question": self.standalone_question or self.question,
        }


@dataclass(frozen=True)
class Skipped:
    """A file that ingest reported and left out, with the reason and what became of its indexed version."""

    path: str
    reason: str
    # "not indexed" (it was not in the index), "removed" (its indexed version was deleted, so nothing cites text the
    # file no longer holds) or "kept" (its indexed version stays: --keep-unreadable)
    outcome: str = "not indexed"


@dataclass(frozen=True)
class SkippedPages:
    """Pages of an indexed file that were left out (a scan's pages when OCR cannot run), with the reason."""

    path: str
    pages: tuple[int, ...]
    reason: str


@dataclass
class IngestReport:
    """What an ingest did (or, with dry_run, would do). Counts are files, except `chunks`."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    embedded_chunks: int = 0
    #: wall seconds per stage (read, chunk, annotate, embed, write, commit), for `corpusqa bench`
    stages: dict[str, float] = field(default_factory=dict)
    ocr_pages: int = 0  # pages (and image files' frames) read by OCR in this run
    pages_skipped: list[SkippedPages] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary as in `corpusqa ingest --json` (a stable contract)."""
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "skipped": [asdict(item) for item in self.skipped],
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "ocr_pages": self.ocr_pages,
            "pages_skipped": [{"path": item.path, "pages": list(item.pages), "reason": item.reason} for item in self.pages_skipped],
        }

    def summary(self) -> str:
        """One line for humans."""
        verb = "would be" if self.dry_run else "were"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.deleted)} deleted, {len(self.skipped)} skipped ({verb} processed); "
            f"index: {self.documents} documents, {self.chunks} chunks; {self.seconds:.1f} s"
            + (f"; {self.ocr_pages} page{'s' if self.ocr_pages != 1 else ''} read by OCR" if self.ocr_pages else "")
            + "".join(
                f"; {item.path}: page{'s' if len(item.pages) > 1 else ''} {_page_list(item.pages)} skipped ({item.reason})"
                for item in self.pages_skipped
            )
        )


@dataclass(frozen=True)
class DocumentStatus:
    """One indexed document."""

    source: str
    hash: str
    chunks: int


@dataclass
class IndexStatus:
    """What the index holds."""

    index_dir: str
    embedding_model: str
    chunk_tokens: int
    documents: list[DocumentStatus]
    chunks: int
    last_ingest: str | None
    generation: int
    location: str = ""
    #: the index directory cannot be written: it answers questions, an ingest is refused
    read_only: bool = False
    #: why questions search Chroma's approximate index instead of the exact sentence matrix (None: they do not)
    search_fallback: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The status as in `corpusqa status --json`."""
        return {
            "index_dir": self.index_dir,
            "location": self.location or self.index_dir,
            "embedding_model": self.embedding_model,
            "chunk_tokens": self.chunk_tokens,
            "documents": [asdict(doc) for doc in self.documents],
            "document_count": len(self.documents),
            "chunks": self.chunks,
            "last_ingest": self.last_ingest,
            "generation": self.generation,
            "read_only": self.read_only,
            "search_fallback": self.search_fallback,
        }


@dataclass
class SearchResult:
    """Passages found for a query, best first; each citation's `highlight` is its best sentence."""

    query: str
    results: list[Citation]
    seconds: float
    timings: Timings = field(default_factory=Timings)

    def to_json(self) -> dict[str, Any]:
        """The results as in `corpusqa search --json` (a stable contract)."""
        return {
            "query": self.query,
            "seconds": round(self.seconds, 4),
            "results": [{**hit.to_json(), "highlight": hit.highlight} for hit in self.results],
        }


@dataclass(frozen=True)
class DocumentLines:
    """Lines of one indexed document, as the index holds its text (numbered as citations number them)."""

    source: str
    title: str
    start_line: int
    end_line: int
    last_line: int  # the document's last indexed line
    # (line number, text) for each line in the range; lines holding no indexed text come out empty
    lines: list[tuple[int, str]]

    def text(self) -> str:
        """The lines, each prefixed with its number."""
        width = len(str(self.end_line))
        return "\n".join(f"{number:>{width}}  {line}".rstrip() for number, line in self.lines)


def _page_list(pages: tuple[int, ...]) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    spans: list[list[int]] = []
    for page in sorted(pages):
        if spans and page == spans[-1][1] + 1:
            spans[-1][1] = page
        else:
            spans.append([page, page])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)
