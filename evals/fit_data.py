"""The corpora the answerer is fitted on, and SQuAD's token F1."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.corpora import corpus_names, load_corpus
from evals.questions import Question

__all__ = ["FitCorpus", "fit_corpora", "squad_f1"]



@dataclass(frozen=True)
class FitCorpus:
    """A corpus: its documents folder, its questions, and each question's kind."""

    name: str
    documents: Path
    questions: list[Question]
    kinds: list[str]  # "answerable", or the unanswerable kind ("out_of_scope", "near_miss", "unanswerable")


def fit_corpora(names: Sequence[str] | None = None) -> list[FitCorpus]:
    """The eval corpora under evals/corpora/ (all, or the named ones)."""
    out = []
    for name in names or corpus_names():
        corpus = load_corpus(name)
        kinds = ["answerable" if q.answerable else (q.unanswerable or "unanswerable") for q in corpus.questions]
        out.append(FitCorpus(name, corpus.documents, corpus.questions, kinds))
    return out


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
