"""Fit the short-answer span model, leave-one-corpus-out, and write `rag/fitted_spans.json`.

Run `python -m evals.fit_spans [--only a,b] [--limit N] [--out FILE]` (`--help` lists the options). It reads the question features
that `python -m evals.fit` caches under `<index-dir>/fit/<corpus>.features.pickle` (computing them
when missing), then:

1. Spans to learn from: every candidate sentence that holds an accept string (at most
   SENTENCES_PER_QUESTION per question, the sentence ranker's order), parsed by spaCy; each candidate
   span (rag.reader.span) is labelled with its SQuAD token F1 against the accept strings.
2. Model: scikit-learn LogisticRegression on standardised span features with soft labels (each span
   counts as a positive with weight F1 and as a negative with weight 1 - F1), so its probability
   estimates the span's expected F1.
3. Rule for giving a short answer at all: the threshold on the best span's score that maximises the
   mean F1 over the answerable dev questions (the sentence ranker's best sentence; the span when its
   score clears the threshold, else the whole sentence).
4. LOCO: for each corpus, sentence ranker, bands, span model and threshold are fitted on the dev splits
   of the other corpora, and that corpus's test split is answered as `corpusqa eval` would (F1 0 when
   abstained). The shipped model is fitted on the dev splits of all corpora, its threshold chosen with
   the shipped sentence ranker.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from corpusqa.settings import Settings
from evals.fit import Asked, load_features
from evals.fit_models import fit_models, linear_model, standardised
from evals.metrics import accepts, squad_f1
from rag.reader.confidence import band_of, confidence_row
from rag.reader.fitted import Fitted, LinearModel, load_fitted
from rag.reader.question import QuestionAnalysis, analyse_question
from rag.reader.ranking import rank
from rag.reader.sentences import Candidate
from rag.reader.span import (
    FITTED_SPANS_PATH,
    SpanCandidate,
    SpanModel,
    given_span,
    pick_span,
    span_candidates,
    span_feature_names,
)
from rag.reader.syntax import parse_sentence

__all__ = ["SpanRow", "choose_threshold", "cli", "fit_span_model", "main", "score_spans"]

#: Sentences holding an accept string that each question contributes to training (ranker's order).
SENTENCES_PER_QUESTION = 3
#: Regularisation of the span model: the best mean span F1 on the held-out dev splits of the LOCO folds
#: among 0.003-0.1, with and without equal corpus weights (README "Short answers").
SPAN_C = 0.003


@dataclass
class SpanRow:
    """One answerable question's sentence and its candidate spans, each with its F1."""

    corpus: str
    candidates: list[SpanCandidate]
    f1s: list[float]


