"""The HTTP API on a real uvicorn server: the openai client, the key check, bad inputs, ingest under load."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from support.openai_server import FakeOpenAIServer
from support.servers import serve_asgi

import ui.api
import ui.api_docs
import ui.api_errors
import ui.api_models
import ui.api_openai
import ui.api_openai_models
from corpusqa.errors import LLMError
from corpusqa.settings import Settings, load_settings
from rag import Engine
from ui.api import MAX_BODY_BYTES, create_api_app

EXAMPLE_QUESTION = "How many Taliban prisoners were held in total?"
EXAMPLE_ANSWER = "13,000 to 14,000"
CITATION_KEYS = {"id", "source", "title", "kind", "start_line", "end_line", "text", "score", "page", "url", "ocr", "ocr_confidence", "table"}
ERROR_KEYS = {"message", "type", "param", "code"}
KEY = "s3cret-key"


@pytest.fixture
def api_url(engine: Engine, bundled_index: Settings) -> Iterator[str]:
    """The API over the bundled index, no key."""
    with serve_asgi(create_api_app(engine, bundled_index)) as url:
        yield url


@pytest.fixture
def client(api_url: str) -> openai.OpenAI:
    """The official openai client pointed at the API."""
    return openai.OpenAI(base_url=f"{api_url}/v1", api_key="unused", max_retries=0, timeout=60)


def _ask_json(engine: Engine, question: str) -> dict[str, Any]:
    body = engine.ask(question).to_json()
    body.pop("seconds")
    return body


def _assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error with a one-sentence message and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS
    message = error["message"]
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message, message
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


# ---- the openai client ---------------------------------------------------------------------------


def test_api_openai_client_gets_cited_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="corpusqa-extractive", messages=[{"role": "user", "content": EXAMPLE_QUESTION}]
    )
    content = completion.choices[0].message.content or ""
    extra = completion.model_extra or {}
    assert EXAMPLE_ANSWER in content, content
    assert "[1]" in content
    assert extra["abstained"] is False
    assert extra["citations"] and set(extra["citations"][0]) == CITATION_KEYS
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "corpusqa-extractive"


def test_api_openai_client_streams_cited_answer(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="corpusqa-extractive", messages=[{"role": "user", "content": EXAMPLE_QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    final = chunks[-1].model_extra or {}
    assert EXAMPLE_ANSWER in text, text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert final["abstained"] is False and final["citations"]
    assert all("citations" not in (chunk.model_extra or {}) for chunk in chunks[:-1])


def test_api_chat_completion_matches_ask_json(client: openai.OpenAI, api_url: str, engine: Engine) -> None:
    """Independent of how well the answerer does: the API says what `corpusqa ask --json` says."""
    expected = _ask_json(engine, EXAMPLE_QUESTION)
    completion = client.chat.completions.create(
        model="corpusqa-extractive",
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "an earlier turn, ignored"},
            {"role": "assistant", "content": "ignored"},
            {"role": "user", "content": [{"type": "text", "text": EXAMPLE_QUESTION}]},
        ],
    )
    streamed = client.chat.completions.create(
        model="corpusqa-extractive", messages=[{"role": "user", "content": EXAMPLE_QUESTION}], stream=True
    )
    chunks = list(streamed)
    asked = httpx.post(f"{api_url}/v1/ask", json={"question": EXAMPLE_QUESTION}, timeout=60).json()
    assert set(asked) == set(expected) | {"seconds"}
    asked.pop("seconds")
    assert asked == expected
    assert completion.choices[0].message.content == expected["answer"]
    assert (completion.model_extra or {})["citations"] == expected["citations"]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == expected["answer"]
    assert (chunks[-1].model_extra or {})["citations"] == expected["citations"]


def test_api_openai_client_sends_a_conversation(client: openai.OpenAI) -> None:
    """Every message is used: the last user message follows up on the earlier turns."""
    first = client.chat.completions.create(
        model="corpusqa-extractive", messages=[{"role": "user", "content": "Who is Mark Frerichs?"}]
    )
    conversation = [
        {"role": "system", "content": "Answer from the documents."},
        {"role": "user", "content": "Who is Mark Frerichs?"},
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "Where was he captured?"},
    ]
    completion = client.chat.completions.create(model="corpusqa-extractive", messages=conversation)
    extra = completion.model_extra or {}
    assert extra["standalone_question"] == "Where was Mark Frerichs captured?"
    assert "Khost" in (completion.choices[0].message.content or "")
    assert "Khost" in extra["citations"][0]["text"]
    chunks = list(client.chat.completions.create(model="corpusqa-extractive", messages=conversation, stream=True))
    final = chunks[-1].model_extra or {}
    assert final["standalone_question"] == "Where was Mark Frerichs captured?"
    assert all("standalone_question" not in (chunk.model_extra or {}) for chunk in chunks[:-1])
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == completion.choices[0].message.content


def test_api_ask_accepts_history(api_url: str) -> None:
    history = [{"question": "Who is Mark Frerichs?", "answer": "A U.S. government contractor."}]
    body = {"question": "How old is he?", "history": history}
    asked = httpx.post(f"{api_url}/v1/ask", json=body, timeout=60)
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["question"] == "How old is he?"
    assert answer["standalone_question"] == "How old is Mark Frerichs?"
    assert "57" in answer["answer"] and "57-year-old" in answer["citations"][0]["text"]
    bad = httpx.post(f"{api_url}/v1/ask", json={"question": "How old is he?", "history": [{"q": "x"}]}, timeout=60)
    _assert_error(bad, 400)


def test_api_models_lists_the_extractive_backend(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["corpusqa-extractive"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ["extractive"]),
        ({"openai_model": "llama3.2"}, ["extractive"]),
        ({"openai_base_url": "http://127.0.0.1:9/v1"}, ["extractive", "openai"]),
        ({"backend": "openai"}, ["openai", "extractive"]),
    ],
)
def test_api_backends_offered(tmp_path: Path, overrides: dict[str, Any], expected: list[str]) -> None:
    """corpusqa-openai is offered once configured (chosen, or its server named), the default first."""
    assert ui.api_openai.offered_backends(load_settings(index_dir=tmp_path, **overrides)) == expected


def test_api_openai_backend_through_the_api(bundled_index: Settings, embedder: Any) -> None:
    """corpusqa-openai is offered when configured and answers through the (fake, real-HTTP) LLM server."""
    # a question the test server's quote answers (issue #27 shows other quotes as "may not say")
    question = "How many Taliban prisoners will be released by the Afghan government?"
    with FakeOpenAIServer() as llm:
        settings = bundled_index.model_copy(update={"backend": "openai", "openai_base_url": llm.base_url})
        with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            assert [model.id for model in client.models.list()] == ["corpusqa-openai", "corpusqa-extractive"]
            completion = client.chat.completions.create(
                model="corpusqa-openai", messages=[{"role": "user", "content": question}]
            )
            chunks = list(
                client.chat.completions.create(
                    model="corpusqa-openai",
                    messages=[{"role": "user", "content": question}],
                    stream=True,
                )
            )
    content = completion.choices[0].message.content or ""
    assert (completion.model_extra or {})["citations"], content
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == content
    assert (chunks[-1].model_extra or {})["citations"] == (completion.model_extra or {})["citations"]


@pytest.mark.parametrize(
    ("mode", "timeout", "status", "code"),
    [("error500", 30.0, 502, "llm_failed"), ("slow", 0.5, 504, "llm_timeout")],
)
def test_api_llm_failure_is_a_gateway_error(
    bundled_index: Settings, embedder: Any, mode: str, timeout: float, status: int, code: str
) -> None:
    with FakeOpenAIServer(mode=mode, delay=5.0) as llm:
        update = {"backend": "openai", "openai_base_url": llm.base_url, "llm_timeout": timeout}
        settings = bundled_index.model_copy(update=update)
        with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
            body = {"model": "corpusqa-openai", "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]}
            _assert_error(httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30), status, code)
            _assert_error(
                httpx.post(f"{url}/v1/ask", json={"question": EXAMPLE_QUESTION}, timeout=30), status, code
            )
            # The LLM fails before the first delta, so even a streaming request still gets a real status.
            streamed = httpx.post(f"{url}/v1/chat/completions", json=body | {"stream": True}, timeout=30)
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.APIStatusError) as raised:
                client.chat.completions.create(
                    model="corpusqa-openai",
                    messages=[{"role": "user", "content": EXAMPLE_QUESTION}],
                    stream=True,
                )
    _assert_error(streamed, status, code)
    assert raised.value.status_code == status


FAILED = "The LLM server at http://127.0.0.1:1/v1 failed with HTTP 500; check its logs and try again."


def test_api_stream_error_after_text_is_an_error_event() -> None:
    """Once text is out the status is sent: a later failure is one OpenAI-shaped error event, no [DONE]."""

    def events() -> Iterator[str]:
        yield "Partial answer"
        raise LLMError(
            "The LLM server at http://127.0.0.1:1/v1 failed with HTTP 500; check its logs and try again."
        )

    sent = list(ui.api_openai._sse(events(), "corpusqa-openai"))
    first = json.loads(sent[0].removeprefix("data: "))
    last = json.loads(sent[-1].removeprefix("data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Partial answer"}
    assert last["error"] == {
        "message": FAILED,
        "type": "server_error",
        "param": None,
        "code": "llm_failed",
    }
    assert len(sent) == 2 and all(event.endswith("\n\n") for event in sent)


# ---- the key -------------------------------------------------------------------------------------


@pytest.fixture
def keyed_url(bundled_index: Settings, embedder: Any) -> Iterator[str]:
    settings = bundled_index.model_copy(update={"api_key": KEY})
    with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
        yield url


ENDPOINTS = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/status", None),
    ("POST", "/v1/ask", {"question": EXAMPLE_QUESTION}),
    ("POST", "/v1/search", {"query": EXAMPLE_QUESTION}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "corpusqa-extractive", "messages": [{"role": "user", "content": "hi"}]},
    ),
    (
        "POST",
        "/v1/ingest",
        {"path": "../outside"},
    ),  # refused after the key check, so the index stays read-only
    ("GET", "/v1/nope", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {KEY}", "Bearer", f"Bearer {KEY}x"])
def test_api_key_required_on_v1(
    keyed_url: str, method: str, path: str, body: Any, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, keyed_url + path, json=body, headers=headers, timeout=60)
    _assert_error(response, 401, "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_api_key_accepted(keyed_url: str, method: str, path: str, body: Any) -> None:
    response = httpx.request(
        method, keyed_url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert response.status_code != 401, response.text
    assert response.status_code < 500, response.text


def test_api_key_openai_client_and_healthz(keyed_url: str) -> None:
    assert httpx.get(f"{keyed_url}/healthz").json() == {"status": "ok"}
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="wrong", max_retries=0).models.list()
    good = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key=KEY, max_retries=0)
    assert [model.id for model in good.models.list()] == ["corpusqa-extractive"]
    spec = httpx.get(f"{keyed_url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["components"]["securitySchemes"]["basic"]["scheme"] == "basic"  # any user, the key as password
    assert spec["paths"]["/v1/ask"]["post"]["security"] == [{"bearer": []}, {"basic": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


# ---- bad input -----------------------------------------------------------------------------------

USER = [{"role": "user", "content": EXAMPLE_QUESTION}]
MODEL = "corpusqa-extractive"


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "param"),
    [
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "system", "content": "x"}]},
            400,
            "no_user_message",
            "messages",
        ),
        ("/v1/chat/completions", {"model": MODEL, "messages": []}, 400, "too_short", "messages"),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "user", "content": " \n\t "}]},
            400,
            "invalid_question",
            None,
        ),
        (
            "/v1/chat/completions",
            {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": ""}]},
            400,
            "invalid_question",
            None,
        ),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "user", "content": None}]},
            400,
            "invalid_question",
            None,
        ),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}]},
            400,
            "invalid_question",
            None,
        ),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "literal_error",
            "messages.0.role",
        ),
        ("/v1/chat/completions", {"model": MODEL, "messages": "hello"}, 400, "list_type", "messages"),
        (
            "/v1/chat/completions",
            {"model": MODEL, "messages": USER, "stream": "yes"},
            400,
            "bool_type",
            "stream",
        ),
        ("/v1/chat/completions", {"messages": USER}, 400, "missing", "model"),
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": USER}, 404, "model_not_found", "model"),
        (
            "/v1/chat/completions",
            {"model": "corpusqa-openai", "messages": USER},
            404,
            "model_not_found",
            "model",
        ),
        ("/v1/chat/completions", [USER], 400, "model_attributes_type", None),
        ("/v1/ask", {}, 400, "missing", "question"),
        ("/v1/ask", {"question": ""}, 400, "string_pattern_mismatch", "question"),
        ("/v1/ask", {"question": " \x01\n "}, 400, "string_pattern_mismatch", "question"),
        ("/v1/ask", {"question": "x" * 5000}, 400, "invalid_question", None),
        ("/v1/ask", {"question": 42}, 400, "string_type", "question"),
        ("/v1/ask", {"question": "x", "top_k": 0}, 400, "greater_than_equal", "top_k"),
        ("/v1/ask", {"question": "x", "backend": "gpt"}, 400, "literal_error", "backend"),
        ("/v1/ask", {"question": "x", "backend": "openai"}, 404, "backend_not_configured", "backend"),
        ("/v1/ask", {"question": "x", "colour": "red"}, 400, "extra_forbidden", "colour"),
        ("/v1/ingest", {"path": "../"}, 400, "string_pattern_mismatch", "path"),
        ("/v1/ingest", {"path": "a/../../b"}, 400, "string_pattern_mismatch", "path"),
        ("/v1/ingest", {"path": "/etc"}, 400, "string_pattern_mismatch", "path"),
        ("/v1/ingest", {"path": "a\x00b"}, 400, "string_pattern_mismatch", "path"),
        ("/v1/ingest", {"path": "x" * 300}, 400, "path_invalid", "path"),
        ("/v1/ingest", {"path": "a\ud800"}, 400, "string_unicode", "path"),
        ("/v1/ask", {"question": "what \udfff is"}, 400, "string_unicode", "question"),
        ("/v1/ingest", {"path": "no-such-folder"}, 404, "path_not_found", None),
        ("/v1/ingest", {"path": 3}, 400, "string_type", "path"),
    ],
)
def test_api_bad_input_is_an_openai_error(
    api_url: str, path: str, body: Any, status: int, code: str, param: str | None
) -> None:
    # json.dumps escapes lone surrogates (httpx's json= would fail to encode them)
    sent = httpx.post(
        api_url + path, content=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=60
    )
    error = _assert_error(sent, status, code)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (
            b'{"model": "corpusqa-extractive", "messages": [',
            {"Content-Type": "application/json"},
            400,
            "json_invalid",
        ),
        (b"", {"Content-Type": "application/json"}, 400, "missing"),
        (b'{"model": "corpusqa-extractive"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * (MAX_BODY_BYTES + 1), {"Content-Type": "application/json"}, 413, "body_too_large"),
    ],
)
def test_api_malformed_body_is_an_openai_error(
    api_url: str, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    _assert_error(
        httpx.post(f"{api_url}/v1/chat/completions", content=content, headers=headers, timeout=60),
        status,
        code,
    )


def test_api_oversized_chunked_body_is_413(api_url: str) -> None:
    """Without Content-Length the body is counted as it arrives."""

    def pieces() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * 50_000

    headers = {"Content-Type": "application/json"}
    _assert_error(httpx.post(f"{api_url}/v1/ask", content=pieces(), headers=headers, timeout=60), 413, "body_too_large")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nope", 404), ("DELETE", "/v1/status", 405), ("GET", "/v1/ask", 405)],
)
def test_api_unknown_route_is_an_openai_error(api_url: str, method: str, path: str, status: int) -> None:
    _assert_error(httpx.request(method, api_url + path, headers={"Content-Type": "application/json"}), status)


def test_api_unexpected_error_is_one_sentence_500(
    engine: Engine, bundled_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals\nTraceback (most recent call last)")

    monkeypatch.setattr(engine, "status", broken)
    with serve_asgi(create_api_app(engine, bundled_index)) as url:
        response = httpx.get(f"{url}/v1/status")
    error = _assert_error(response, 500)
    assert "secret" not in error["message"] and error["type"] == "server_error"


def test_api_without_index_is_409(tmp_path: Path, embedder: Any) -> None:
    settings = load_settings(index_dir=tmp_path / "nothing", corpus_dir=tmp_path)
    with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
        _assert_error(httpx.get(f"{url}/v1/status"), 409, "index_not_found")
        _assert_error(
            httpx.post(f"{url}/v1/ask", json={"question": "anything?"}, timeout=60), 409, "index_not_found"
        )


# ---- status, ingest ------------------------------------------------------------------------------


def test_api_status_and_healthz(api_url: str, engine: Engine) -> None:
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api_url}/v1/status").json() == engine.status().to_json()


def _add_documents(corpus: Path, count: int) -> None:
    """New documents (distinct content) so an ingest has real embedding work to do."""
    source = next(corpus.glob("*.txt"))
    text = source.read_text(encoding="utf-8")
    (corpus / "more").mkdir()
    for number in range(count):
        (corpus / "more" / f"copy_{number}.txt").write_text(
            f"Copy {number} of the report.\n\n{text}", encoding="utf-8"
        )


def test_api_ingest_while_answering(tmp_path: Path, corpus_copy: Path, embedder: Any) -> None:
    """Questions keep being answered during an ingest; a second ingest meanwhile gets 409."""
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    _add_documents(corpus_copy, 2)
    barrier = threading.Barrier(2)
    results: list[httpx.Response] = []

    def ingest() -> None:
        barrier.wait()
        results.append(httpx.post(f"{url}/v1/ingest", json={}, timeout=300))

    with serve_asgi(create_api_app(engine, settings)) as url:
        threads = [threading.Thread(target=ingest) for _ in range(2)]
        for thread in threads:
            thread.start()
        answers = []
        while len(results) < 2:  # keep asking until both ingests have answered
            answers.append(httpx.post(f"{url}/v1/ask", json={"question": EXAMPLE_QUESTION}, timeout=60))
            time.sleep(0.2)  # leave the ingest some CPU: this machine has two cores
        for thread in threads:
            thread.join(timeout=300)
        status = httpx.get(f"{url}/v1/status").json()
        again = httpx.post(f"{url}/v1/ingest", json={"path": "more"}, timeout=300)
    assert answers and all(response.status_code == 200 for response in answers), [r.text for r in answers]
    assert all(response.json()["question"] == EXAMPLE_QUESTION for response in answers)
    busy, done = sorted(results, key=lambda response: response.status_code, reverse=True)
    _assert_error(busy, 409, "ingest_running")
    assert done.status_code == 200, done.text
    report = done.json()
    assert set(report) == {
        "added",
        "updated",
        "unchanged",
        "deleted",
        "skipped",
        "documents",
        "chunks",
        "seconds",
        "ocr_pages",
        "pages_skipped",
    }
    assert report["added"] == 2 and report["unchanged"] == 1 and report["documents"] == 3
    assert status["document_count"] == 3
    assert again.status_code == 200, again.text


def test_api_ingest_of_a_subfolder(tmp_path: Path, corpus_copy: Path, embedder: Any) -> None:
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest()
    _add_documents(corpus_copy, 1)
    (corpus_copy / "escape").symlink_to(tmp_path, target_is_directory=True)
    with serve_asgi(create_api_app(engine, settings)) as url:
        response = httpx.post(f"{url}/v1/ingest", json={"path": "more/./"}, timeout=300)
        escape = httpx.post(f"{url}/v1/ingest", json={"path": "escape"}, timeout=300)
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 1
    _assert_error(escape, 400, "path_outside_corpus")


# ---- the app itself ------------------------------------------------------------------------------


def test_api_leaves_root_free_for_the_page(engine: Engine, bundled_index: Settings) -> None:
    """The chat page is mounted at "/" on the same app; the guard's key covers it, its body cap does not."""
    settings = bundled_index.model_copy(update={"api_key": KEY})
    app = create_api_app(engine, settings)
    page = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("page")),
            Route("/upload", _echo_size, methods=["POST"]),
        ]
    )
    app.mount("/", page)
    with serve_asgi(app) as url:
        assert httpx.get(f"{url}/").text == "page"  # the page's shell shows its login
        big = b"x" * (2 * MAX_BODY_BYTES)
        assert httpx.post(f"{url}/upload", content=big).status_code == 401
        keyed = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        assert httpx.post(f"{url}/upload", content=big, headers=keyed).text == str(2 * MAX_BODY_BYTES)
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    paths = set(app.openapi()["paths"])
    assert paths == {"/healthz", "/v1/models", "/v1/chat/completions", "/v1/ask", "/v1/search", "/v1/ingest", "/v1/status"}


