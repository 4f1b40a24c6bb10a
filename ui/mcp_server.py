"""The MCP server: the tools ask, search and status, and each indexed document as a resource (issue #15).

Built on the official `mcp` SDK's MCPServer. Tools run in worker threads (the SDK runs sync tools there),
so the one Engine answers as it does for the page. A user's mistake (empty question, no index) comes
back as a tool error whose text is the engine's one sentence; anything unexpected becomes the SDK's
generic tool error and is logged on stderr: the server keeps serving either way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.uri_template import UriTemplate
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from corpusqa.errors import CorpusQAError, SourceNotFoundError
from corpusqa.settings import Settings
from corpusqa.types import Citation
from rag.conversation import turns_from_pairs
from rag.engine import Engine
from ui.api_models import (
    AnswerCore,
    CitationModel,
    DocumentCount,
    EmbeddingModelName,
    HistoryTurn,
    LastIngest,
    SearchResponse,
)

__all__ = [
    "DOCUMENT_TEMPLATE",
    "MCP_PATH",
    "AskResult",
    "SearchResults",
    "StatusResult",
    "build_server",
    "document_uri",
    "mount_http",
    "serve_stdio",
]

#: Where the page's port serves MCP's streamable-HTTP transport.
MCP_PATH = "/mcp"
#: An indexed document, optionally cut to a line range: corpusqa://documents/notes/a.md?lines=10-20
DOCUMENT_TEMPLATE = "corpusqa://documents/{+source}{?lines}"
_TEMPLATE = UriTemplate.parse(DOCUMENT_TEMPLATE)
_LINES = re.compile(r"^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$")
_GROUNDED = (
    "It uses only the documents indexed on this machine (not the web, not general knowledge), "
    "and every passage comes with its file, line range and a resource URI to open those lines."
)
F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = f"""corpusqa answers questions from a local collection of documents. {_GROUNDED}
Use `ask` for a direct answer with citations, `search` to see the best-matching passages, `status` to see
what is indexed. When `ask` says abstained=true the documents do not answer: say so rather than guess.
Read a cited resource URI (corpusqa://documents/<source>?lines=a-b) to see the lines around a citation."""


def document_uri(source: str, start: int | None = None, end: int | None = None) -> str:
    """The resource URI of a document, or of its lines start..end."""
    variables = {"source": source}
    if start is not None:
        variables["lines"] = f"{start}-{end if end is not None else start}"
    return _TEMPLATE.expand(variables)


# ---- structured results (their JSON Schema is each tool's outputSchema) -----------------------------
# Built on the HTTP API's models (ui/api_models.py) where the fields are the same, so the two contracts
# cannot drift apart; the fields an MCP client reads differently keep their own wording here.


class CitedPassage(CitationModel):
    """A passage, with the citation fields of `corpusqa ask --json`, its best sentence and its URI."""

    id: int = Field(description="Number of the passage: the [n] marker in the answer, or the search rank.")
    highlight: str = Field(description="The passage's sentence that answers or best matches (may be empty).")
    uri: str = Field(description="Resource URI of the passage's lines; read it to see them in the document.")


class AskResult(AnswerCore):
    """An answer grounded in the indexed documents, or an abstention."""

    short_answer: str | None = Field(description="The answer's key phrase alone, when the engine gives one.")
    band: str = Field(
        description='"answer" (confident), "possibly" (the best sentence found, hedged: tell the user it may not '
        'answer the question) or "abstain" (the documents do not say).'
    )
    confidence: float = Field(description="The calibrated confidence behind `band`, 0 to 1.")
    backend: str = Field(description='The answerer: "extractive" (quotes a sentence) or "openai" (an LLM).')
    citations: list[CitedPassage] = Field(description="The passages the answer cites, numbered as its [n] markers.")
    standalone_question: str = Field(
        description="The question as searched: a follow-up rewritten to stand alone from `history`."
    )


class SearchResults(SearchResponse):
    """Passages matching a query, best first, as `corpusqa search --json` plus resource URIs."""

    # The same passages with their URIs; pydantic lets a subclass retype a field, mypy does not.
    results: list[CitedPassage] = Field(description="The passages, best first.")  # type: ignore[assignment]


class IndexedDocument(BaseModel):
    """One indexed document."""

    source: str = Field(description="Path of the source file, relative to the ingested folder.")
    chunks: int = Field(description="Passages it was split into.")
    uri: str = Field(description="Resource URI of the whole document.")


class StatusResult(BaseModel):
    """What the index holds."""

    document_count: DocumentCount
    chunks: int = Field(description="Number of passages in the index.")
    documents: list[IndexedDocument] = Field(description="The documents, by source path.")
    embedding_model: EmbeddingModelName
    last_ingest: LastIngest
    location: str = Field(description="Where the index lives.")


def _passage(citation: Citation) -> CitedPassage:
    uri = document_uri(citation.source, citation.start_line, citation.end_line)
    return CitedPassage(**{**citation.to_json(), "highlight": citation.highlight, "uri": uri})


def _tool_errors(func: F) -> F:
    """A CorpusQAError becomes a tool error (isError) whose text is its one sentence.

    Returned rather than raised as ToolError: the SDK would prefix "Error executing tool <name>: ".
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CorpusQAError as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    return wrapper  # type: ignore[return-value]


# ---- the server ---------------------------------------------------------------------------------------

TopK = Annotated[int | None, Field(ge=1, le=50, description="Passages to retrieve (1-50); default: the server's setting.")]


class _CorpusServer(MCPServer):
    """MCPServer whose resource list is the index's documents at the time of asking."""

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    async def list_resources(self) -> list[Resource]:
        """The static resources (none) plus one per indexed document (none before the first ingest)."""
        listed = await super().list_resources()
        try:
            status = await anyio.to_thread.run_sync(self.engine.status)
        except CorpusQAError:
            return listed
        for document in status.documents:
            listed.append(
                Resource(
                    uri=document_uri(document.source),
                    name=document.source,
                    description=f"Indexed document ({document.chunks} passages); add ?lines=a-b for a line range.",
                    mime_type="text/plain",
                )
            )
        return listed


def build_server(engine: Engine, settings: Settings) -> MCPServer:
    """The MCP server over one Engine: tools ask, search, status and the document resources."""
    # MCPServer's constructor calls logging.basicConfig (a RichHandler on the root logger), which would
    # print every library's debug records in `corpusqa ui`; the entry points own logging, so undo it.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = _CorpusServer(
        engine, name="corpusqa", title="corpusqa", version="0.1.0", instructions=INSTRUCTIONS, log_level="WARNING"
    )
    root.handlers[:] = handlers
    root.setLevel(level)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        description="Answer a question from the indexed documents, with the passages it cites. "
        f"{_GROUNDED} When the documents do not say, `abstained` is true and the answer says so; "
        "do not fill the gap from elsewhere.",
        annotations=read_only,
    )
    @_tool_errors
    def ask(
        question: Annotated[str, Field(description="The question, in plain words.")],
        top_k: TopK = None,
        history: Annotated[
            list[HistoryTurn] | None,
            Field(
                description="Earlier turns of this conversation, oldest first, so that a follow-up such as "
                "'Where was he captured?' is understood; see `standalone_question` in the result."
            ),
        ] = None,
    ) -> AskResult:
        turns = turns_from_pairs((turn.question, turn.answer) for turn in history or [])
        answer = engine.ask(question, top_k=top_k, history=turns)
        return AskResult(
            question=answer.question,
            answer=answer.answer,
            abstained=answer.abstained,
            short_answer=answer.short_answer,
            band=answer.band,
            confidence=round(answer.confidence, 4),
            backend=answer.backend,
            citations=[_passage(citation) for citation in answer.citations],
            standalone_question=answer.standalone_question or answer.question,
        )

    @server.tool(
        description="Find the passages of the indexed documents that best match a query (keywords or a "
        f"question), each with its best-matching sentence as `highlight`. {_GROUNDED} Use it to explore or "
        "to gather evidence; use `ask` for a direct answer.",
        annotations=read_only,
    )
    @_tool_errors
    def search(
        query: Annotated[str, Field(description="What to look for: keywords or a question.")], top_k: TopK = None
    ) -> SearchResults:
        result = engine.search(query, top_k)
        return SearchResults(
            query=result.query, seconds=round(result.seconds, 4), results=[_passage(hit) for hit in result.results]
        )

    @server.tool(
        description="List what corpusqa has indexed: the documents (with resource URIs), passage count and "
        "last ingest. Call it to learn what the documents cover before asking.",
        annotations=read_only,
    )
    @_tool_errors
    def status() -> StatusResult:
        status = engine.status()
        return StatusResult(
            document_count=len(status.documents),
            chunks=status.chunks,
            documents=[IndexedDocument(source=d.source, chunks=d.chunks, uri=document_uri(d.source)) for d in status.documents],
            embedding_model=status.embedding_model,
            last_ingest=status.last_ingest,
            location=status.location or status.index_dir,
        )

    @server.resource(
        DOCUMENT_TEMPLATE,
        name="document",
        title="Indexed document",
        description="An indexed document as the index holds its text, each line prefixed with its number; "
        "`lines=a-b` (or `lines=a`) cuts it to a line range, as cited by `ask` and `search`.",
        mime_type="text/plain",
    )
    def document(source: str, lines: str = "") -> str:
        start, end = _line_range(lines)
        try:
            return engine.document(source, start, end).text()
        except SourceNotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except CorpusQAError as exc:
            raise ResourceError(str(exc)) from exc

    return server


