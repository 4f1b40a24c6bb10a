"""Load and check eval question files (JSON Lines: id, question, accept, evidence, type, split[, unanswerable][, paraphrases])."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corpusqa.errors import CorpusQAError

__all__ = ["BUNDLED_QUESTIONS", "TYPES", "UNANSWERABLE_KINDS", "Question", "load_questions"]

# The news corpus's questions (the set written with the bundled corpus); see evals/corpora.py for all sets.
BUNDLED_QUESTIONS = Path(__file__).resolve().parent / "corpora" / "news" / "questions.jsonl"
# "squad": crowd-written SQuAD 2.0 questions, which carry no answer type.
TYPES = ("numeric", "date", "person", "place", "fact", "why", "squad", "unanswerable")
# out_of_scope: the documents do not cover the topic; near_miss: they almost answer (a swapped name, another
# year, a negation, a detail the text does not give).
UNANSWERABLE_KINDS = ("out_of_scope", "near_miss")


@dataclass(frozen=True)
class Question:
    """One eval question; `evidence` is None for unanswerable ones."""

    id: str
    question: str
    accept: tuple[str, ...]
    evidence: str | None
    type: str
    split: str
    unanswerable: str | None = None  # one of UNANSWERABLE_KINDS when the file says which kind
    # Hand-written rewordings of `question` with the same answer (issue #22); the eval asks every wording.
    paraphrases: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        """Whether the corpus answers it."""
        return self.evidence is not None

    @property
    def wordings(self) -> tuple[str, ...]:
        """The question and its rewordings, the question first."""
        return (self.question, *self.paraphrases)


def load_questions(path: Path = BUNDLED_QUESTIONS, split: str = "all") -> list[Question]:
    """Questions of one split ("dev", "test" or "all"); a malformed line raises CorpusQAError naming it."""
    if not path.is_file():
        raise CorpusQAError(f"No question file at {path}; pass --questions FILE.")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Question(
                id=str(raw["id"]),
                question=str(raw["question"]),
                accept=tuple(str(a) for a in raw.get("accept") or ()),
                evidence=raw.get("evidence"),
                type=str(raw.get("type") or ("unanswerable" if raw.get("evidence") is None else "fact")),
                split=str(raw.get("split") or "test"),
                unanswerable=raw.get("unanswerable"),
                paraphrases=_paraphrases(raw.get("paraphrases")),
            )
            if item.unanswerable is not None and (item.unanswerable not in UNANSWERABLE_KINDS or item.answerable):
                raise ValueError(f"unanswerable must be one of {', '.join(UNANSWERABLE_KINDS)} on a question without evidence")
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusQAError(f"{path}:{number} is not a valid question line ({exc}); fix it and rerun.") from exc
        if split == "all" or item.split == split:
            questions.append(item)
    if not questions:
        raise CorpusQAError(f"{path} has no questions in split {split!r}; use --split dev, test or all.")
    return questions


def _paraphrases(raw: object) -> tuple[str, ...]:
    """The optional `paraphrases` list: non-empty strings."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise ValueError("paraphrases must be a list of non-empty strings")
    return tuple(raw)
