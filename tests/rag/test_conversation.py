"""The conversation model, the LLM's condensing (against a real local OpenAI-protocol server) and the engine's history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.openai_server import FakeOpenAIServer

from corpusqa.settings import Settings, load_settings
from ingest.chunker import count_tokens
from rag import Engine
from rag.condense import CONDENSE_PROMPT, standalone_question
from rag.conversation import Turn, trim_history, turn_from_answer, turns_from_pairs
from rag.llm import LLMClient


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key="test-key") as srv:
        yield srv


def _llm(server: FakeOpenAIServer) -> tuple[LLMClient, Settings]:
    settings = load_settings(
        backend="openai", openai_base_url=server.base_url, openai_model="fake-model", openai_api_key="test-key",
        llm_timeout=5.0,
    )
    return LLMClient(settings), settings


def test_trim_history_drops_oldest_turns_first() -> None:
    turns = [Turn(f"Question number {n} about the garden?", "An answer of several words. " * 5) for n in range(6)]
    one = count_tokens(turns[0].question) + count_tokens(turns[0].answer) + 8
    kept = trim_history(turns, one * 2 + 1)
    assert kept == turns[-2:]
    assert trim_history(turns, 0) == []
    assert trim_history(turns, 10_000) == turns


def test_turns_from_pairs_drops_blank_questions_and_cleans_what_a_client_sent() -> None:
    assert turns_from_pairs([("  Who   is she? ", " Ada. "), ("", "x"), ("  ", "y")]) == [Turn("Who is she?", "Ada.")]
    (turn,) = turns_from_pairs([("Who\ud800 is she?", "A" * 10_000)])
    assert turn.question == "Who is she?" and len(turn.answer) == 4000


def test_turn_from_answer_keeps_what_the_next_question_needs(engine: Engine) -> None:
    answer = engine.ask("Who is Mark Frerichs?")
    turn = turn_from_answer(answer)
    assert (turn.question, turn.answer, turn.short_answer) == (answer.question, answer.answer, answer.short_answer)
    assert turn.standalone == "Who is Mark Frerichs?"
    assert turn.sources == tuple(dict.fromkeys(c.source for c in answer.citations))


def test_engine_ask_with_history_searches_the_standalone_question(engine: Engine) -> None:
    first = engine.ask("Who is Mark Frerichs?")
    follow = engine.ask("Where was he captured?", history=[turn_from_answer(first)])
    assert follow.question == "Where was he captured?"
    assert follow.standalone_question == "Where was Mark Frerichs captured?"
    assert follow.to_json()["standalone_question"] == "Where was Mark Frerichs captured?"
    assert not follow.abstained and "Khost" in follow.answer
    assert "Khost" in follow.citations[0].text
    assert follow.timings.rewriting > 0
    # a first turn is searched as typed
    assert first.to_json()["standalone_question"] == "Who is Mark Frerichs?"


def test_condense_uses_the_model_rewrite(server: FakeOpenAIServer) -> None:
    llm, settings = _llm(server)
    server.mode = "script"
    server.script = "Where was Anna Lindqvist born?"
    history = [Turn("Who is Anna Lindqvist?", "A painter.")]
    assert standalone_question("Where was she born?", history, llm, settings) == "Where was Anna Lindqvist born?"
    messages = server.requests[-1]["messages"]
    assert messages[0] == {"role": "system", "content": CONDENSE_PROMPT}
    assert messages[1:3] == [
        {"role": "user", "content": "Who is Anna Lindqvist?"},
        {"role": "assistant", "content": "A painter."},
    ]
    assert "Where was she born?" in messages[-1]["content"]


@pytest.mark.parametrize("reply", ["", "Where was Anna Lindqvist?", "I cannot help with that."])
def test_condense_falls_back_to_rules_when_the_model_drops_content(server: FakeOpenAIServer, reply: str) -> None:
    llm, settings = _llm(server)
    server.mode = "script"
    server.script = reply
    history = [Turn("Who is Anna Lindqvist?", "A painter.")]
    assert standalone_question("Where was she born?", history, llm, settings) == "Where was Anna Lindqvist born?"


def test_condense_falls_back_to_rules_when_the_server_fails(server: FakeOpenAIServer) -> None:
    llm, settings = _llm(server)
    server.mode = "error500"
    history = [Turn("Who is Anna Lindqvist?", "A painter.")]
    assert standalone_question("Where was she born?", history, llm, settings) == "Where was Anna Lindqvist born?"


def test_condense_sends_only_the_newest_turns_that_fit(server: FakeOpenAIServer) -> None:
    llm, settings = _llm(server)
    settings = settings.model_copy(update={"history_tokens": 60})
    server.mode = "script"
    server.script = "Where was Anna Lindqvist born?"
    old = [Turn(f"What happened in year {n} of the long old story?", "Many things happened. " * 4) for n in range(5)]
    history = [*old, Turn("Who is Anna Lindqvist?", "A painter.")]
    standalone_question("Where was she born?", history, llm, settings)
    sent = [m["content"] for m in server.requests[-1]["messages"][1:-1]]
    assert sent[-2:] == ["Who is Anna Lindqvist?", "A painter."]
    assert len(sent) < 2 * len(history)
