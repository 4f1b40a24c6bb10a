"""The corpora the answerer is fitted on, and SQuAD's token F1."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.questions import BUNDLED_QUESTIONS, Question, load_questions

__all__ = ["FitCorpus", "fit_corpora", "squad_f1"]

_ROOT = Path(__file__).resolve().parent.parent
_SHARED_SQUAD = _ROOT.parent.parent / "shared" / "corpora" / "squad2-complexity"


@dataclass(frozen=True)
class FitCorpus:
    """A corpus: the files to ingest, its questions, and each question's kind."""

    name: str
    paths: tuple[Path, ...]
    questions: list[Question]
    kinds: list[str]  # "answerable", or the unanswerable kind ("out_of_scope", "near_miss", "unanswerable")


def _kinds(path: Path, questions: list[Question]) -> list[str]:
    raw = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            raw[str(row["id"])] = row
    out = []
    for item in questions:
        if item.answerable:
            out.append("answerable")
        else:
            kind = raw.get(item.id, {}).get("unanswerable")
            out.append(kind if isinstance(kind, str) else "unanswerable")
    return out


def _corpus(name: str, paths: Sequence[Path], questions_path: Path) -> FitCorpus:
    questions = load_questions(questions_path)
    return FitCorpus(name, tuple(paths), questions, _kinds(questions_path, questions))


def fit_corpora() -> list[FitCorpus]:
    """Every eval corpus with documents and questions present."""
    corpora = [_corpus("news", sorted((_ROOT / "data" / "corpus").glob("*.txt")), BUNDLED_QUESTIONS)]
    if (_SHARED_SQUAD / "questions.jsonl").is_file():
        corpora.append(_corpus("squad2-complexity", sorted(_SHARED_SQUAD.glob("*.txt")), _SHARED_SQUAD / "questions.jsonl"))
    return corpora


def _squad_tokens(text: str) -> list[str]:
    # SQuAD's official normalisation: lower case, no punctuation, no articles, single spaces.
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def squad_f1(prediction: str, accept: Sequence[str]) -> float:
    """SQuAD token F1 of a prediction against the best of the accept strings."""
    predicted = _squad_tokens(prediction)
    best = 0.0
    for gold in accept:
        truth = _squad_tokens(gold)
        common = Counter(predicted) & Counter(truth)
        same = sum(common.values())
        if same == 0:
            continue
        precision, recall = same / len(predicted), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best
