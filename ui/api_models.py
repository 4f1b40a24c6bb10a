"""Models of corpusqa's own routes (/v1/ask, /v1/search, /v1/ingest, /v1/status, /healthz).

The others reuse them: citations and claims in the OpenAI-compatible models (ui/api_openai_models.py);
answers, passages, search results and status fields in the MCP tools' results (ui/mcp_server.py).
Every field is described for /openapi.json.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "PATH_PATTERN",
    "QUESTION_PATTERN",
    "AnswerCore",
    "AskRequest",
    "AskResponse",
    "CitationModel",
    "ClaimModel",
    "DocumentCount",
    "DocumentModel",
    "EmbeddingModelName",
    "Health",
    "HistoryTurn",
    "IngestRequest",
    "IngestResponse",
    "LastIngest",
    "SearchHitModel",
    "SearchRequest",
    "SearchResponse",
    "SkippedModel",
    "SkippedPagesModel",
    "StatusResponse",
    "TableModel",
]


def _integral(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer; strict pydantic would not (nor "3" or true, rightly)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: Passages to retrieve or return: 1 to 50, and 3.0 counts as 3 (as it does in JSON Schema).
_TopK = Annotated[int, Field(ge=1, le=50), BeforeValidator(_integral)]

#: A relative path without `..` segments or NUL (symlinks out of the corpus are refused by the API).
PATH_PATTERN = r"^(?!/)(?!(?:[\s\S]*/)?\.\.(?:/|$))[^\x00]*$"
#: A question needs one letter or digit (a word character that is not "_"), as the engine requires.
QUESTION_PATTERN = r"[^\W_]"


# ---- shared ---------------------------------------------------------------------------------------

# Status fields the MCP tool `status` (ui/mcp_server.py) also returns, described once for both; they are
# types rather than a base class so that each model keeps its own field order.
DocumentCount = Annotated[int, Field(description="Number of indexed documents.")]
EmbeddingModelName = Annotated[str, Field(description="The embedding model the index was built with.")]
LastIngest = Annotated[str | None, Field(description="When the last ingest finished (ISO 8601), or null.")]


class TableModel(BaseModel):
    """The rows of one table that a passage holds."""

    name: str = Field(description="The table's caption, or the heading it sits under.")
    rows: list[int] = Field(description="[first, last] body row of the passage, 1-based (the header row is not counted).")
    columns: list[str] = Field(description="The column headers; empty for a table without a header row.")
    cells: list[list[str]] = Field(description="The cell texts of each row, first to last.")


class CitationModel(BaseModel):
    """A passage the answer cites, numbered as in its [n] markers (as in `corpusqa ask --json`)."""

    id: int = Field(description="The number n of the answer's [n] marker that points at this passage.")
    source: str = Field(description="Path of the source file, relative to the ingested folder.")
    title: str = Field(description='Section path the passage sits under ("Installation › Requirements"), or the document title.')
    kind: str = Field(description='What the passage is: "article", "comment" (a reader comment) or "code".')
    start_line: int = Field(description="First line of the passage in the source file (1-based).")
    end_line: int = Field(description="Last line of the passage in the source file (1-based, inclusive).")
    text: str = Field(description="The passage's full text.")
    score: float = Field(
        description="Retrieval score of the passage (reciprocal-rank fusion; higher is better)."
    )
    url: str = Field(
        "",
        description="Link to the source on this server (same key, host and origin rules): a PDF at the cited page "
        "(`#page=N`), any other document as a rendered view scrolled to the passage, the supporting sentence marked.",
    )
    page: int | None = Field(None, description="1-based page of a PDF passage (or frame of a multi-page TIFF); null for other formats.")
    ocr: bool = Field(False, description="True when the passage's text was read from a page image by OCR (Tesseract).")
    ocr_confidence: float | None = Field(
        None, description="Tesseract's mean word confidence (0-100) on the passage's page; null unless `ocr`."
    )
    table: TableModel | None = Field(None, description="For a passage of table rows: the table, its row range, headers and cells.")


class ClaimModel(BaseModel):
    """One claim (sentence) of an LLM answer, checked against the passages it cites."""

    text: str = Field(description="The sentence as the model wrote it.")
    citations: list[int] = Field(description="The passage numbers (citation ids) the sentence cites.")
    supported: bool = Field(
        description="True when every number, date and name in it is in a cited passage and one sentence "
        "there says the same."
    )
    evidence: str | None = Field(description="The sentence of a cited passage that supports it; null when unsupported.")
    reason: str = Field(description='Why it is not supported ("" when it is): no citation, a missing fact, no close sentence.')
    evidence_id: int | None = Field(
        None, description="The passage number the evidence is in; it differs from `citations` when the claim was re-cited."
    )
    recited_from: int | None = Field(
        None,
        description="The number the model cited when the claim was found in another passage it was shown "
        '("cited [3]; found in [2]"); null otherwise, and for a claim that cited nothing.',
    )
    answers_question: bool | None = Field(
        None, description="Whether the supported claim holds what the question asks for; null when unsupported."
    )


class Health(BaseModel):
    """Liveness of the process."""

    status: Literal["ok"] = Field(description='Always "ok" when the server answers.')


# ---- /v1/ask ----------------------------------------------------------------------------------------


class HistoryTurn(BaseModel):
    """One earlier turn of a conversation: the question asked and the answer shown."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(description="The earlier question, as asked.", examples=["Who is Mark Frerichs?"])
    answer: str = Field("", description="The answer that was shown for it (may be empty).")