async def _echo_size(request: Any) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def test_api_openapi_describes_every_field(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    undocumented = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []
    assert all(schema.get("description") for schema in schemas.values())
    assert "HTTPValidationError" not in schemas
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert operation.get("description") or operation.get("summary"), path
            assert "422" not in operation["responses"], path
    chunk = schemas["ChatCompletionChunk"]["properties"]
    assert {"citations", "abstained"} <= set(chunk) and {"citations", "abstained"} <= set(
        schemas["ChatCompletion"]["properties"]
    )
    stream = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(stream) == {"application/json", "text/event-stream"}


def test_api_exports() -> None:
    assert ui.api.__all__ == ["MAX_BODY_BYTES", "MODEL_PREFIX", "create_api_app"]
    assert all(hasattr(ui.api, name) for name in ui.api.__all__)


@pytest.mark.parametrize(
    "module", [ui.api_docs, ui.api_errors, ui.api_models, ui.api_openai, ui.api_openai_models], ids=lambda m: m.__name__
)
def test_api_module_exports_are_exact(module: Any) -> None:
    """Each API module's `__all__` names, once each, every public class and function it defines."""
    exported = module.__all__
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
        and (isinstance(value, type) or callable(value))
    }
    assert len(set(exported)) == len(exported)
    assert all(hasattr(module, name) for name in exported)
    assert defined <= set(exported), sorted(defined - set(exported))


