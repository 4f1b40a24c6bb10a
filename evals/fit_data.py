"""The corpora the answerer is fitted on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.corpora import corpus_names, load_corpus
from evals.questions import Question

__all__ = ["FitCorpus", "fit_corpora"]


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
