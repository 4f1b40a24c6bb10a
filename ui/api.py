"""The HTTP API: OpenAI-style chat completions, ask, search, ingest and status over one Engine (#9, #15).

Every route lives under /v1/ (plus /healthz, /openapi.json and /docs), so the chat page can be mounted
at "/" on the same app. Routes only read the request, call the Engine and shape its result; errors
leave in OpenAI's shape `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from corpusqa.errors import (
    CorpusQAError,
    EmptyCorpusError,
    EmptyQuestionError,
    IndexBusyError,
    IndexNotFoundError,
    InvalidSettingError,
    LLMError,
    ModelLoadError,
    SourceNotFoundError,
)
from corpusqa.settings import Settings
from corpusqa.types import Answer
from rag.engine import Engine
from ui.api_models import (
    AskRequest,
    AskResponse,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    ErrorResponse,
    Health,
    IngestRequest,
    IngestResponse,
    ModelList,
    SearchRequest,
    SearchResponse,
    StatusResponse,
)
from ui.guard import Guard, PageLogins, error_body, error_response, http_error

__all__ = ["MAX_BODY_BYTES", "MODEL_PREFIX", "create_api_app"]

#: Request bodies larger than this get 413 (questions are capped far lower by CORPUSQA_MAX_QUESTION_CHARS).
MAX_BODY_BYTES = 1_000_000
#: Model ids are this prefix plus a backend name: corpusqa-extractive, corpusqa-openai.
MODEL_PREFIX = "corpusqa-"

_log = logging.getLogger("corpusqa.api")

# CorpusQAError subclass -> (HTTP status, error code); the first match wins, the base class falls to 400.
_ERROR_STATUS: list[tuple[type[CorpusQAError], int, str]] = [
    (EmptyQuestionError, 400, "invalid_question"),
    (InvalidSettingError, 400, "invalid_setting"),
    (SourceNotFoundError, 404, "path_not_found"),
    (IndexNotFoundError, 409, "index_not_found"),
    (EmptyCorpusError, 409, "index_empty"),
    (IndexBusyError, 409, "index_busy"),
    (LLMError, 502, "llm_failed"),
    (ModelLoadError, 500, "model_load_failed"),
]


class ApiError(Exception):
    """A request the API itself refuses (unknown model, no user message, busy ingest ...)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


@dataclass
class _Api:
    """What the routes share: the one engine and settings, the ingest lock, the start time."""

    engine: Engine
    settings: Settings
    ingest_lock: threading.Lock
    started: int


