"""OpenAI-compatible models of the HTTP API (ui/api_openai.py): chat completions, their chunks, the model list.

They follow OpenAI's shapes field for field, plus corpusqa's extensions (`citations`, `abstained`, `claims`,
`unsupported`); every field is described for /openapi.json.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ui.api_models import CitationModel, ClaimModel

__all__ = [
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatDelta",
    "ChatMessage",
    "ChatReply",
    "ContentPart",
    "ModelCard",
    "ModelList",
    "StreamOptions",
]

_CLAIMS = "corpusqa extension: the LLM answer's claims and their verdicts (empty for the extractive backend)."
_UNSUPPORTED = "corpusqa extension: true when an LLM answer had no valid citation or any of its claims failed the check."
_STANDALONE = (
    "corpusqa extension: the question as searched, the last user message rewritten to stand alone from the "
    "earlier messages (the message itself when it already did)."
)


class ContentPart(BaseModel):
    """One part of a multi-part message content; only text parts carry a question."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: str = Field(description='Part type; "text" parts are read, others (images, audio) are ignored.')
    text: str | None = Field(None, description="The text of a text part.")


class ChatMessage(BaseModel):
    """One message of the conversation; extra OpenAI fields (name, tool_calls, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        description="Who wrote the message. The last `user` message is the question; the `user` and "
        "`assistant` messages before it are the conversation it may follow up on."
    )
    content: str | list[ContentPart] | None = Field(
        None, description="The message text, or a list of content parts whose text parts are joined."
    )


class StreamOptions(BaseModel):
    """OpenAI's stream options; accepted for compatibility and ignored (no usage is reported)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    include_usage: bool | None = Field(None, description="Ignored: corpusqa reports no token usage.")


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request; other OpenAI fields (temperature, max_tokens ...) are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(
        description="Which answer backend to use: an id from GET /v1/models "
        '("corpusqa-extractive", or "corpusqa-openai" when configured).',
        examples=["corpusqa-extractive"],
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The conversation; the content of the last `user` message is the question. "
        "Earlier messages are not used (each question is answered from the documents alone).",
    )
    stream: bool | None = Field(
        False,
        description="Send the reply as server-sent events of ChatCompletionChunk objects, "
        "ending with `data: [DONE]`.",
    )
    stream_options: StreamOptions | None = Field(None, description="Accepted for compatibility and ignored.")


class ChatReply(BaseModel):
    """The assistant's reply message."""

    role: Literal["assistant"] = Field(description='Always "assistant".')
    content: str = Field(
        description="The answer, with [n] markers pointing at `citations` (or the abstention sentence)."
    )


class ChatChoice(BaseModel):
    """The one choice of a completion."""

    index: int = Field(description="Always 0 (one choice).")
    message: ChatReply = Field(description="The answer.")
    finish_reason: Literal["stop"] = Field(description='Always "stop".')
    logprobs: None = Field(None, description="Always null.")


class ChatCompletion(BaseModel):
    """OpenAI's chat.completion object, plus corpusqa's `citations` and `abstained` fields."""

    id: str = Field(description="Unique id of this completion (chatcmpl-...).")
    object: Literal["chat.completion"] = Field(description='Always "chat.completion".')
    created: int = Field(description="Unix time (seconds) when the completion was made.")
    model: str = Field(description="The model (backend) that answered, as requested.")
    choices: list[ChatChoice] = Field(description="Exactly one choice holding the answer.")
    citations: list[CitationModel] = Field(
        description="corpusqa extension: the passages the answer's [n] markers cite "
        "(as in `corpusqa ask --json`)."
    )
    abstained: bool = Field(
        description="corpusqa extension: true when the documents do not answer the question."
    )
    claims: list[ClaimModel] = Field(default_factory=list, description=_CLAIMS)
    unsupported: bool = Field(False, description=_UNSUPPORTED)
    standalone_question: str | None = Field(None, description=_STANDALONE)


class ChatDelta(BaseModel):
    """A piece of the streamed reply."""

    role: Literal["assistant"] | None = Field(
        None, description='"assistant" on the first chunk, absent afterwards.'
    )
    content: str | None = Field(
        None, description="The next piece of the answer's text; absent on the final chunk."
    )


class ChatChunkChoice(BaseModel):
    """The one choice of a streamed chunk."""

    index: int = Field(description="Always 0 (one choice).")
    delta: ChatDelta = Field(description="The new text.")
    finish_reason: Literal["stop"] | None = Field(
        None, description='"stop" on the final chunk, null before it.'
    )
    logprobs: None = Field(None, description="Always null.")


class ChatCompletionChunk(BaseModel):
    """One server-sent event (`data: {...}`) of a streamed completion; the stream ends with `data: [DONE]`.

    The final chunk (finish_reason "stop") also carries `citations` and `abstained`. An error after the
    stream began arrives as one event `data: {"error": {...}}` (ErrorResponse) instead.
    """

    id: str = Field(description="Unique id of the completion, the same on every chunk (chatcmpl-...).")
    object: Literal["chat.completion.chunk"] = Field(description='Always "chat.completion.chunk".')
    created: int = Field(description="Unix time (seconds) when the completion began.")
    model: str = Field(description="The model (backend) that answers, as requested.")
    choices: list[ChatChunkChoice] = Field(description="Exactly one choice holding the new text.")
    citations: list[CitationModel] | None = Field(
        None, description="corpusqa extension, on the final chunk only: the passages the [n] markers cite."
    )
    abstained: bool | None = Field(
        None,
        description="corpusqa extension, on the final chunk only: true when the documents do not answer.",
    )
    claims: list[ClaimModel] | None = Field(None, description=_CLAIMS + " On the final chunk only.")
    unsupported: bool | None = Field(None, description=_UNSUPPORTED + " On the final chunk only.")
    standalone_question: str | None = Field(None, description=_STANDALONE + " On the final chunk only.")


class ModelCard(BaseModel):
    """One model (answer backend) in OpenAI's model-list shape."""

    id: str = Field(description='The name to pass as `model`: "corpusqa-extractive" or "corpusqa-openai".')
    object: Literal["model"] = Field(description='Always "model".')
    created: int = Field(description="Unix time (seconds) when the server started.")
    owned_by: str = Field(description='Always "corpusqa".')


class ModelList(BaseModel):
    """The answer backends this server offers; the first is the configured default."""

    object: Literal["list"] = Field(description='Always "list".')
    data: list[ModelCard] = Field(description="The models, default first.")
