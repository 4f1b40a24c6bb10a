"""The conversation eval: chains of follow-up questions (conversations.jsonl), asked with their history and alone.

Each line of a corpus's conversations.jsonl is one chain: {"id", "turns": [turn, ...]}; a turn holds
`question`, `accept`, `evidence` (null with `unanswerable` for "the documents do not say"), `standalone`
(the rewording a person would write), `entity` (what the turn is about) and `kind` (first, pronoun,
ellipsis, definite, switch). Reported per corpus (all rates 0..1):

- conv_followups_correct_and_cited: follow-ups asked with their history, graded like questions;
- conv_standalone_correct_and_cited: their expected standalone rewordings asked alone (the ceiling);
- conv_followup_gap: the second minus the first;
- conv_entity_recall: follow-ups (not topic switches) whose rewrite holds the entity referred to;
- conv_switch_clean: topic switches whose rewrite carries no entity of the earlier turns;
- conv_first_turns_unchanged: each chain's first question, asked after the previous chain, left unchanged;
- conv_standalone_unchanged: the corpus's own questions, each asked after the one before it, left unchanged;
- conv_rewrite_p50_ms: the median time of the rewrite inside the follow-ups' answers (Timings.rewriting);
- conv_rewrite_standalone_p50_ms: the same for the corpus's own questions asked after another.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpusqa.errors import CorpusQAError
from evals.grader import QuestionResult, grade
from evals.questions import Question
from rag.conversation import Turn, turn_from_answer
from rag.rewrite import rewrite_question

if TYPE_CHECKING:
    from rag.engine import Engine

__all__ = ["Chain", "ChainTurn", "conversation_gate", "load_chains", "run_conversations"]

KINDS = ("first", "pronoun", "ellipsis", "definite", "switch")


@dataclass(frozen=True)
class ChainTurn:
    """One turn of an eval conversation: the question as typed, graded like a question, and its expected rewording."""

    item: Question
    standalone: str
    entity: str
    kind: str


@dataclass(frozen=True)
class Chain:
    """One eval conversation: its turns in order."""

    id: str
    turns: tuple[ChainTurn, ...]


def load_chains(path: Path) -> list[Chain]:
    """The chains of a conversations.jsonl; a malformed line raises CorpusQAError naming it."""
    chains = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            turns = []
            for index, turn in enumerate(raw["turns"], start=1):
                kind = str(turn.get("kind") or ("first" if index == 1 else "pronoun"))
                if kind not in KINDS:
                    raise ValueError(f"kind must be one of {', '.join(KINDS)}")
                item = Question(
                    id=f"{raw['id']}.{index}",
                    question=str(turn["question"]),
                    accept=tuple(str(a) for a in turn.get("accept") or ()),
                    evidence=turn.get("evidence"),
                    type="unanswerable" if turn.get("evidence") is None else "fact",
                    split="test",
                    unanswerable=turn.get("unanswerable"),
                )
                turns.append(ChainTurn(item, str(turn.get("standalone") or turn["question"]), str(turn.get("entity") or ""), kind))
            if len(turns) < 2:
                raise ValueError("a chain needs at least two turns")
            chains.append(Chain(str(raw["id"]), tuple(turns)))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusQAError(f"{path}:{number} is not a valid conversation line ({exc}); fix it and rerun.") from exc
    return chains


def conversation_gate(gate_file: Path) -> dict[str, dict[str, float]]:
    """The [conversations.min] and [conversations.max] tables of a corpus's gate.toml (empty when absent)."""
    if not gate_file.is_file():
        return {"min": {}, "max": {}}
    try:
        data = tomllib.loads(gate_file.read_text(encoding="utf-8")).get("conversations", {})
    except tomllib.TOMLDecodeError as exc:
        raise CorpusQAError(f"Cannot read thresholds from {gate_file} ({exc}); fix the file.") from exc
    return {"min": dict(data.get("min", {})), "max": dict(data.get("max", {}))}


def run_conversations(
    engine: Engine, chains: list[Chain], questions: list[Question], backend: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask every chain with its history and every follow-up's rewording alone: (metrics, per-turn rows)."""
    rows: list[dict[str, Any]] = []
    followups: list[QuestionResult] = []
    alone: list[QuestionResult] = []
    recall: list[bool] = []
    clean: list[bool] = []
    firsts: list[bool] = []
    rewriting: list[float] = []
    previous: list[Turn] = []
    for chain in chains:
        firsts.append(rewrite_question(chain.turns[0].item.question, previous).question == chain.turns[0].item.question)
        history: list[Turn] = []
        for index, turn in enumerate(chain.turns):
            answer = engine.ask(turn.item.question, backend=backend, history=history)
            rewrite = answer.standalone_question or turn.item.question
            if index > 0:
                retrieved = [scored.chunk.text for scored in answer.retrieved[:5]]
                result = grade(turn.item, answer, retrieved)
                single = engine.ask(turn.standalone, backend=backend)
                ceiling = grade(turn.item, single, [scored.chunk.text for scored in single.retrieved[:5]])
                followups.append(result)
                alone.append(ceiling)
                rewriting.append(answer.timings.rewriting)
                found = _holds(rewrite, turn.entity)
                if turn.kind == "switch":
                    old = [t.entity for t in chain.turns[:index] if t.entity and not _holds(turn.item.question, t.entity)]
                    clean.append(not any(_holds(rewrite, entity) for entity in old))
                else:
                    recall.append(found)
                rows.append({
                    "id": turn.item.id, "kind": turn.kind, "question": turn.item.question, "rewrite": rewrite,
                    "expected": turn.standalone, "entity_found": found, "passed": result.passed,
                    "passed_alone": ceiling.passed, "answer": answer.answer[:200],
                })
            history.append(turn_from_answer(answer))
        previous = history
    unchanged, costs = _standalone_unchanged(questions)
    followed = _share([r.passed for r in followups])
    ceiling_rate = _share([r.passed for r in alone])
    metrics = {
        "conv_chains": len(chains),
        "conv_followups": len(followups),
        "conv_followups_correct_and_cited": followed,
        "conv_standalone_correct_and_cited": ceiling_rate,
        "conv_followup_gap": round(ceiling_rate - followed, 4),
        "conv_entity_recall": _share(recall),
        "conv_switch_clean": _share(clean),
        "conv_switches": len(clean),
        "conv_first_turns_unchanged": _share(firsts),
        "conv_standalone_unchanged": unchanged,
        "conv_rewrite_p50_ms": _ms(rewriting),
        "conv_rewrite_standalone_p50_ms": _ms(costs),
    }
    return metrics, rows


def _standalone_unchanged(questions: list[Question]) -> tuple[float, list[float]]:
    """Share of the corpus's questions left unchanged when asked after the one before it, and each rewrite's cost."""
    kept: list[bool] = []
    costs: list[float] = []
    for before, item in itertools.pairwise(questions):
        history = [Turn(question=before.question, answer=before.accept[0] if before.accept else "")]
        start = time.perf_counter()
        rewrite = rewrite_question(item.question, history).question
        costs.append(time.perf_counter() - start)
        kept.append(rewrite == item.question)
    return _share(kept), costs


def _ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2) if seconds else 0.0


def _holds(text: str, entity: str) -> bool:
    return bool(entity) and entity.lower() in text.lower()


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0