def create_api_app(engine: Engine, settings: Settings) -> fastapi.FastAPI:
    """A FastAPI app with /healthz and the /v1/ routes; it leaves "/" free for the chat page."""
    app = fastapi.FastAPI(
        title="corpusqa",
        version="0.1.0",
        summary="Questions about your documents, answered with cited passages; OpenAI-compatible.",
        docs_url=None,  # served below from the packaged Swagger UI, not from a CDN
        redoc_url=None,
    )
    api = _Api(engine, settings, threading.Lock(), int(time.time()))
    app.state.page_logins = PageLogins()  # the page (ui/web.py) attaches its login sessions here
    # Gradio's own CORS rules (any localhost origin, with credentials) apply unless the parent app
    # configures CORS: this one allows only CORPUSQA_ALLOWED_ORIGINS (none by default).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.origins,
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    # Added last, so it runs first: nothing (CORS preflights included) is answered before it.
    app.add_middleware(Guard, settings=settings, logins=app.state.page_logins, max_body=MAX_BODY_BYTES)
    app.add_exception_handler(CorpusQAError, _corpusqa_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(_router(api))
    _serve_docs(app)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


# ---- routes --------------------------------------------------------------------------------------


def _router(api: _Api) -> fastapi.APIRouter:
    router = fastapi.APIRouter()

    @router.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: answers 200 while the process is up (never needs the API key)."""
        return {"status": "ok"}

    @router.get("/v1/models", response_model=ModelList, responses=_errors(401, 500), tags=["openai"])
    def list_models() -> dict[str, Any]:
        """The answer backends, as OpenAI models: corpusqa-extractive, and corpusqa-openai when configured."""
        cards = [_card(name, api.started) for name in _backends(api.settings)]
        return {"object": "list", "data": cards}

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses=_errors(400, 401, 404, 409, 413, 415, 500, 502, 504) | _SSE_RESPONSE,
        tags=["openai"],
    )
    def chat_completions(request: ChatCompletionRequest) -> Any:
        """Answer the last user message from the documents, in OpenAI's chat-completions shape.

        The reply's content carries [n] markers; `citations` (on the completion, or on the final chunk
        when streaming) lists the passages they point at, and `abstained` says the documents do not answer.
        """
        backend = _backend_of(request.model, api.settings)
        question = _question_of(request.messages)
        if request.stream:
            events = _start(api.engine.stream(question, backend=backend))
            return StreamingResponse(_sse(events, request.model), media_type="text/event-stream")
        return _completion(api.engine.ask(question, backend=backend), request.model)

    @router.post(
        "/v1/ask",
        response_model=AskResponse,
        responses=_errors(400, 401, 404, 409, 413, 415, 500, 502, 504),
        tags=["corpusqa"],
    )
    def ask(request: AskRequest) -> dict[str, Any]:
        """Answer a question with citations: the object `corpusqa ask --json` prints."""
        backend = _offered(request.backend, api.settings)
        return api.engine.ask(request.question, backend=backend, top_k=request.top_k).to_json()

    @router.post(
        "/v1/search",
        response_model=SearchResponse,
        responses=_errors(400, 401, 409, 413, 500),
        tags=["corpusqa"],
    )
    def search(request: SearchRequest) -> dict[str, Any]:
        """Find the passages that best match a query, each with its best sentence: `corpusqa search --json`."""
        return api.engine.search(request.query, request.top_k).to_json()

    @router.post(
        "/v1/ingest",
        response_model=IngestResponse,
        responses=_errors(400, 401, 404, 409, 413, 415, 500),
        tags=["corpusqa"],
    )
    def ingest(request: IngestRequest) -> dict[str, Any]:
        """Re-ingest the corpus folder (body `{}`), or a subfolder or file of it; one at a time (else 409)."""
        paths = [_inside_corpus(request.path, api.settings)] if request.path else None
        with _one_at_a_time(api.ingest_lock):
            return api.engine.ingest(paths).to_json()

    @router.get(
        "/v1/status", response_model=StatusResponse, responses=_errors(401, 409, 500), tags=["corpusqa"]
    )
    def status() -> dict[str, Any]:
        """What the index holds: the object `corpusqa status --json` prints."""
        return api.engine.status().to_json()

    return router


# ---- helpers the routes call ---------------------------------------------------------------------


def _backends(settings: Settings) -> list[str]:
    """Backends offered, default first; openai only when configured (chosen, or its server URL set)."""
    names = ["extractive"]
    if settings.backend == "openai" or "openai_base_url" in settings.model_fields_set:
        names.append("openai")
    names.sort(key=lambda name: name != settings.backend)
    return names


def _card(backend: str, created: int) -> dict[str, Any]:
    return {"id": MODEL_PREFIX + backend, "object": "model", "created": created, "owned_by": "corpusqa"}


def _backend_of(model: str, settings: Settings) -> str:
    """The backend a model id names; an unknown or unconfigured model is 404, as in OpenAI's API."""
    backend = model.removeprefix(MODEL_PREFIX)
    if model.startswith(MODEL_PREFIX) and backend in _backends(settings):
        return backend
    names = ", ".join(MODEL_PREFIX + name for name in _backends(settings))
    message = f"The model {model[:100]!r} does not exist here; use one of: {names}."
    raise ApiError(404, message, param="model", code="model_not_found")


def _offered(backend: str | None, settings: Settings) -> str | None:
    """The backend asked for by name, if this server offers it (None: the default)."""
    if backend is None or backend in _backends(settings):
        return backend
    raise ApiError(
        404,
        f"The {backend} backend is not configured here; "
        f"set CORPUSQA_BACKEND={backend} (or CORPUSQA_OPENAI_BASE_URL) to offer it.",
        param="backend",
        code="backend_not_configured",
    )


