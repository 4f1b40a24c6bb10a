"""A real local HTTP server speaking OpenAI's chat-completions protocol, for offline tests."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = [
    "MODEL_NAME",
    "MODES",
    "NOT_FOUND_ANSWER",
    "SCRIPTED_MODES",
    "FakeOpenAIServer",
    "build_answer",
    "parse_passages",
    "parse_question",
    "replay_key",
    "tokenize",
]

MODEL_NAME = "fake-model"
NOT_FOUND_ANSWER = "I cannot find this in the documents."
#: Replies that real small models produce (issue #12), built from the passages the server is sent:
#: a made-up number behind a valid marker, a name from another passage, an uncited paraphrase, the
#: citation formats models write, and a stream that breaks off in the middle.
SCRIPTED_MODES = frozenset(
    {
        "made_up_number", "wrong_passage_name", "uncited_paraphrase", "cite_list", "cite_adjacent",
        "cite_range", "cite_passage", "cite_source", "disconnect",
    }
)
#: "script" replies with ``server.script``, where ``{n:PHRASE}`` becomes the number of the first passage
#: holding PHRASE and ``{not:PHRASE}`` the number of the first passage without it. "replay" answers with
#: a recorded reply (``server.record``), found by the question and the passages it was sent; a request
#: that was never recorded gets HTTP 422.
MODES = frozenset({"normal", "bad_citation", "no_citation", "slow", "error500", "echo_system", "script", "replay"}) | SCRIPTED_MODES

# fmt: off
_STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as",
        "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
        "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
        "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
        "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our",
        "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
        "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
        "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
        "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
        "yours", "yourself", "yourselves", "tell", "please", "according", "document", "documents",
        "passage", "passages",
    }
)
# fmt: on

_MARKER_RE = re.compile(r"^\s*\[(\d+)\](?:[ \t]+(.*)|[ \t]*$)")
_QUESTION_RE = re.compile(r"^\s*Question:\s*(.*)$", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+")


def _content_text(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def _normalize(word: str) -> str:
    """Crudely singularise ``word`` so that e.g. "formats" matches "format"."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> set[str]:
    """Return the set of lowercase, crudely singularised, non-stopword words in ``text``."""
    return {_normalize(w) for w in _WORD_RE.findall(text.lower()) if w not in _STOPWORDS}


def parse_passages(text: str) -> list[tuple[int, str]]:
    """Return ``(number, text)`` for each ``[n] ...`` passage in ``text``, in order."""
    passages: list[tuple[int, str]] = []
    current_num: int | None = None
    current_lines: list[str] = []

    def flush() -> None:
        nonlocal current_num, current_lines
        if current_num is not None:
            body = " ".join(line.strip() for line in current_lines if line.strip())
            passages.append((current_num, body))
        current_num, current_lines = None, []

    lines = text.splitlines()
    for i, line in enumerate(lines):
        marker = _MARKER_RE.match(line)
        if marker:
            flush()
            current_num = int(marker.group(1))
            current_lines = [marker.group(2) or ""]
            continue
        if current_num is None:
            continue
        if _QUESTION_RE.match(line):
            flush()
            continue
        if not line.strip():
            nxt = next((x for x in lines[i + 1 :] if x.strip()), None)
            if nxt is None or _QUESTION_RE.match(nxt):
                flush()
                continue
        current_lines.append(line)
    flush()
    return passages


