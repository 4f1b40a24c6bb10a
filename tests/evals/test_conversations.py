"""The conversation eval: its shipped chains are sound, its loader checks lines, its run reports every metric."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from corpusqa.errors import CorpusQAError
from corpusqa.settings import load_settings
from evals.conversations import KINDS, conversation_gate, load_chains, run_conversations
from evals.corpora import CORPORA_DIR, load_corpus
from evals.metrics import normalise, supports
from ingest.chunker import chunk_file
from ingest.loader import SUPPORTED_SUFFIXES, file_hash, read_file
from rag import Engine

SHIPPED = sorted(p.parent.name for p in CORPORA_DIR.glob("*/conversations.jsonl"))


def _chunk_texts(name: str) -> list[str]:
    corpus = load_corpus(name)
    texts = []
    for path in sorted(corpus.documents.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            data = path.read_bytes()
            loaded = read_file(data, path, path.relative_to(corpus.documents).as_posix(), 50 * 1024 * 1024)
            texts.extend(chunk.text for chunk in chunk_file(loaded, file_hash(data), load_settings().chunk_tokens))
    return texts


def test_conversations_cover_three_corpora_with_enough_chains_and_follow_ups() -> None:
    assert len(SHIPPED) >= 3
    chains = [chain for name in SHIPPED for chain in load_chains(CORPORA_DIR / name / "conversations.jsonl")]
    follow_ups = [turn for chain in chains for turn in chain.turns[1:]]
    assert len(chains) >= 25 and len(follow_ups) >= 50
    assert all(2 <= len(chain.turns) <= 5 for chain in chains)
    kinds = Counter(turn.kind for turn in follow_ups)
    assert kinds["switch"] >= 5 and kinds["ellipsis"] >= 5 and kinds["pronoun"] >= 25, kinds
    assert sum(not turn.item.answerable for turn in follow_ups) >= 5  # "the documents do not say"
    assert len({chain.id for chain in chains}) == len(chains)
    for name in SHIPPED:  # every corpus gates its conversations
        gate = conversation_gate(CORPORA_DIR / name / "gate.toml")
        assert {"conv_followups_correct_and_cited", "conv_entity_recall", "conv_standalone_unchanged"} <= set(gate["min"])
        assert "conv_followup_gap" in gate["max"]


@pytest.mark.parametrize("name", SHIPPED)
def test_conversation_turns_hold_their_evidence_rewording_and_entity(name: str) -> None:
    texts = _chunk_texts(name)
    for chain in load_chains(CORPORA_DIR / name / "conversations.jsonl"):
        assert chain.turns[0].kind == "first" and chain.turns[0].standalone == chain.turns[0].item.question
        for turn in chain.turns:
            item = turn.item
            assert turn.kind in KINDS and turn.entity, item.id
            if item.answerable:
                assert item.accept and all(normalise(a) in normalise(item.evidence or "") for a in item.accept), item.id
                assert any(supports(text, item.evidence) for text in texts), f"{item.id}: evidence in no chunk"
            else:
                assert item.unanswerable == "near_miss" and not item.accept, item.id
            if turn.kind not in ("first", "switch"):
                assert turn.standalone != item.question, item.id
                assert turn.entity.lower() in turn.standalone.lower(), item.id


def test_load_chains_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "conversations.jsonl"
    good = {"id": "c1", "turns": [{"question": "A?", "accept": ["x"], "evidence": "x"}, {"question": "B?"}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps({"id": "c2", "turns": [{"question": "A?"}]}) + "\n")
    with pytest.raises(CorpusQAError, match=r"conversations.jsonl:2 is not a valid conversation line"):
        load_chains(path)
    path.write_text(json.dumps(good) + "\n")
    (chain,) = load_chains(path)
    assert [turn.kind for turn in chain.turns] == ["first", "pronoun"]
    assert chain.turns[1].item.answerable is False


def test_run_conversations_reports_every_metric(engine: Engine, tmp_path: Path) -> None:
    chain = {"id": "c1", "turns": [
        {"question": "Who is Mark Frerichs?", "accept": ["contractor"], "evidence": "government contractor",
         "entity": "Mark Frerichs"},
        {"question": "Where was he captured?", "accept": ["Khost"], "evidence": "Khost province",
         "standalone": "Where was Mark Frerichs captured?", "entity": "Mark Frerichs", "kind": "pronoun"},
        {"question": "Now, about Zalmay Khalilzad: what is his job?", "accept": ["envoy"],
         "evidence": "special envoy Zalmay Khalilzad", "entity": "Zalmay Khalilzad", "kind": "switch"},
    ]}
    path = tmp_path / "conversations.jsonl"
    path.write_text(json.dumps(chain) + "\n")
    questions = load_corpus("news").questions[:5]
    metrics, rows = run_conversations(engine, load_chains(path), questions)
    assert metrics["conv_chains"] == 1 and metrics["conv_followups"] == 2
    assert metrics["conv_entity_recall"] == 1.0 and metrics["conv_switch_clean"] == 1.0
    assert metrics["conv_first_turns_unchanged"] == 1.0 and metrics["conv_standalone_unchanged"] == 1.0
    assert rows[0]["rewrite"] == "Where was Mark Frerichs captured?" and rows[0]["passed"]
    assert rows[1]["rewrite"] == "Now, about Zalmay Khalilzad: what is his job?"
    assert metrics["conv_rewrite_p50_ms"] > 0
    assert metrics["conv_followup_gap"] == round(
        metrics["conv_standalone_correct_and_cited"] - metrics["conv_followups_correct_and_cited"], 4
    )