def _question_of(messages: list[ChatMessage]) -> str:
    """The text of the last user message (text parts joined); earlier turns are not used."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, list):
            return "\n".join(part.text for part in message.content if part.type == "text" and part.text)
        return message.content or ""
    raise ApiError(
        400,
        'The request has no user message; send the question as a message with role "user".',
        param="messages",
        code="no_user_message",
    )


def _inside_corpus(raw: str, settings: Settings) -> Path:
    """The path named relative to the corpus folder; anything that leads outside it is refused."""
    corpus = settings.corpus_dir.resolve()
    try:
        target = (corpus / raw).resolve()
        # a name the file system cannot take (too long, undecodable) fails here, not later in ingest
        target.exists()
    except (OSError, ValueError, RuntimeError):
        message = f"The path {raw[:100]!r} is not a usable file name here."
        raise ApiError(400, message, param="path", code="path_invalid") from None
    if not target.is_relative_to(corpus):
        raise ApiError(
            400,
            f"The path {raw[:100]!r} is not inside the corpus folder; "
            "give a path relative to CORPUSQA_CORPUS_DIR.",
            param="path",
            code="path_outside_corpus",
        )
    return target


@contextmanager
def _one_at_a_time(lock: threading.Lock) -> Iterator[None]:
    """Hold the lock without waiting; a second caller gets 409 (another process's ingest: IndexBusyError)."""
    if not lock.acquire(blocking=False):
        raise ApiError(
            409, "An ingest is already running; wait for it to finish and try again.", code="ingest_running"
        )
    try:
        yield
    finally:
        lock.release()


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    body = answer.to_json()
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "citations": body["citations"],
        "abstained": answer.abstained,
        "claims": body["claims"],
        "unsupported": body["unsupported"],
    }


def _start(events: Iterator[str | Answer]) -> Iterator[str | Answer]:
    """Take the first event now, so a bad question or a missing index is a 4xx, not a broken stream."""
    first = next(events)

    def chained() -> Iterator[str | Answer]:
        yield first
        yield from events

    return chained()


