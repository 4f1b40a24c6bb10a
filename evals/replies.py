"""Labelled LLM replies (tests/fixtures/llm_replies/*.jsonl) and how the `openai` backend's check scores on them.

Each line is one exchange: the messages corpusqa sent, the model's reply, and a label given by hand
against the question's accepted answer and evidence: `right`, `wrong_citation` (right, but the marker
points at another passage than the one that states it; `found_in` names that one), `invented`,
`non_answer` (true, but not what was asked) or `abstention`. The passages are read back from the
messages and found in the index by their text, so the check sees what the model saw, numbered as it saw it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.types import Answer, ScoredChunk
from rag.engine import Engine

__all__ = ["LABELS", "Exchange", "ReplyScores", "load_replies", "outcome", "passages_of", "score_replies", "shown_passages"]

LABELS = ("right", "wrong_citation", "invented", "non_answer", "abstention")
_PASSAGE = re.compile(r"^\[(\d{1,3})\] (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Exchange:
    """One recorded or hand-written exchange with its label."""

    id: str
    corpus: str
    origin: str  # "recorded" (a real model's reply) or "hand-written (style: ...)"
    label: str
    found_in: int | None  # the passage that states a right answer's fact
    question: str
    messages: list[dict[str, str]]
    reply: str
    note: str = ""


def load_replies(path: str | Path) -> list[Exchange]:
    """The exchanges of one JSONL fixture file; a bad line is an error that names it."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = json.loads(line)
            exchange = Exchange(
                row["id"], row["corpus"], row["origin"], row["label"], row.get("found_in"), row["question"],
                row["messages"], row["reply"], row.get("note", ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusQAError(f"Line {number} of {path} is not a labelled exchange ({exc}); fix or remove it.") from exc
        if exchange.label not in LABELS:
            raise CorpusQAError(f"Line {number} of {path} has label {exchange.label!r}; use one of {', '.join(LABELS)}.")
        out.append(exchange)
    return out


def passages_of(messages: list[dict[str, str]]) -> list[str]:
    """The numbered passages of the last user message, in the order the model saw them."""
    user = [m["content"] for m in messages if m.get("role") == "user"][-1]
    return [text for _, text in _PASSAGE.findall(user)]


def shown_passages(engine: Engine, exchange: Exchange) -> list[ScoredChunk]:
    """The indexed chunks the model was shown, found by their text (whitespace-normalised)."""
    chunks = {" ".join(chunk.text.split()): chunk for chunk in engine._current().chunks.values()}
    out = []
    for text in passages_of(exchange.messages):
        chunk = chunks.get(" ".join(text.split()))
        if chunk is None:
            raise CorpusQAError(f"A passage shown for {exchange.id} is not in the index ({text[:60]!r}…); ingest its corpus.")
        out.append(ScoredChunk(chunk, 1.0))
    return out


def outcome(answer: Answer) -> str:
    """What a user sees: "answer" (a supported claim that answers), "may-not-say" (supported, not an
    answer), "rejected" (no claim held) or "abstained" (the model said the documents do not say)."""
    if answer.band == "abstain":
        return "rejected" if answer.claims else "abstained"
    return "may-not-say" if answer.band == "possibly" else "answer"


@dataclass
class ReplyScores:
    """The issue's targets over labelled exchanges, and precision and recall of "supported"."""

    counts: dict[str, int] = field(default_factory=dict)  # exchanges per label
    right_shown: int = 0  # right or wrong-citation replies shown as a supported answer
    inventions_rejected: int = 0  # invented replies with no supported claim
    inventions_not_answers: int = 0  # invented replies not shown as a plain answer
    non_answers_held: int = 0  # non-answers not shown as a plain answer
    repaired: int = 0  # wrong citations re-cited to the passage that states the fact
    true_supported: int = 0  # replies with a supported claim that are true (right, wrong_citation, non_answer)
    shown_supported: int = 0  # replies with a supported claim, true or not, answering or not
    answered: int = 0  # replies shown as a plain answer
    answered_right: int = 0  # of those, right or wrong_citation
    misses: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The figures, one per line."""

        def share(n: int, d: int) -> str:
            return f"{n}/{d} ({n / d:.0%})" if d else "0/0"

        rights = self.counts.get("right", 0) + self.counts.get("wrong_citation", 0)
        lines = [
            f"labels: {', '.join(f'{k} {v}' for k, v in self.counts.items())}",
            f"precision of supported (replies with a supported claim that are true): {share(self.true_supported, self.shown_supported)}",
            f"precision of plain answers (replies shown as an answer that are right): {share(self.answered_right, self.answered)}",
            f"recall of supported (right answers shown as supported, re-cited ones included; target >= 90%): {share(self.right_shown, rights)}",
            (
                f"inventions rejected (target 100%): {share(self.inventions_rejected, self.counts.get('invented', 0))}; "
                f"not shown as a plain answer: {share(self.inventions_not_answers, self.counts.get('invented', 0))}"
            ),
            f"non-answers not shown as plain answers (target >= 90%): {share(self.non_answers_held, self.counts.get('non_answer', 0))}",
            f"wrong citations repaired (target >= 90%): {share(self.repaired, self.counts.get('wrong_citation', 0))}",
        ]
        return "\n".join(lines + [f"miss: {miss}" for miss in self.misses])


def score_replies(pairs: list[tuple[Exchange, Answer]]) -> ReplyScores:
    """Score the answers the check made of the labelled replies."""
    scores = ReplyScores()
    for exchange, answer in pairs:
        scores.counts[exchange.label] = scores.counts.get(exchange.label, 0) + 1
        seen = outcome(answer)
        supported = any(claim.supported for claim in answer.claims)
        scores.shown_supported += supported
        good = exchange.label in ("right", "wrong_citation")
        scores.true_supported += supported and exchange.label != "invented"
        scores.answered += seen == "answer"
        scores.answered_right += seen == "answer" and good
        missed = False
        if good:
            ok = seen == "answer"
            scores.right_shown += ok
            missed = not ok
            if exchange.label == "wrong_citation":
                fixed = ok and any(c.recited and c.evidence_id == exchange.found_in for c in answer.claims)
                scores.repaired += fixed
                missed = missed or not fixed
        elif exchange.label == "invented":
            scores.inventions_rejected += not supported
            scores.inventions_not_answers += seen != "answer"
            missed = supported
        elif exchange.label == "non_answer":
            scores.non_answers_held += seen != "answer"
            missed = seen == "answer"
        if missed:
            scores.misses.append(f"{exchange.id} ({exchange.label}): shown as {seen}: {exchange.reply[:90]!r}")
    return scores
