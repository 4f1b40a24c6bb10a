"""Tests that FakeOpenAIServer works with the real openai and llama-index clients."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from support.openai_server import NOT_FOUND_ANSWER, FakeOpenAIServer, build_answer, parse_passages

API_KEY = "test-key"

SYSTEM = (
    "You answer questions using only the numbered passages below. "
    "Cite the passage number in square brackets after each claim.\n\n"
    "[1] The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair.\n"
    "It is about 330 metres tall.\n"
    "[2] The Great Wall of China stretches across northern China. "
    "Construction of the wall began in the 7th century BC.\n"
    "Most of the surviving wall dates from the Ming dynasty.\n"
)
QUESTION = "When did construction of the wall start?"
EXPECTED = "Construction of the wall began in the 7th century BC. [2]"


def _messages(question: str = QUESTION) -> list[ChatCompletionMessageParam]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Please answer.\n\nQuestion: {question}"},
    ]


@pytest.fixture()
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture()
def client(srv: FakeOpenAIServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=srv.base_url, api_key=API_KEY, max_retries=0, timeout=10) as c:
        yield c


# --------------------------------------------------------------------- pure logic
def test_parse_passages_multiline_and_question_boundary() -> None:
    text = "[1] Alpha one.\nstill alpha.\n[2] Beta two.\n\nmore beta\n\nQuestion: what?"
    assert parse_passages(text) == [(1, "Alpha one. still alpha."), (2, "Beta two. more beta")]


def test_build_answer_modes() -> None:
    msgs = _messages()
    assert build_answer(msgs) == EXPECTED
    assert build_answer(msgs, "no_citation") == EXPECTED.removesuffix(" [2]")
    assert build_answer(msgs, "bad_citation") == EXPECTED.replace("[2]", "[99]")
    assert build_answer(msgs, "echo_system") == SYSTEM
    no_passages = [{"role": "user", "content": "Question: what is the capital of France?"}]
    assert build_answer(no_passages) == NOT_FOUND_ANSWER


def test_picks_sentence_in_first_passage() -> None:
    assert build_answer(_messages("How tall is it, in metre?")) == ("It is about 330 metres tall. [1]")


# --------------------------------------------------------------------- openai client
def test_models_endpoint(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_openai_non_streaming(srv: FakeOpenAIServer, client: OpenAI) -> None:
    resp = client.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "fake-model"
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == EXPECTED
    assert choice.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    assert len(srv.requests) == 1
    assert srv.requests[0]["messages"] == _messages()


def test_openai_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="fake-model", messages=_messages(), stream=True)
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(contents) > 1  # really streamed in pieces
    assert "".join(contents) == EXPECTED
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_streaming_include_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fake-model",
        messages=_messages(),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == EXPECTED


def test_wrong_key_is_401(srv: FakeOpenAIServer) -> None:
    bad = OpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="fake-model", messages=_messages())
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert info.value.body["message"] == "Incorrect API key provided."  # type: ignore[index]
    bad.close()


def test_missing_header_is_401(srv: FakeOpenAIServer) -> None:
    req = urllib.request.Request(f"{srv.base_url}/models")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 401
    body = json.loads(info.value.read())
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_api_key"


def test_no_api_key_means_open() -> None:
    with (
        FakeOpenAIServer() as server,
        OpenAI(base_url=server.base_url, api_key="anything", max_retries=0) as c,
    ):
        resp = c.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.choices[0].message.content == EXPECTED


# --------------------------------------------------------------------- modes
def test_no_passages_reply(client: OpenAI) -> None:
    resp = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Question: What is the speed of light?"}],
    )
    assert resp.choices[0].message.content == NOT_FOUND_ANSWER


def test_bad_and_no_citation_modes(srv: FakeOpenAIServer, client: OpenAI) -> None:
    srv.mode = "bad_citation"
    resp = client.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.choices[0].message.content == EXPECTED.replace("[2]", "[99]")
    srv.mode = "no_citation"
    resp = client.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.choices[0].message.content == EXPECTED.removesuffix(" [2]")


def test_echo_system_mode(srv: FakeOpenAIServer, client: OpenAI) -> None:
    srv.mode = "echo_system"
    resp = client.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.choices[0].message.content == SYSTEM


def test_error500_mode(srv: FakeOpenAIServer, client: OpenAI) -> None:
    srv.mode = "error500"
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="fake-model", messages=_messages())
    assert info.value.status_code == 500
    assert info.value.type == "server_error"


def test_slow_mode_client_timeout(srv: FakeOpenAIServer) -> None:
    srv.mode = "slow"
    srv.delay = 3
    with (
        OpenAI(base_url=srv.base_url, api_key=API_KEY, max_retries=0, timeout=0.5) as c,
        pytest.raises(openai.APITimeoutError),
    ):
        c.chat.completions.create(model="fake-model", messages=_messages())


def test_slow_mode_answers_after_delay(srv: FakeOpenAIServer, client: OpenAI) -> None:
    srv.mode = "slow"
    srv.delay = 0.3
    resp = client.chat.completions.create(model="fake-model", messages=_messages())
    assert resp.choices[0].message.content == EXPECTED


def test_unknown_mode_rejected(srv: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError):
        srv.mode = "nonsense"


def test_stop_while_request_in_flight_does_not_hang() -> None:
    server = FakeOpenAIServer(api_key=API_KEY, mode="slow", delay=30).start()
    url = f"{server.base_url}/chat/completions"
    done = threading.Event()

    def call() -> None:
        try:
            httpx.post(
                url,
                json={"model": "fake-model", "messages": _messages()},
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=20,
            )
        except httpx.HTTPError:
            pass
        done.set()

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    while not server.requests:
        threading.Event().wait(0.01)
    thread = server._thread
    server.stop(timeout=10)
    assert thread is not None and not thread.is_alive()
    assert done.wait(10)


# --------------------------------------------------------------------- llama-index
def test_llama_index_openai_like(srv: FakeOpenAIServer) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model="fake-model",
        api_base=srv.base_url,
        api_key=API_KEY,
        is_chat_model=True,
        max_retries=0,
    )
    msgs = [ChatMessage(role=m["role"], content=m["content"]) for m in _messages()]

    resp = llm.chat(msgs)
    assert resp.message.content == EXPECTED

    deltas = [r.delta for r in llm.stream_chat(msgs)]
    assert len([d for d in deltas if d]) > 1
    assert "".join(d or "" for d in deltas) == EXPECTED

    sent = srv.requests
    assert len(sent) == 2
    assert sent[0]["messages"][0] == {"role": "system", "content": SYSTEM}
    assert sent[1]["stream"] is True
