"""Real and hand-written LLM replies, labelled by hand, replayed by the test server: every verdict asserted (issue #27)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.openai_server import FakeOpenAIServer

from corpusqa.types import Answer
from evals.corpora import load_corpus, open_corpus
from evals.replies import Exchange, load_replies, outcome, score_replies, shown_passages
from rag.engine import Engine
from rag.llm import build_messages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "llm_replies"
FILES = sorted(FIXTURES.glob("*.jsonl"))
EXCHANGES = [exchange for path in FILES for exchange in load_replies(path)]

# Labelled replies the check still gets wrong, each with why; strict, so a fix shows up as a failure to
# remove the entry. Reported in docs/grounding.md and by `python -m evals.bench_grounding --replies`.
KNOWN_MISSES: dict[str, str] = {
    "q018": "a which-X question whose X (news outlet) is no known answer type; the reader ranks the quote first",
    "q101": "its second sentence names a person (Khalilzad) in the sentence the reader ranks first",
    "q109": "'second part' comes from the question; the first part's content is supported, shown as may-not-say",
    "q117": "the claim's relation (became minister) is the question's; the sentence states the name and the day",
    "sq016": "a what-are question with no answer type; the reader ranks the sentence near its pick",
    "sq318": "re-cited rightly, but the reader ranks another sentence far above it: shown as may-not-say",
    "sq378": "the reader ranks another sentence far above the right one: shown as may-not-say",
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, embedder) -> dict[str, Engine]:  # type: ignore[no-untyped-def]
    """An engine over each eval corpus the fixtures use, each ingested once into a temporary index."""
    from corpusqa.settings import load_settings

    settings = load_settings(index_dir=tmp_path_factory.mktemp("replies"))
    out: dict[str, Engine] = {}
    for name in sorted({exchange.corpus for exchange in EXCHANGES}):
        out[name], _ = open_corpus(settings, load_corpus(name), embedder)
    return out


@pytest.fixture(scope="module")
def replay() -> Iterator[FakeOpenAIServer]:
    """The test server in replay mode, holding every fixture's reply."""
    with FakeOpenAIServer(mode="replay") as server:
        for exchange in EXCHANGES:
            server.record(exchange.messages, exchange.reply)
        yield server


@pytest.fixture(scope="module")
def answers(engines: dict[str, Engine], replay: FakeOpenAIServer) -> dict[str, Answer]:
    """Every fixture's answer, replayed and checked once."""
    return {f"{e.corpus}/{e.id}": _answer(engines[e.corpus], replay, e) for e in EXCHANGES}


def _answer(engine: Engine, server: FakeOpenAIServer, exchange: Exchange) -> Answer:
    """The reply as the openai backend gets it (the real client, over HTTP), checked by the engine."""
    shown = shown_passages(engine, exchange)
    client = engine.with_settings(openai_base_url=server.base_url, openai_model="fake-model").llm
    reply = "".join(client.stream(exchange.question, shown))
    assert reply == exchange.reply  # the server found the recording by the question and the passages
    return engine.check_reply(exchange.question, reply, shown)


def test_fixtures_are_labelled_and_name_their_origin() -> None:
    assert len(EXCHANGES) >= 40
    recorded = [e for e in EXCHANGES if e.origin == "recorded"]
    assert len(recorded) == 30
    assert all(e.origin == "recorded" or e.origin.startswith("hand-written") for e in EXCHANGES)
    assert all(e.found_in for e in EXCHANGES if e.label in ("right", "wrong_citation"))


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[f"{e.corpus}-{e.id}-{e.label}" for e in EXCHANGES])
def test_reply_verdict(answers: dict[str, Answer], exchange: Exchange) -> None:
    if exchange.id in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[exchange.id])
    answer = answers[f"{exchange.corpus}/{exchange.id}"]
    seen = outcome(answer)
    supported = [claim for claim in answer.claims if claim.supported]
    if exchange.label == "right":
        assert seen == "answer", answer.claims
        assert any(claim.evidence_id == exchange.found_in for claim in supported)
    elif exchange.label == "wrong_citation":
        assert seen == "answer", answer.claims
        moved = [claim for claim in supported if claim.recited]
        assert moved and all(claim.evidence_id == exchange.found_in for claim in moved), answer.claims
        assert all(claim.recited_from in (None, *claim.citations) for claim in moved)
        assert any(citation.id == exchange.found_in for citation in answer.citations)
    elif exchange.label == "invented":
        assert not supported, supported
        assert seen == "rejected"
    elif exchange.label == "non_answer":
        assert seen in ("rejected", "may-not-say"), answer.claims
        if seen == "may-not-say":
            assert answer.answer.startswith("The documents may not say; the model wrote:")
            assert answer.citations  # shown with the passages
    else:
        assert seen == "abstained"


def test_reply_scores_hold_their_floors(answers: dict[str, Answer]) -> None:
    # Issue #27's targets where they are met (right answers shown >= 90%, wrong citations repaired >= 90%);
    # where they are missed, the figures reached on 2026-12-03 as floors (inventions: target 100% rejected,
    # 7 of 9; non-answers: target >= 90% held, 5 of 8). Raise a floor when a fix moves it; never lower one.
    scores = score_replies([(e, answers[f"{e.corpus}/{e.id}"]) for e in EXCHANGES])
    rights = scores.counts["right"] + scores.counts["wrong_citation"]
    assert scores.right_shown >= 0.9 * rights, scores.line()
    assert scores.repaired >= 0.9 * scores.counts["wrong_citation"], scores.line()
    assert scores.inventions_rejected >= 7 and scores.inventions_not_answers >= 8, scores.line()
    assert scores.non_answers_held >= 5, scores.line()
    assert scores.answered_right >= 0.8 * scores.answered, scores.line()


def test_replay_server_refuses_a_request_it_never_recorded(engines: dict[str, Engine], replay: FakeOpenAIServer) -> None:
    from corpusqa.errors import LLMError

    exchange = next(e for e in EXCHANGES if e.origin == "recorded")
    engine = engines[exchange.corpus]
    shown = list(reversed(shown_passages(engine, exchange)))  # other numbering: not what the model saw
    client = engine.with_settings(openai_base_url=replay.base_url, openai_model="fake-model").llm
    with pytest.raises(LLMError, match="HTTP 422"):
        "".join(client.stream(exchange.question, shown))
    assert build_messages(exchange.question, shown)[-1]["content"] != exchange.messages[-1]["content"]