class AskRequest(BaseModel):
    """A question for POST /v1/ask."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(
        pattern=QUESTION_PATTERN,
        description="The question about the documents (at most CORPUSQA_MAX_QUESTION_CHARS characters).",
        examples=["How many Taliban prisoners were held in total?"],
    )
    backend: Literal["extractive", "openai"] | None = Field(
        None,
        description="Answer backend; default: the server's CORPUSQA_BACKEND. `openai` needs it configured.",
    )
    top_k: _TopK | None = Field(None, description="Passages to retrieve; default: CORPUSQA_TOP_K.")
    history: list[HistoryTurn] | None = Field(
        None,
        description="Earlier turns of the conversation, oldest first: a follow-up (\"Where was he captured?\") "
        "is rewritten to stand alone before it is searched (see `standalone_question`).",
    )


class AnswerCore(BaseModel):
    """The first fields of every answer: of /v1/ask here, and of the MCP tool `ask` (ui/mcp_server.py)."""

    question: str = Field(description="The question as answered (whitespace and control characters cleaned).")
    answer: str = Field(
        description="The answer with [n] markers pointing at `citations`, or the abstention sentence."
    )
    abstained: bool = Field(description="True when the documents do not answer the question.")


class AskResponse(AnswerCore):
    """The answer, exactly as `corpusqa ask --json` prints it."""

    backend: str = Field(description='The backend that answered: "extractive" or "openai".')
    seconds: float = Field(description="Time taken to answer, in seconds.")
    citations: list[CitationModel] = Field(
        description="The passages the answer cites, numbered as its [n] markers."
    )
    short_answer: str | None = Field(
        None,
        description="The span of the cited sentence that answers a number, date, name or place question "
        "(the answer text leads with it); null when the sentence itself is the answer.",
    )
    confidence: float = Field(0.0, description="How sure the extractive answerer is (0-1, calibrated; 0 for openai).")
    band: Literal["answer", "possibly", "abstain"] = Field(
        "answer",
        description='"answer"; "possibly" (the best sentence, hedged: the answer text starts "Possibly:"); '
        '"abstain" (exactly when `abstained`).',
    )
    unsupported: bool = Field(False, description="True when an LLM answer had no valid citation or any claim failed the check.")
    claims: list[ClaimModel] = Field(
        default_factory=list, description="The LLM answer's claims and their verdicts (empty for the extractive backend)."
    )
    model_answer: str | None = Field(
        None, description="The LLM's own text when no claim held up and the answer became an abstention."
    )
    standalone_question: str | None = Field(
        None,
        description="The question as searched: a follow-up rewritten to stand alone from `history` "
        "(the question itself when it already did).",
    )


# ---- /v1/search -------------------------------------------------------------------------------------


class SearchRequest(BaseModel):
    """A query for POST /v1/search."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(
        pattern=QUESTION_PATTERN,
        description="What to look for: a question or keywords (at most CORPUSQA_MAX_QUESTION_CHARS characters).",
        examples=["Taliban prisoners held in total"],
    )
    top_k: _TopK | None = Field(None, description="Passages to return; default: CORPUSQA_TOP_K.")