class _Parses:
    """Candidate spans per (question, sentence), parsing each sentence once."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.analyses: dict[str, QuestionAnalysis] = {}

    def analysis(self, asked: Asked) -> QuestionAnalysis:
        text = asked.item.question
        if text not in self.analyses:
            self.analyses[text] = analyse_question(text)
        return self.analyses[text]

    def spans(self, asked: Asked, sentence: Candidate) -> list[SpanCandidate]:
        if sentence.text not in self.docs:
            self.docs[sentence.text] = parse_sentence(sentence.text)
        return span_candidates(sentence.text, list(sentence.spans), self.analysis(asked), self.docs[sentence.text])


def _training_rows(train: list[Asked], fitted: Fitted, parses: _Parses) -> list[SpanRow]:
    rows = []
    for asked in train:
        if not asked.item.answerable or not asked.found:
            continue
        right = [c for c in rank(asked.found, fitted) if accepts(c.text, asked.item.accept)]
        for sentence in right[:SENTENCES_PER_QUESTION]:
            found = parses.spans(asked, sentence)
            if found:
                rows.append(SpanRow(asked.corpus, found, [squad_f1(c.text, asked.item.accept) for c in found]))
    return rows


def fit_span_model(rows: list[SpanRow], c: float = SPAN_C, names: tuple[str, ...] | None = None, balanced: bool = False) -> LinearModel:
    """Logistic regression with soft labels (weight F1 as positive, 1 - F1 as negative) on span features."""
    from sklearn.linear_model import LogisticRegression

    names = names or span_feature_names()
    x = np.asarray([[cand.features.get(n, 0.0) for n in names] for row in rows for cand in row.candidates], dtype=np.float64)
    f1 = np.asarray([f for row in rows for f in row.f1s], dtype=np.float64)
    # each corpus weighs the same, and each sentence the same within it (its spans share one unit)
    sentences: dict[str, int] = {}
    for row in rows:
        sentences[row.corpus] = sentences.get(row.corpus, 0) + 1
    unit = np.asarray([1.0 / (sentences[row.corpus] * len(row.candidates)) for row in rows for _ in row.candidates])
    unit *= len(unit) / unit.sum()
    z, mean, scale = standardised(x)
    both = np.vstack([z, z])
    target = np.r_[np.ones(len(z), dtype=int), np.zeros(len(z), dtype=int)]
    weight = np.r_[f1 * unit, (1.0 - f1) * unit] if balanced else np.r_[f1, 1.0 - f1]
    keep = weight > 0
    model = LogisticRegression(C=c, max_iter=3000).fit(both[keep], target[keep], sample_weight=weight[keep])
    return linear_model(names, mean, scale, model)


@dataclass
class _Answered:
    corpus: str
    given: bool  # not abstained
    sentence_right: bool
    sentence_f1: float
    span_f1: float
    score: float  # the best span's score (-1 without a candidate)
    span: str


def _answer_all(data: list[Asked], fitted: Fitted, model: LinearModel, parses: _Parses) -> list[_Answered]:
    """Each answerable question's best sentence (by `fitted`) and its best span under `model`."""
    scorer = SpanModel(model, 0.0)
    out = []
    for asked in data:
        if not asked.item.answerable:
            continue
        if not asked.found:
            out.append(_Answered(asked.corpus, False, False, 0.0, 0.0, -1.0, ""))
            continue
        ranked = rank(asked.found, fitted)
        given = band_of(fitted.confidence.probability(confidence_row(asked.analysis, ranked)), fitted.bands) != "abstain"
        best = ranked[0]
        span, score = pick_span(parses.spans(asked, best), scorer) or ("", -1.0)
        accept = asked.item.accept
        out.append(_Answered(asked.corpus, given, accepts(best.text, accept), squad_f1(best.text, accept), squad_f1(span, accept) if span else 0.0, score, span))
    return out


def _f1(answered: _Answered, threshold: float) -> float:
    return answered.span_f1 if _shown(answered, threshold) else answered.sentence_f1


def _shown(answered: _Answered, threshold: float) -> bool:
    """Whether the answer gives the span (the rule of rag.reader.span.given_span)."""
    return given_span((answered.span, answered.score), threshold) is not None


def choose_threshold(answered: list[_Answered]) -> float:
    """The rule: the score threshold that maximises the mean F1 (span at or above it, else the sentence)."""
    cuts = sorted({round(a.score, 4) for a in answered if a.score >= 0} | {1.01})
    return max(cuts, key=lambda t: (float(np.mean([_f1(a, t) for a in answered])), -t))


def score_spans(answered: list[_Answered], threshold: float, abstain: bool = True) -> dict[str, Any]:
    """F1 as `corpusqa eval` computes it (0 when abstained), the share with a short answer, F1 by sentence right/wrong."""
    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 4) if values else float("nan")

    f1s = [(_f1(a, threshold) if a.given or not abstain else 0.0) for a in answered]
    given = [a for a in answered if a.given or not abstain]
    return {
        "answerable": len(answered),
        "f1": mean(f1s),
        "short_share": mean([1.0 if _shown(a, threshold) else 0.0 for a in given]),
        "f1_sentence_right": mean([_f1(a, threshold) for a in given if a.sentence_right]),
        "f1_sentence_wrong": mean([_f1(a, threshold) for a in given if not a.sentence_right]),
        "sentence_right": mean([1.0 if a.sentence_right else 0.0 for a in given]),
        "f1_whole_sentence": mean([a.sentence_f1 if a.given or not abstain else 0.0 for a in answered]),
    }