def _sse(events: Iterable[str | Answer], model: str) -> Iterator[str]:
    """Server-sent events of chat.completion.chunk objects, the final one with citations; then [DONE]."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    sent = ""
    try:
        for event in events:
            if isinstance(event, str):
                delta = {"content": event} if sent else {"role": "assistant", "content": event}
                sent += event
                yield _event(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                continue
            # The engine may finish the text after streaming it (e.g. the unsupported-answer note).
            if event.answer.startswith(sent) and len(event.answer) > len(sent):
                rest = event.answer[len(sent) :]
                delta = {"content": rest} if sent else {"role": "assistant", "content": rest}
                yield _event(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            body = event.to_json()
            extra = {"citations": body["citations"], "abstained": event.abstained}
            yield _event(base | final | extra | {"claims": body["claims"], "unsupported": body["unsupported"]})
    except CorpusQAError as exc:
        status, code = _status_of(exc)
        yield _event(error_body(str(exc), status, code=code))
        return
    except Exception:  # noqa: BLE001 - a stream cannot change its status any more: report, log, stop
        _log.exception("Unexpected error while streaming a chat completion")
        yield _event(error_body("Unexpected error while answering; see the server log.", 500))
        return
    yield "data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


# ---- errors --------------------------------------------------------------------------------------


def _status_of(exc: CorpusQAError) -> tuple[int, str | None]:
    for kind, status, code in _ERROR_STATUS:
        if isinstance(exc, kind):
            # LLMError has no timeout subclass yet; the wrapped openai/httpx exception says it.
            if kind is LLMError and "Timeout" in type(exc.__cause__).__name__:
                return 504, "llm_timeout"
            return status, code
    return 400, None


async def _corpusqa_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CorpusQAError)
    status, code = _status_of(exc)
    return error_response(str(exc), status, code=code)


async def _api_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(str(exc), exc.status, param=exc.param, code=exc.code)


async def _validation_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 list of errors, as one OpenAI-shaped 400 sentence about the first."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    kind = str(first.get("type", ""))
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(loc) or None
    if kind == "json_invalid":
        message, param = "The request body is not valid JSON; send a JSON object.", None
    elif not param and kind == "missing":
        message = "The request body is missing; send a JSON object."
    elif not param:
        message = "The request body must be a JSON object sent with `Content-Type: application/json`."
    elif kind == "missing":
        message = f"The field `{param}` is required."
    elif kind == "string_pattern_mismatch" and loc[-1] in _PATTERN_HINTS:
        message = f"The field `{param}` is invalid: {_PATTERN_HINTS[loc[-1]]}."
    elif kind == "extra_forbidden":
        message = f"The field `{param}` is not allowed here; remove it."
    else:
        message = f"The field `{param}` is invalid: {str(first.get('msg', 'bad value')).rstrip('.')}."
    return error_response(message, 400, param=param, code=kind or None)


async def _unexpected_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    # The log keeps the text and traceback (Starlette also re-raises to uvicorn's log); the body never does.
    _log.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        f"Unexpected error ({exc.__class__.__name__}); see the server log for details.", 500
    )


_PATTERN_HINTS = {
    "question": "it needs at least one letter or digit",
    "query": "it needs at least one visible character",
    "path": "give a relative path inside the corpus folder, without `..` segments",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Bad input: malformed JSON, a missing or invalid field, no user message, an empty question.",
        401: "Missing or wrong `Authorization: Bearer <key>` (only when CORPUSQA_API_KEY is set).",
        404: "Unknown or unconfigured model (backend), or no such path in the corpus folder.",
        409: "No index yet (ingest first), or an ingest is already running.",
        413: f"The request body is larger than {MAX_BODY_BYTES:,} bytes.",
        415: "The body was not sent with `Content-Type: application/json`.",
        500: "Unexpected server error, or the embedding model could not be loaded.",
        502: "The OpenAI-compatible LLM server failed.",
        504: "The OpenAI-compatible LLM server did not answer in time.",
    }
    return {status: {"model": ErrorResponse, "description": meaning[status]} for status in statuses}


_SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion (JSON), or with `stream: true` server-sent events, each "
        "`data: <ChatCompletionChunk>`, ending with `data: [DONE]`.",
        "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}}},
    }
}


# ---- docs ----------------------------------------------------------------------------------------


def _serve_docs(app: fastapi.FastAPI) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle package, so it works offline and calls no CDN."""
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs/openapi.json", include_in_schema=False)
    def docs_schema() -> dict[str, Any]:
        # The packaged Swagger UI (4.15) refuses to render an "openapi": "3.1.0" document; the 3.0
        # label is enough for it to show this one (its nullable fields display as plain types).
        return {**app.openapi(), "openapi": "3.0.3"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/docs/openapi.json",
            title="corpusqa API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


# ---- OpenAPI -------------------------------------------------------------------------------------


def _openapi(app: fastapi.FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, adjusted to what the API really does: 400 (not 422), the bearer key, SSE chunks."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=_DESCRIPTION, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    chunk = ChatCompletionChunk.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(chunk.pop("$defs", {}))
    schemas["ChatCompletionChunk"] = chunk
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if settings.api_key:
        bearer = {"type": "http", "scheme": "bearer", "description": "The key in CORPUSQA_API_KEY."}
        components["securitySchemes"] = {"bearer": bearer}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            if settings.api_key and path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


_DESCRIPTION = """\
Ask questions about your documents; every answer cites the passages it comes from.

* `POST /v1/chat/completions` speaks OpenAI's chat-completions protocol (streaming or not), so OpenAI
  client libraries work unchanged. The last user message is the question. Besides OpenAI's fields the
  completion (and, when streaming, the final chunk) carries **`citations`** — the passages the answer's
  `[n]` markers point at, as in `corpusqa ask --json` — and **`abstained`**.
* `POST /v1/ask`, `POST /v1/ingest` and `GET /v1/status` return what
  `corpusqa ask|ingest|status --json` print.
* When `CORPUSQA_API_KEY` is set every endpoint (but `/healthz` and this description) requires
  `Authorization: Bearer <key>`. `POST` bodies are JSON with `Content-Type: application/json`.
* Errors use OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""