class SearchHitModel(CitationModel):
    """A passage found, with the citation fields of `corpusqa ask --json` plus its best sentence."""

    id: int = Field(description="The passage's rank, 1 for the best.")
    highlight: str = Field(
        description="The passage's sentence that best matches the query (empty when none stands out)."
    )


class SearchResponse(BaseModel):
    """The passages found, exactly as `corpusqa search --json` prints them."""

    query: str = Field(description="The query as searched (whitespace and control characters cleaned).")
    seconds: float = Field(description="Time taken to search, in seconds.")
    results: list[SearchHitModel] = Field(description="The passages, best first (fused BM25 and dense ranking).")


# ---- /v1/ingest and /v1/status ------------------------------------------------------------------------


class IngestRequest(BaseModel):
    """What to re-ingest; `{}` (no `path`) means the whole corpus folder. A body is required."""

    # python-re for the lookaheads (pydantic's default regex engine has none)
    model_config = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")

    path: str | None = Field(
        None,
        max_length=1024,
        pattern=PATH_PATTERN,
        description="A subfolder or file of the corpus folder (CORPUSQA_CORPUS_DIR), relative to it: "
        "not absolute, no `..` segments, no NUL; paths that lead outside the folder are rejected.",
        examples=["reports/2020"],
    )


class SkippedModel(BaseModel):
    """A file ingest left out."""

    path: str = Field(description="The file's path.")
    reason: str = Field(description="Why it was skipped (too large, unreadable, unsupported type ...).")
    outcome: str = Field(
        "not indexed",
        description='What became of its indexed version: "not indexed" (it had none), "removed" (deleted, '
        'counted in `deleted`) or "kept" (ingested with keep_unreadable).',
    )


class SkippedPagesModel(BaseModel):
    """Pages of an indexed file that ingest left out."""

    path: str = Field(description="The file's path.")
    pages: list[int] = Field(description="The 1-based pages left out.")
    reason: str = Field(description="Why (Tesseract not installed, OCR off ...).")


class IngestResponse(BaseModel):
    """The ingest summary, exactly as `corpusqa ingest --json` prints it (counts are files, but `chunks`)."""

    added: int = Field(description="Files indexed for the first time.")
    updated: int = Field(description="Files whose content changed and were re-indexed.")
    unchanged: int = Field(description="Files already indexed as they are.")
    deleted: int = Field(description="Files gone from the ingested folder whose chunks were removed.")
    skipped: list[SkippedModel] = Field(description="Files left out, with the reason.")
    documents: int = Field(description="Documents in the index after the ingest.")
    chunks: int = Field(description="Chunks in the index after the ingest.")
    seconds: float = Field(description="Time the ingest took, in seconds.")
    ocr_pages: int = Field(0, description="Pages (and image files' frames) read by OCR in this ingest.")
    pages_skipped: list[SkippedPagesModel] = Field(
        default_factory=list, description="Pages of indexed files left out (scanned pages OCR could not read), with the reason."
    )


class DocumentModel(BaseModel):
    """One indexed document."""

    source: str = Field(description="Path of the source file.")
    hash: str = Field(description="Content hash of the file as indexed.")
    chunks: int = Field(description="Chunks the document was split into.")


class StatusResponse(BaseModel):
    """What the index holds, exactly as `corpusqa status --json` prints it."""

    index_dir: str = Field(description="The index directory (CORPUSQA_INDEX_DIR).")
    location: str = Field(
        description="Where the vectors live: the embedded Chroma directory or a Chroma server."
    )
    embedding_model: EmbeddingModelName
    chunk_tokens: int = Field(description="The chunk size (tokens) the index was built with.")
    documents: list[DocumentModel] = Field(description="The indexed documents, by source path.")
    document_count: DocumentCount
    chunks: int = Field(description="Number of chunks in the index.")
    last_ingest: LastIngest
    generation: int = Field(description="Counter bumped by every ingest that changed the index.")
    read_only: bool = Field(False, description="The index directory cannot be written: it answers, ingests are refused.")
    search_fallback: str | None = Field(
        None,
        description="Why questions search Chroma's approximate index instead of the exact sentence vectors "
        "(null: they do not); re-ingest into a fresh index to repair it.",
    )
