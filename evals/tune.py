"""Fit retrieval fusion weights, sentence-score weights and the abstention model on the dev split.

Used by `corpusqa eval --tune`: it prints the values to put in Settings / ExtractiveParams; nothing is
changed automatically, and the test split is never looked at.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, fields, replace

import numpy as np

from evals.metrics import accepts, evidence_rank, mrr
from evals.questions import Question
from rag.engine import Engine
from rag.extractive import Candidate, ExtractiveParams, candidates

__all__ = ["TuneResult", "tune"]

_SCORE_WEIGHTS = ("w_dense", "w_lex", "w_ctx", "w_type", "w_prior", "w_focus", "w_which")
# The confidence model's features: the subset that did best in 6-fold cross-validation on the dev split
# (2026-11-25); adding the others (dense, margin, missing, which, ctx) overfitted.
_CONFIDENCE = {"c_key": "key", "c_lex": "lex", "c_type": "typed", "c_focus": "focus", "c_pred": "pred"}
_ALL_COEFFICIENTS = ("c_key", "c_lex", "c_dense", "c_type", "c_margin", "c_missing", "c_focus", "c_which", "c_ctx", "c_pred")


@dataclass
class TuneResult:
    """Recommended values and what they reach on the dev split."""

    frontier: list[tuple[float, float, float]]
    bm25_weight: float
    dense_weight: float
    rrf_k: int
    dev_mrr: float
    params: ExtractiveParams
    threshold: float
    dev_answer_accuracy: float
    dev_abstention: float
    dev_false_abstention: float


def _fusion_grid(engine: Engine, questions: list[Question]) -> tuple[float, float, int, float]:
    best = (1.0, 0.0, 60, -1.0)
    answerable = [q for q in questions if q.answerable]
    for dense, rrf_k in itertools.product((0.0, 0.25, 0.5, 0.75, 1.0), (5, 20, 60)):
        trial = engine.with_settings(bm25_weight=1.0, dense_weight=dense, rrf_k=rrf_k)
        ranks = [evidence_rank([s.chunk.text for s in trial.retrieve(q.question, 10)], q.evidence) for q in answerable]
        score = mrr(ranks)
        if score > best[3] + 1e-9:
            best = (1.0, dense, rrf_k, score)
    return best


def _features(engine: Engine, questions: list[Question]) -> list[tuple[Question, list[Candidate]]]:
    snapshot = engine._current()
    out = []
    for item in questions:
        vector = engine.embedder.embed_query(item.question)
        retrieved = engine.retrieve(item.question)
        vectors = snapshot.store.sentence_vectors([s.chunk for s in retrieved])
        idf = snapshot.keyword.idf if snapshot.keyword else (lambda term: 1.0)
        out.append((item, candidates(item.question, vector, retrieved, vectors, idf, engine.params)))
    return out


def _rescore(cands: list[Candidate], weights: dict[str, float]) -> list[Candidate]:
    rescored = []
    for c in cands:
        penalty = 0.5 if (len(c.text.split()) < 4 or c.text.rstrip().endswith("?")) else 0.0
        score = (
            weights["w_dense"] * c.dense
            + weights["w_lex"] * c.lex
            + weights["w_ctx"] * c.ctx
            + weights["w_type"] * c.typed
            + weights["w_prior"] * c.prior
            + weights["w_focus"] * c.focus
            + weights["w_which"] * c.which
            - penalty
        )
        rescored.append(replace(c, score=score))
    rescored.sort(key=lambda c: -c.score)
    return rescored


def _row(ranked: list[Candidate]) -> list[float]:
    best = ranked[0]
    return [float(getattr(best, feature)) for feature in _CONFIDENCE.values()]


def tune(engine: Engine, questions: list[Question], seed: int = 7, trials: int = 400) -> TuneResult:
    """Fit everything on `questions` (the dev split)."""
    bm25_w, dense_w, rrf_k, dev_mrr = _fusion_grid(engine, questions)
    engine = engine.with_settings(bm25_weight=bm25_w, dense_weight=dense_w, rrf_k=rrf_k)
    data = _features(engine, questions)
    rng = random.Random(seed)
    base = {name: getattr(engine.params, name) for name in _SCORE_WEIGHTS}

    def accuracy(weights: dict[str, float]) -> float:
        # questions whose best sentence is right, plus (as a tie-breaker that rewards robust weights)
        # the mean reciprocal rank of the first right sentence
        hits, reciprocal = 0, 0.0
        answerable = [(item, cands) for item, cands in data if item.answerable and cands]
        for item, cands in answerable:
            ranked = _rescore(cands, weights)
            for rank, candidate in enumerate(ranked, start=1):
                if accepts(candidate.text, item.accept):
                    hits += rank == 1
                    reciprocal += 1.0 / rank
                    break
        return hits + reciprocal / max(1, len(answerable))

    base = {name: 1.0 for name in _SCORE_WEIGHTS}  # start from equal weights, not today's defaults
    best_weights, best_acc = base, accuracy(base)
    for _ in range(trials):
        trial = {name: round(rng.uniform(0.0, 2.0), 2) for name in _SCORE_WEIGHTS}
        acc = accuracy(trial)
        # prefer higher accuracy; on ties keep the earlier (simpler) setting
        if acc > best_acc:
            best_weights, best_acc = trial, acc

    # Abstention: logistic regression on the best candidate's features.
    rows, labels, correct_flags, answerable_flags = [], [], [], []
    for item, cands in data:
        if not cands:
            continue
        ranked = _rescore(cands, best_weights)
        ok = item.answerable and accepts(ranked[0].text, item.accept)
        rows.append(_row(ranked))
        labels.append(1.0 if ok else 0.0)
        correct_flags.append(ok)
        answerable_flags.append(item.answerable)
    raw = np.asarray(rows)
    mean, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    x = (raw - mean) / scale  # standardised, so one learning rate suits every feature
    y = np.asarray(labels)
    weights = np.zeros(x.shape[1])
    bias = 0.0
    # Balance the classes: a dev split holds far fewer unanswerable questions than answerable ones.
    positives = max(1.0, float(y.sum()))
    negatives = max(1.0, float(len(y) - y.sum()))
    sample = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * negatives))
    for _ in range(5000):
        z = x @ weights + bias
        p = 1.0 / (1.0 + np.exp(-z))
        grad = (p - y) * sample
        weights -= 0.1 * (x.T @ grad / len(y) + 0.01 * weights)
        bias -= 0.1 * grad.mean()
    probs = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))

    # Threshold: maximise the worse of "answerable answered correctly" and "unanswerable abstained"
    # (both have the same target), then their sum.
    best_threshold, best_value = 0.5, (-math.inf, -math.inf)
    n_answerable = max(1, sum(answerable_flags))
    n_unanswerable = max(1, len(answerable_flags) - sum(answerable_flags))
    for threshold in np.linspace(0.05, 0.95, 91):
        answered = sum(ans and ok and p >= threshold for p, ans, ok in zip(probs, answerable_flags, correct_flags))
        abstained = sum((not ans) and p < threshold for p, ans in zip(probs, answerable_flags))
        rates = (answered / n_answerable, abstained / n_unanswerable)
        value = (min(rates), sum(rates))
        if value > best_value:
            best_threshold, best_value = float(threshold), value
    # back to raw feature units: w·(f - mean)/scale + b  ==  (w/scale)·f + (b - Σ w·mean/scale)
    raw_weights = weights / scale
    raw_bias = bias - float((weights * mean / scale).sum())
    coefficients = {name: 0.0 for name in _ALL_COEFFICIENTS}
    coefficients.update(zip(_CONFIDENCE, (float(v) for v in raw_weights.round(3))))
    params = ExtractiveParams(**{**best_weights, **{k: float(v) for k, v in coefficients.items()}, "c0": round(raw_bias, 3)})
    answerable_total = sum(answerable_flags)
    unanswerable_total = len(answerable_flags) - answerable_total
    answered_ok = sum(ans and ok and p >= best_threshold for p, ans, ok in zip(probs, answerable_flags, correct_flags))
    abstained_un = sum((not ans) and p < best_threshold for p, ans in zip(probs, answerable_flags))
    false_abst = sum(ans and p < best_threshold for p, ans in zip(probs, answerable_flags))
    frontier = []
    for threshold in np.linspace(0.05, 0.95, 19):
        answered = sum(ans and ok and p >= threshold for p, ans, ok in zip(probs, answerable_flags, correct_flags))
        abstained = sum((not ans) and p < threshold for p, ans in zip(probs, answerable_flags))
        frontier.append((round(float(threshold), 2), round(answered / n_answerable, 3), round(abstained / n_unanswerable, 3)))
    return TuneResult(
        frontier=frontier,
        bm25_weight=bm25_w,
        dense_weight=dense_w,
        rrf_k=rrf_k,
        dev_mrr=round(dev_mrr, 4),
        params=params,
        threshold=round(best_threshold, 3),
        dev_answer_accuracy=round(answered_ok / answerable_total, 4) if answerable_total else 0.0,
        dev_abstention=round(abstained_un / unanswerable_total, 4) if unanswerable_total else 0.0,
        dev_false_abstention=round(false_abst / answerable_total, 4) if answerable_total else 0.0,
    )


def describe(result: TuneResult) -> str:
    """Human-readable recommendations."""
    lines = [
        f"fusion: bm25_weight={result.bm25_weight} dense_weight={result.dense_weight} rrf_k={result.rrf_k} (dev MRR {result.dev_mrr})",
        "extractive params: " + ", ".join(f"{f.name}={getattr(result.params, f.name)}" for f in fields(result.params)),
        f"abstain_threshold={result.threshold}",
        (
            f"dev: answered correctly {result.dev_answer_accuracy:.0%}, unanswerable abstained "
            f"{result.dev_abstention:.0%}, answerable abstained {result.dev_false_abstention:.0%}"
        ),
        "threshold -> (answered correctly, unanswerable abstained): "
        + ", ".join(f"{t}: ({a:.0%}, {u:.0%})" for t, a, u in result.frontier),
    ]
    return "\n".join(lines)
