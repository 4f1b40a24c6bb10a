"""The conversation model: the earlier turns of a chat (question, answer shown, cited sources)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from corpusqa.types import Answer

__all__ = ["Turn", "trim_history", "turn_from_answer", "turns_from_pairs"]


@dataclass(frozen=True)
class Turn:
    """One earlier turn: what was asked, the answer shown and the sources it cited."""

    question: str
    answer: str = ""
    # the turn's question as it was searched (its standalone rewording); "" when not known
    standalone: str = ""
    # the answer's short span (a name, a number, a date), when the answerer gave one
    short_answer: str | None = None
    # the documents the answer cited, in citation order
    sources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def searched(self) -> str:
        """The question as it stands alone (the rewording when known, else the question)."""
        return self.standalone or self.question

    def to_json(self) -> dict[str, Any]:
        """The turn as the HTTP API and MCP accept it back."""
        return {"question": self.question, "answer": self.answer}


def turn_from_answer(answer: Answer) -> Turn:
    """The turn an answer closes, ready to be passed as history to the next question."""
    return Turn(
        question=answer.question,
        answer=answer.answer,
        standalone=answer.standalone_question or "",
        short_answer=answer.short_answer,
        sources=tuple(dict.fromkeys(citation.source for citation in answer.citations)),
    )


# A client may send anything as history: only this much of each earlier question and answer is kept
# (the rewrite parses them; an answer's names come from its start).
_KEEP_CHARS = 4000


def turns_from_pairs(pairs: Iterable[tuple[str, str]]) -> list[Turn]:
    """Turns from (question, answer) pairs, as a chat client sends them; blank questions are dropped."""
    return [
        Turn(question=" ".join(_plain(q).split()), answer=_plain(a or "").strip())
        for q, a in pairs
        if q and q.strip()
    ]


def _plain(text: str) -> str:
    """The text cut to _KEEP_CHARS, without lone surrogates (they cannot be encoded back to the client)."""
    return "".join(ch for ch in text[:_KEEP_CHARS] if not "\ud800" <= ch <= "\udfff")


def trim_history(history: Sequence[Turn], budget_tokens: int) -> list[Turn]:
    """The newest turns whose questions and answers fit in `budget_tokens` (cl100k_base); oldest dropped first."""
    from ingest.chunker import count_tokens

    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        cost = count_tokens(turn.question) + count_tokens(turn.answer) + 8  # role markers of two messages
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))