def _load(names: list[str] | None, settings: Settings, limit: int | None) -> dict[str, list[Asked]]:
    # the span model learns from and is measured on the questions as written (rewordings: evals.fit)
    data = {name: [a for a in asked if a.wording == 0] for name, asked in load_features(names, settings, reuse=True).items()}
    if limit:
        for name, asked in data.items():
            dev = [a for a in asked if a.item.split == "dev"][:limit]
            test = [a for a in asked if a.item.split == "test"][:limit]
            data[name] = dev + test
    return data


@click.command(help="Fit the short-answer span model leave-one-corpus-out; write rag/fitted_spans.json.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=FITTED_SPANS_PATH, show_default=True,
              help="Where to write the span model.")
@click.option("--only", metavar="A,B", help="Only these corpora (comma-separated names).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many dev and test questions per corpus.")
@click.option("--c", "c", type=float, default=SPAN_C, show_default=True, help="Regularisation of the span model.")
@click.pass_obj
def cli(settings: Settings | None, out: Path, only: str | None, limit: int | None, c: float) -> int:
    """Fit, print per-corpus LOCO figures, and write the span model."""
    only_names = only.split(",") if only else None
    settings = settings or Settings()
    data = _load(only_names, settings, limit)
    parses = _Parses()
    dev = {name: [a for a in asked if a.item.split == "dev"] for name, asked in data.items()}
    figures: dict[str, Any] = {}
    if len(data) > 1:
        for name, asked in data.items():
            train = [a for other, rows in dev.items() if other != name for a in rows]
            fitted, _ = fit_models(train)
            model = fit_span_model(_training_rows(train, fitted, parses), c)
            threshold = choose_threshold(_answer_all(train, fitted, model, parses))
            test = _answer_all([a for a in asked if a.item.split == "test"], fitted, model, parses)
            held_dev = _answer_all(dev[name], fitted, model, parses)
            figures[name] = {
                "threshold": round(threshold, 4),
                "loco_test": score_spans(test, threshold),
                "loco_test_without_abstention": score_spans(test, threshold, abstain=False),
                "loco_dev": score_spans(held_dev, threshold),
            }
            print(name, json.dumps(figures[name]), file=sys.stderr)
    pooled = [a for rows in dev.values() for a in rows]
    shipped_ranker = load_fitted()
    rows = _training_rows(pooled, shipped_ranker, parses)
    model = fit_span_model(rows, c)
    answered = _answer_all(pooled, shipped_ranker, model, parses)
    threshold = choose_threshold(answered)
    raw = {
        "fitted": datetime.now(UTC).date().isoformat(),
        "by": "python -m evals.fit_spans (scikit-learn LogisticRegression, soft labels: span F1)",
        "protocol": "leave-one-corpus-out; shipped model fitted on the dev splits of all corpora",
        "rule": (
            "give the best span as the short answer when its score is at or above `threshold`, else none (the "
            "whole sentence answers); the threshold maximises the mean SQuAD F1 over the answerable dev "
            "questions, pooled, on the shipped sentence ranker's best sentence"
        ),
        "c": c,
        "dev_sentences": len(rows),
        "threshold": round(threshold, 4),
        "dev_figures": score_spans(answered, threshold, abstain=False),
        "model": model.to_json(),
        "figures": figures,
    }
    out.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}; threshold {threshold:.4f}; dev {raw['dev_figures']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run the command with `argv` (the command line's arguments) and, optionally, other Settings."""
    return int(cli.main(args=argv, prog_name="python -m evals.fit_spans", obj=settings, standalone_mode=False) or 0)


if __name__ == "__main__":
    # Run the imported module's command, so pickled features resolve to evals.fit.Asked.
    from evals.fit_spans import cli as _cli

    _cli(prog_name="python -m evals.fit_spans")
