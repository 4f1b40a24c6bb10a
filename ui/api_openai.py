"""The OpenAI-compatible part of the HTTP API: GET /v1/models and POST /v1/chat/completions (with SSE).

The answer backends are offered as models (corpusqa-extractive, corpusqa-openai); the last user message
is the question, and the user/assistant messages before it its conversation; the completion (or the final
streamed chunk) carries corpusqa's `citations`, `abstained`, `claims`, `unsupported` and
`standalone_question` beside OpenAI's fields.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import fastapi
from fastapi.responses import StreamingResponse

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from corpusqa.types import Answer
from rag.conversation import Turn, turns_from_pairs
from rag.engine import Engine
from ui.api_errors import ApiError, error_responses, status_of
from ui.api_openai_models import ChatCompletion, ChatCompletionRequest, ChatMessage, ModelList
from ui.guard import error_body

__all__ = ["MODEL_PREFIX", "offered_backends", "openai_router"]

#: Model ids are this prefix plus a backend name: corpusqa-extractive, corpusqa-openai.
MODEL_PREFIX = "corpusqa-"

_log = logging.getLogger("corpusqa.api")

_SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion (JSON), or with `stream: true` server-sent events, each "
        "`data: <ChatCompletionChunk>`, ending with `data: [DONE]`.",
        "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}}},
    }
}


def openai_router(engine: Engine, settings: Settings, started: int) -> fastapi.APIRouter:
    """The routes OpenAI client libraries call: the model list and chat completions."""
    router = fastapi.APIRouter()

    @router.get("/v1/models", response_model=ModelList, responses=error_responses(401, 500), tags=["openai"])
    def list_models() -> dict[str, Any]:
        """The answer backends, as OpenAI models: corpusqa-extractive, and corpusqa-openai when configured."""
        cards = [_card(name, started) for name in offered_backends(settings)]
        return {"object": "list", "data": cards}

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses=error_responses(400, 401, 404, 409, 413, 415, 500, 502, 504) | _SSE_RESPONSE,
        tags=["openai"],
    )
    def chat_completions(request: ChatCompletionRequest) -> Any:
        """Answer the last user message from the documents, in OpenAI's chat-completions shape.

        The reply's content carries [n] markers; `citations` (on the completion, or on the final chunk
        when streaming) lists the passages they point at, and `abstained` says the documents do not answer.
        """
        backend = _backend_of(request.model, settings)
        question = _question_of(request.messages)
        history = _history_of(request.messages)
        if request.stream:
            events = _start(engine.stream(question, backend=backend, history=history))
            return StreamingResponse(_sse(events, request.model), media_type="text/event-stream")
        return _completion(engine.ask(question, backend=backend, history=history), request.model)

    return router


def offered_backends(settings: Settings) -> list[str]:
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
    if model.startswith(MODEL_PREFIX) and backend in offered_backends(settings):
        return backend
    names = ", ".join(MODEL_PREFIX + name for name in offered_backends(settings))
    message = f"The model {model[:100]!r} does not exist here; use one of: {names}."
    raise ApiError(404, message, param="model", code="model_not_found")


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "\n".join(part.text for part in message.content if part.type == "text" and part.text)
    return message.content or ""


def _history_of(messages: list[ChatMessage]) -> list[Turn]:
    """The turns before the last user message: each user message with the assistant reply that follows it."""
    last = max((i for i, message in enumerate(messages) if message.role == "user"), default=0)
    pairs: list[tuple[str, str]] = []
    for message in messages[:last]:
        if message.role == "user":
            pairs.append((_text(message), ""))
        elif message.role == "assistant" and pairs and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0], _text(message))
    return turns_from_pairs(pairs)


def _question_of(messages: list[ChatMessage]) -> str:
    """The text of the last user message (text parts joined)."""
    for message in reversed(messages):
        if message.role != "user":
            continue
        return _text(message)
    raise ApiError(
        400,
        'The request has no user message; send the question as a message with role "user".',
        param="messages",
        code="no_user_message",
    )


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
        "standalone_question": body["standalone_question"],
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
            extra |= {"claims": body["claims"], "unsupported": body["unsupported"]}
            yield _event(base | final | extra | {"standalone_question": body["standalone_question"]})
    except CorpusQAError as exc:
        status, code = status_of(exc)
        yield _event(error_body(str(exc), status, code=code))
        return
    except Exception:  # noqa: BLE001 - a stream cannot change its status any more: report, log, stop
        _log.exception("Unexpected error while streaming a chat completion")
        yield _event(error_body("Unexpected error while answering; see the server log.", 500))
        return
    yield "data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