def parse_question(messages: Sequence[Mapping[str, Any]]) -> str:
    """Return the question: the ``Question:`` line of the last user message (with fallbacks)."""
    users = [_content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    everything = [_content_text(m.get("content")) for m in messages]
    for texts in (users[-1:], list(reversed(everything))):
        for text in texts:
            lines = text.splitlines()
            for i in range(len(lines) - 1, -1, -1):
                match = _QUESTION_RE.match(lines[i])
                if match:
                    rest = match.group(1).strip()
                    if not rest:
                        rest = next((x.strip() for x in lines[i + 1 :] if x.strip()), "")
                    return rest
    if users:
        # No "Question:" line: use the last user message minus any passages in it.
        return "\n".join(line for line in users[-1].splitlines() if not _MARKER_RE.match(line)).strip()
    return ""


def _passages_of(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """The passages of the last message that holds any (earlier ones may be worked examples)."""
    for message in reversed(messages):
        found = parse_passages(_content_text(message.get("content")))
        if found:
            return found
    return []


def replay_key(messages: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """What a recorded reply is found by: the question and the passages' texts, in order, whitespace-normalised
    (the prompt's wording around them may change; a reply only fits the passages its model saw)."""
    bodies = tuple(" ".join(re.sub(r"\(Source: [^\n]*\)\s*$", "", text).split()) for _, text in _passages_of(messages))
    return " ".join(parse_question(messages).split()), bodies


def _ranked_sentences(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, str, int]]:
    """(score, sentence, passage number) of every passage sentence, best match for the question first."""
    question_words = tokenize(parse_question(messages))
    ranked = []
    for num, text in _passages_of(messages):
        passage_score = len(question_words & tokenize(text))
        # corpusqa's prompt ends each passage with a "(Source: file, lines ...)" line: not a sentence.
        body = re.sub(r"\(Source: [^\n]*\)\s*$", "", text)
        for sentence in (s.strip() for s in _SENTENCE_SPLIT_RE.split(body) if s.strip()):
            ranked.append((passage_score * 100 + len(question_words & tokenize(sentence)), sentence, num))
    ranked.sort(key=lambda item: -item[0])
    return ranked


def _best_sentence(messages: Sequence[Mapping[str, Any]]) -> tuple[str, int, list[int]] | None:
    """Return ``(sentence, passage_number, all_numbers)`` best matching the question, or None."""
    passages = _passages_of(messages)
    ranked = _ranked_sentences(messages)
    if not ranked or ranked[0][0] < 100:
        return None
    return ranked[0][1], ranked[0][2], [n for n, _ in passages]


def _other(num: int, numbers: list[int]) -> int:
    return next((n for n in numbers if n != num), num)


def _made_up_number(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The best sentence that holds a number, with that number changed to one no passage holds."""
    texts = " ".join(text for _, text in _passages_of(messages))
    for _, sentence, num in _ranked_sentences(messages):
        match = re.search(r"\d[\d,]*", sentence)
        if match:
            value = int(match.group(0).replace(",", "") or 0) * 7 + 3
            while f"{value:,}" in texts or str(value) in texts:
                value += 1
            return f"{sentence[: match.start()]}{value:,}{sentence[match.end() :]} [{num}]"
    return None


def _wrong_passage_name(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The best sentence that names someone or something, cited to a passage that never names it."""
    passages = _passages_of(messages)
    for _, sentence, num in _ranked_sentences(messages):
        for name in re.findall(r"(?<=\s)[A-Z][a-z]{3,}", sentence):
            elsewhere = [n for n, text in passages if n != num and name.lower() not in text.lower()]
            if elsewhere:
                return f"{sentence} [{elsewhere[0]}]"
    return None


def _script(template: str, messages: Sequence[Mapping[str, Any]]) -> str:
    passages = _passages_of(messages)

    def number(match: re.Match[str]) -> str:
        kind, phrase = match.group(1), " ".join(match.group(2).split()).lower()
        for num, text in passages:
            if (phrase in " ".join(text.split()).lower()) == (kind == "n"):
                return str(num)
        return "99"

    return re.sub(r"\{(n|not):([^}]*)\}", number, template)


def build_answer(messages: Sequence[Mapping[str, Any]], mode: str = "normal", script: str = "") -> str:
    """Build the reply text for ``messages`` in the given answer ``mode``."""
    if mode == "echo_system":
        return "\n\n".join(
            _content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
        )
    if mode == "script":
        return _script(script, messages)
    if mode == "made_up_number":
        return _made_up_number(messages) or NOT_FOUND_ANSWER
    if mode == "wrong_passage_name":
        return _wrong_passage_name(messages) or NOT_FOUND_ANSWER
    found = _best_sentence(messages)
    if found is None:
        return NOT_FOUND_ANSWER
    sentence, num, numbers = found
    other = _other(num, numbers)
    if mode == "no_citation":
        return sentence
    if mode == "uncited_paraphrase":
        return f"According to the passage, {sentence[0].lower()}{sentence[1:]}"
    if mode == "bad_citation":
        bogus = 99 if 99 not in numbers else max(numbers) + 1
        return f"{sentence} [{bogus}]"
    if mode == "cite_list":
        return f"{sentence} [{num}, {other}]"
    if mode == "cite_adjacent":
        return f"{sentence} [{other}][{num}]"
    if mode == "cite_range":
        low = max(1, num - 1)
        return f"{sentence} [{low}-{low + 2}]"
    if mode == "cite_passage":
        return f"As stated in passage {num}, {sentence[0].lower()}{sentence[1:]}"
    if mode == "cite_source":
        return f"{sentence} (Source {num})"
    return f"{sentence} [{num}]"


class _Disconnect(Exception):
    """Raised inside a streaming reply to drop the connection mid-stream, as a crashing server does."""


class _QuietDisconnect(logging.Filter):
    """Keep uvicorn from logging the deliberate mid-stream disconnect as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Disconnect))


logging.getLogger("uvicorn.error").addFilter(_QuietDisconnect())


def _error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    """Return an error response in OpenAI's error shape."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _count_tokens(text: str) -> int:
    """Return a rough token count (whitespace-separated words)."""
    return len(text.split())


class FakeOpenAIServer:
    """Real uvicorn server on 127.0.0.1 imitating OpenAI's ``/v1`` chat API, run in a thread.

    Use as ``with FakeOpenAIServer(api_key="test-key") as srv:``; point clients at
    ``srv.base_url``. ``srv.mode`` picks the behaviour (see ``MODES``), ``srv.delay`` the
    sleep of the "slow" mode, ``srv.script`` the reply of the "script" mode, and ``srv.requests``
    holds the received chat request bodies.
    """

    def __init__(
        self,
        api_key: str | None = None,
        mode: str = "normal",
        delay: float = 5.0,
        words_per_chunk: int = 3,
    ) -> None:
        """Configure the server; it starts on ``__enter__`` or ``start()``."""
        self.api_key = api_key
        self.mode = mode
        self.delay = delay
        self.words_per_chunk = max(1, words_per_chunk)
        self.script = ""
        self._replies: dict[tuple[str, tuple[str, ...]], str] = {}
        self._requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------------ public API
    @property
    def mode(self) -> str:
        """Current answer mode, one of ``MODES``."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; expected one of {sorted(MODES)}")
        self._mode = value

    @property
    def port(self) -> int:
        """TCP port the server listens on (only while running)."""
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        return self._port

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot (a copy) of the JSON bodies received on ``/v1/chat/completions``."""
        with self._lock:
            return list(self._requests)

    def record(self, messages: Sequence[Mapping[str, Any]], reply: str) -> None:
        """Remember `reply` for a request with these messages' question and passages (the "replay" mode)."""
        with self._lock:
            self._replies[replay_key(messages)] = reply

    def clear_requests(self) -> None:
        """Forget the recorded request bodies."""
        with self._lock:
            self._requests.clear()

    def start(self, timeout: float = 10.0) -> Self:
        """Start uvicorn in a daemon thread and wait until it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        self._stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"FakeOpenAIServer:{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            if self._server.started and self._can_connect():
                return self
            if not self._thread.is_alive():
                self._cleanup()
                raise RuntimeError("FakeOpenAIServer thread died during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeOpenAIServer did not start in time")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and join its thread (forcing exit if it lingers)."""
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout / 2)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout / 2)
            if self._thread.is_alive():
                raise RuntimeError("FakeOpenAIServer thread did not stop")
        self._cleanup()

    def __enter__(self) -> Self:
        """Start the server and return it."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    # ------------------------------------------------------------------ internals
    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._server = None
        self._thread = None
        self._port = None

    def _can_connect(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _authorized(self, request: Request) -> bool:
        if not self.api_key:
            return True
        return request.headers.get("authorization", "") == f"Bearer {self.api_key}"

    @staticmethod
    def _unauthorized() -> JSONResponse:
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the server is stopping."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))

    async def _models(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        model = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "corpusqa-tests"}
        return JSONResponse({"object": "list", "data": [model]})

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "Request body is not valid JSON.", "invalid_request_error", None)
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object.", "invalid_request_error", None)
        with self._lock:
            self._requests.append(body)
        if not self._authorized(request):
            return self._unauthorized()
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _error(400, "'messages' must be a list of objects.", "invalid_request_error", None)

        mode = self.mode
        if mode == "error500":
            return _error(500, "The server had an error while processing your request.", "server_error", None)
        if mode == "slow":
            await self._sleep(self.delay)

        if mode == "replay":
            with self._lock:
                recorded = self._replies.get(replay_key(messages))
            if recorded is None:
                return _error(422, "No recorded reply for this question and these passages.", "invalid_request_error", None)
            answer = recorded
        else:
            answer = build_answer(messages, mode, self.script)
        model = str(body.get("model") or MODEL_NAME)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        prompt_tokens = sum(_count_tokens(_content_text(m.get("content"))) for m in messages)
        completion_tokens = _count_tokens(answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer, "refusal": None},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )

        stream_options = body.get("stream_options") or {}
        include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
        words = re.findall(r"\S+\s*", answer)
        pieces = [
            "".join(words[i : i + self.words_per_chunk]) for i in range(0, len(words), self.words_per_chunk)
        ]

        def chunk(delta: dict[str, Any], finish: str | None) -> str:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = None
            return f"data: {json.dumps(data)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant"}, None)
            for index, piece in enumerate(pieces):
                if mode == "disconnect" and index == len(pieces) // 2:
                    raise _Disconnect("the connection drops in the middle of the reply")
                yield chunk({"content": piece}, None)
            yield chunk({}, "stop")
            if include_usage:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