def _line_range(lines: str) -> tuple[int | None, int | None]:
    if not lines:
        return None, None
    match = _LINES.match(lines)
    if match is None:
        raise ResourceError(f"The line range {lines[:40]!r} is not valid; write it as lines=10-20 or lines=10.")
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if start < 1 or end < start:
        raise ResourceError(f"The line range {lines[:40]!r} is empty; give a first line of 1 or more, then a last line.")
    return start, end


def mount_http(app: Any, engine: Engine, settings: Settings) -> None:
    """Serve MCP's streamable-HTTP transport at /mcp of a FastAPI app (ui/api.py guards it with the API key).

    Call before the page is mounted at "/", so /mcp is routed first. The SDK's session manager runs in
    the app's lifespan, chained after whatever lifespan the app already has.
    """
    from starlette.routing import Route

    server = build_server(engine, settings)
    # The SDK's app holds one route at the given path; routed to unchanged, it answers at /mcp here.
    # On a loopback host the SDK also turns on its DNS-rebinding protection (Host and Origin checks).
    mcp_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=settings.ui_host)
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp_app, methods=["GET", "POST", "DELETE"]))
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(scope_app: Any) -> AsyncIterator[Any]:
        async with outer(scope_app) as state, server.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan


def serve_stdio(settings: Settings) -> None:
    """Serve MCP over this process's stdin and stdout until the client closes them."""
    # The SDK points fd 1 at stderr while it serves, so stray prints (model loading, libraries) never
    # reach the protocol stream.
    build_server(Engine.from_settings(settings), settings).run("stdio")
