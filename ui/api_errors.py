"""How errors leave the HTTP API: OpenAI's error shape, the CorpusQAError -> status map, the handlers.

Every error, whatever raised it, leaves as `{"error": {"message", "type", "param", "code"}}` with one
sentence (ui/guard.py builds that body); FastAPI's own 422 becomes a 400 about the first bad field.
"""

from __future__ import annotations

import logging
from typing import Any

import fastapi
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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
from ui.guard import error_response, http_error

__all__ = [
    "MAX_BODY_BYTES",
    "ApiError",
    "ErrorBody",
    "ErrorResponse",
    "add_error_handlers",
    "error_responses",
    "status_of",
]

#: Request bodies larger than this get 413 (questions are capped far lower by CORPUSQA_MAX_QUESTION_CHARS).
MAX_BODY_BYTES = 1_000_000

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

_PATTERN_HINTS = {
    "question": "it needs at least one letter or digit",
    "query": "it needs at least one visible character",
    "path": "give a relative path inside the corpus folder, without `..` segments",
}

_MEANING = {
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


class ErrorBody(BaseModel):
    """What went wrong, in OpenAI's error shape."""

    message: str = Field(description="One sentence: what failed and what to do about it.")
    type: str = Field(
        description='Error class, as in OpenAI\'s API: "invalid_request_error" for every 4xx, '
        '"server_error" for 5xx (the LLM server failed, or an unexpected error).'
    )
    param: str | None = Field(None, description="The request field at fault (dotted path), when one is.")
    code: str | None = Field(
        None,
        description="A machine-readable error code, e.g. `model_not_found`, `ingest_running`, "
        "`invalid_api_key`.",
    )


class ErrorResponse(BaseModel):
    """Every error response: `{"error": {...}}` as the OpenAI API sends it."""

    error: ErrorBody = Field(description="The error.")


class ApiError(Exception):
    """A request the API itself refuses (unknown model, no user message, busy ingest ...)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


def status_of(exc: CorpusQAError) -> tuple[int, str | None]:
    """The HTTP status and error code a CorpusQAError leaves the API with."""
    for kind, status, code in _ERROR_STATUS:
        if isinstance(exc, kind):
            # LLMError has no timeout subclass yet; the wrapped openai/httpx exception says it.
            if kind is LLMError and "Timeout" in type(exc.__cause__).__name__:
                return 504, "llm_timeout"
            return status, code
    return 400, None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status documented with the error shape and what it means."""
    return {status: {"model": ErrorResponse, "description": _MEANING[status]} for status in statuses}


def add_error_handlers(app: fastapi.FastAPI) -> None:
    """Make every exception leave `app` in OpenAI's error shape (unexpected ones hidden and logged)."""
    app.add_exception_handler(CorpusQAError, _corpusqa_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _corpusqa_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CorpusQAError)
    status, code = status_of(exc)
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