def test_api_ingest_of_a_subfolder_keeps_corpus_relative_sources(
    tmp_path: Path, corpus_copy: Path, embedder: Any
) -> None:
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest()
    _add_documents(corpus_copy, 1)
    with serve_asgi(create_api_app(engine, settings)) as url:
        assert httpx.post(f"{url}/v1/ingest", json={"path": "more"}, timeout=300).status_code == 200
        assert httpx.post(f"{url}/v1/ingest", json={}, timeout=300).json()["added"] == 0
        sources = [document["source"] for document in httpx.get(f"{url}/v1/status").json()["documents"]]
    assert sources == sorted([next(corpus_copy.glob("*.txt")).name, "more/copy_0.txt"])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("content", ["\udfff port?", [{"type": "text", "text": "\ud800 port?"}]])
def test_api_lone_surrogate_in_a_chat_message_is_a_400(api_url: str, content: Any, stream: bool) -> None:
    """Issue #13 item 11: this was a 500 (while /v1/ask said 400)."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": stream}
    sent = httpx.post(
        f"{api_url}/v1/chat/completions",
        content=json.dumps(body),  # json.dumps escapes lone surrogates (httpx's json= would fail to encode them)
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    _assert_error(sent, 400)
    assert sent.json()["error"]["type"] == "invalid_request_error"


def test_api_unexpected_error_is_logged_with_its_text(
    engine: Engine, bundled_index: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals at /srv/x")

    monkeypatch.setattr(engine, "ask", broken)
    with serve_asgi(create_api_app(engine, bundled_index)) as url:
        response = httpx.post(f"{url}/v1/ask", json={"question": "anything?"}, timeout=60)
    error = _assert_error(response, 500)
    assert "secret" not in error["message"] and "RuntimeError" in error["message"]
    assert "secret internals at /srv/x" in caplog.text
