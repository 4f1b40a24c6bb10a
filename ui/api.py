"""The HTTP API: OpenAI-style chat completions, ask, search, ingest and status over one Engine (#9, #15).

Every route lives under /v1/ (plus /healthz, /openapi.json and /docs), so the chat page can be mounted
at "/" on the same app. Routes only read the request, call the Engine and shape its result; errors
leave in OpenAI's shape `{"error": {"message", "type", "param", "code"}}` (ui/api_errors.py). This
module builds the app and holds corpusqa's own routes; the OpenAI-compatible ones are in ui/api_openai.py,
/docs and /openapi.json in ui/api_docs.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi
from fastapi.middleware.cors import CORSMiddleware

from corpusqa.settings import Settings
from rag.conversation import turns_from_pairs
from rag.engine import Engine
from ui.api_docs import describe_api
from ui.api_errors import MAX_BODY_BYTES, ApiError, add_error_handlers, error_responses
from ui.api_models import (
    AskRequest,
    AskResponse,
    Health,
    IngestRequest,
    IngestResponse,
    SearchRequest,
    SearchResponse,
    StatusResponse,
)
from ui.api_openai import MODEL_PREFIX, offered_backends, openai_router
from ui.guard import Guard, PageLogins

__all__ = ["MAX_BODY_BYTES", "MODEL_PREFIX", "create_api_app"]


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
        docs_url=None,  # served by describe_api from the packaged Swagger UI, not from a CDN
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
    add_error_handlers(app)
    app.include_router(_router(api))
    describe_api(app, settings)
    return app


# ---- routes --------------------------------------------------------------------------------------


def _router(api: _Api) -> fastapi.APIRouter:
    router = fastapi.APIRouter()

    @router.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: answers 200 while the process is up (never needs the API key)."""
        return {"status": "ok"}

    # /v1/models and /v1/chat/completions, listed here so /openapi.json keeps its order.
    router.include_router(openai_router(api.engine, api.settings, api.started))

    @router.post(
        "/v1/ask",
        response_model=AskResponse,
        responses=error_responses(400, 401, 404, 409, 413, 415, 500, 502, 504),
        tags=["corpusqa"],
    )
    def ask(request: AskRequest) -> dict[str, Any]:
        """Answer a question with citations: the object `corpusqa ask --json` prints."""
        backend = _offered(request.backend, api.settings)
        history = turns_from_pairs((turn.question, turn.answer) for turn in request.history or [])
        return api.engine.ask(request.question, backend=backend, top_k=request.top_k, history=history).to_json()

    @router.post(
        "/v1/search",
        response_model=SearchResponse,
        responses=error_responses(400, 401, 409, 413, 500),
        tags=["corpusqa"],
    )
    def search(request: SearchRequest) -> dict[str, Any]:
        """Find the passages that best match a query, each with its best sentence: `corpusqa search --json`."""
        return api.engine.search(request.query, request.top_k).to_json()

    @router.post(
        "/v1/ingest",
        response_model=IngestResponse,
        responses=error_responses(400, 401, 404, 409, 413, 415, 500),
        tags=["corpusqa"],
    )
    def ingest(request: IngestRequest) -> dict[str, Any]:
        """Re-ingest the corpus folder (body `{}`), or a subfolder or file of it; one at a time (else 409)."""
        paths = [_inside_corpus(request.path, api.settings)] if request.path else None
        with _one_at_a_time(api.ingest_lock):
            return api.engine.ingest(paths).to_json()

    @router.get(
        "/v1/status", response_model=StatusResponse, responses=error_responses(401, 409, 500), tags=["corpusqa"]
    )
    def status() -> dict[str, Any]:
        """What the index holds: the object `corpusqa status --json` prints."""
        return api.engine.status().to_json()

    return router


# ---- helpers the routes call ---------------------------------------------------------------------


def _offered(backend: str | None, settings: Settings) -> str | None:
    """The backend asked for by name, if this server offers it (None: the default)."""
    if backend is None or backend in offered_backends(settings):
        return backend
    raise ApiError(
        404,
        f"The {backend} backend is not configured here; "
        f"set CORPUSQA_BACKEND={backend} (or CORPUSQA_OPENAI_BASE_URL) to offer it.",
        param="backend",
        code="backend_not_configured",
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
