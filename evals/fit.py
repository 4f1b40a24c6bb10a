"""Fit the extractive answerer's ranker, confidence model and bands, leave-one-corpus-out.

Run `python -m evals.fit [--reuse] [--method wordings|pooled|equal] [--out FILE]` (`--reuse`: the
question features of the last run; `--method`: the shipped fit, or one of the two measured in issue
#22 and not shipped;
`--only a,b --collect-only` computes some corpora's features without fitting; `--help` lists the
options). For each eval corpus it builds an index (cached under `.corpusqa/fit/<corpus>`), asks every
wording of every question through the engine's own feature code, then:

1. LOCO: for each corpus C, fits on the dev splits of the other corpora and scores C's test questions
   (and their rewordings) with those parameters; the figures reported for C come from that fold only,
   and the calibration of the confidence is reported per corpus and pooled.
2. Ships: fits on the dev splits of all corpora and writes `rag/fitted.json` with the date, the
   threshold rule, the band claims and the LOCO figures.

The models, their weighting (every corpus the same) and the band rule are in evals/fit_models.py.

The F1 in the LOCO figures uses the span model in `rag/fitted_spans.json`, which `python -m
evals.fit_spans` fits on this script's sentence ranker. To refit everything: `python -m evals.fit_fusion`
(the retrieval weights, which the features depend on), `python -m evals.fit`, then `python -m
evals.fit_spans` (it reads the features the first step cached), then `python -m evals.fit --reuse` (the
models come out the same; only that F1 figure moves to the new span model).
"""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from corpusqa.settings import Settings
from evals.fit_data import FitCorpus, fit_corpora
from evals.fit_models import (
    ANSWER_PRECISION,
    FALSE_ABSTENTION,
    METHODS,
    POSSIBLY_PRECISION,
    Scored,
    band_shares,
    confidences,
    fit_models,
    question_weights,
    sentence_right,
    wording_figures,
)
from evals.metrics import squad_f1
from evals.questions import Question
from rag.engine import Engine
from rag.reader.confidence import band_of
from rag.reader.fitted import FITTED_PATH, Fitted
from rag.reader.question import QuestionAnalysis
from rag.reader.sentences import Candidate
from rag.reader.span import short_span

__all__ = ["Asked", "calibration", "cli", "collect", "fit_models", "load_features", "main", "score_corpus"]


@dataclass
class Asked:
    """One question with the features of every retrieved sentence."""

    corpus: str
    item: Question
    kind: str  # "answerable" | "out_of_scope" | "near_miss" | "unanswerable"
    analysis: QuestionAnalysis
    found: list[Candidate]
    passages: list[str]  # retrieved chunk texts, best first
    wording: int = 0  # 0: the question as written; k: its k-th rewording (issue #22)


def collect(corpus: FitCorpus, engine: Engine, cache: Path) -> list[Asked]:
    """Index a corpus (incrementally) and compute every question's candidate features."""
    local = engine.with_settings(index_dir=cache / corpus.name, corpus_dir=corpus.documents)
    local.ingest([corpus.documents])
    out = []
    for item, kind in zip(corpus.questions, corpus.kinds):
        for wording, text in enumerate(item.wordings):
            analysis, found, retrieved = local.candidates(text)
            out.append(Asked(corpus.name, item, kind, analysis, found, [s.chunk.text for s in retrieved], wording))
    return out


def score_corpus(data: list[Asked], fitted: Fitted) -> dict[str, Any]:
    """The eval figures of one corpus's questions under `fitted` (as the engine would answer them): every
    figure on the questions as written, and flip rate and worst-wording accuracy over all wordings."""
    every = list(zip(data, confidences(data, fitted)))  # each wording ranked and scored once
    written = [pair for pair in every if getattr(pair[0], "wording", 0) == 0]
    return {**_score_written(written, fitted), **wording_figures(data, fitted)}


def scored_rows(data: list[Asked], fitted: Fitted) -> list[Scored]:
    """Every wording of `data` as the bands see it: confidence, right as shown, corpus, weight, answerable."""
    out = []
    for asked, weight, (p, ranked) in zip(data, question_weights(data), confidences(data, fitted)):
        right = bool(ranked) and sentence_right(asked, ranked[0], shown=True)
        out.append(Scored(p, right, asked.corpus, weight, asked.item.answerable))
    return out


def calibration(rows: list[Scored], bands: list[str]) -> dict[str, Any]:
    """How well the confidence means what it says over `rows` (weighted) and their `bands`: per band, its
    share of the wordings, mean confidence and right share; and the expected calibration error over ten
    equal-width bins (weighted mean of |mean confidence - right share|)."""
    total = sum(r.weight for r in rows) or 1.0
    out: dict[str, Any] = {}
    for name in ("answer", "possibly", "abstain"):
        inside = [r for r, band in zip(rows, bands) if band == name]
        weight = sum(r.weight for r in inside)
        out[name] = {
            "share": round(weight / total, 4),
            "n": len(inside),
            "mean_confidence": round(sum(r.confidence * r.weight for r in inside) / weight, 4) if weight else float("nan"),
            "right": round(sum(r.right * r.weight for r in inside) / weight, 4) if weight else float("nan"),
        }
    error = 0.0
    for tenth in range(10):
        inside = [r for r in rows if min(int(r.confidence * 10), 9) == tenth]
        weight = sum(r.weight for r in inside)
        if weight:
            gap = sum((r.confidence - r.right) * r.weight for r in inside) / weight
            error += abs(gap) * weight / total
    out["ece"] = round(error, 4)
    return out


def _score_written(scored: list[tuple[Asked, tuple[float, list[Candidate]]]], fitted: Fitted) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    data = [asked for asked, _ in scored]
    # judged on what an answer shows, as `corpusqa eval` does
    rows = [(p, bool(r) and sentence_right(a, r[0], shown=True), r) for a, (p, r) in scored]
    answerable = [(a, r) for a, r in zip(data, rows) if a.item.answerable]
    unanswerable = [(a, r) for a, r in zip(data, rows) if not a.item.answerable]

    def given(row: tuple[float, bool, list[Candidate]]) -> bool:
        return bool(row[2]) and band_of(row[0], fitted.bands) != "abstain"

    f1s = []
    for asked, row in answerable:
        if not given(row):
            f1s.append(0.0)
            continue
        best = row[2][0]
        short = short_span(best.answer_text, list(best.answer_spans), asked.analysis)
        f1s.append(squad_f1(short or best.answer_text, asked.item.accept))
    answered = [r[1] for _, r in answerable if given(r)]
    given_all = [r[1] for _, r in answerable + unanswerable if given(r)]
    labels = [a.item.answerable for a in data]
    scores = [p for p, _, _ in rows]
    by_kind: dict[str, list[bool]] = {}
    for asked, row in unanswerable:
        by_kind.setdefault(asked.kind, []).append(not given(row))

    def share(values: list[bool]) -> float:
        return round(sum(values) / len(values), 4) if values else float("nan")

    return {
        "questions": len(data),
        "answerable": len(answerable),
        "answered_cited": share([given(r) and r[1] for _, r in answerable]),
        "false_abstention": share([not given(r) for _, r in answerable]),
        "abstention": share([not given(r) for _, r in unanswerable]),
        **{f"abstention_{kind}": share(values) for kind, values in by_kind.items()},
        "precision": share(given_all if given_all else []),
        "answered_right_of_given": share(answered),
        "f1": round(float(np.mean(f1s)), 4) if f1s else float("nan"),
        "auroc": round(float(roc_auc_score(labels, scores)), 4) if 0 < sum(labels) < len(labels) else float("nan"),
        "bands": band_shares([Scored(p, ok, a.corpus, 1.0, a.item.answerable) for a, (p, ok, _) in zip(data, rows)], fitted.bands),
    }


_PROTOCOL = {
    "wordings": (
        "leave-one-corpus-out; parameters fitted on the dev splits of all corpora: the ranker on the questions "
        "as written, the confidence and bands on every wording; the weight for meaning chosen leave-one-corpus-out "
        "inside the training corpora"
    ),
    "pooled": "leave-one-corpus-out; shipped parameters fitted on the questions as written of the dev splits of all corpora",
    "equal": (
        "leave-one-corpus-out; corpora weighted equally, and each question equally within its corpus; "
        "parameters fitted on every wording of the dev splits of all corpora"
    ),
}
_RULE = {
    "wordings": (
        "as pooled; and the ranker's weight for meaning (added to the standardised similarity) is the one of "
        "(0, 0.5, 1, 1.5, 2) with the highest worst-wording accuracy leave-one-corpus-out inside the training corpora"
    ),
    "pooled": (
        f"confidence: the probability that the sentence shown is right (Platt map, fitted on predictions with each "
        f"dev corpus held out, of a model of answerable vs not); answer band: the lowest confidence at which the "
        f"precision of the answers given on the pooled dev splits stays >= {ANSWER_PRECISION:.0%}; abstain band: below "
        f"the highest confidence under which at most {FALSE_ABSTENTION:.0%} of the answerable dev questions fall; "
        f"possibly: between (both thresholds carried through the map)"
    ),
    "equal": (
        f"confidence: the probability that the sentence shown is right, calibrated on held-out corpora; answer band: "
        f"the lowest confidence at which the held-out answers at or above it are >= {ANSWER_PRECISION:.0%} right; "
        f"abstain: below the highest confidence under which at most {FALSE_ABSTENTION:.0%} of the held-out answerable "
        f"questions fall, raised until the possibly band is >= {POSSIBLY_PRECISION:.0%} right; possibly: between"
    ),
}


def _fitted_json(
    method: str, fitted: Fitted, claims: dict[str, Any], figures: dict[str, Any], pooled: dict[str, Any], sizes: dict[str, int]
) -> dict[str, Any]:
    return {
        "fitted": datetime.now(UTC).date().isoformat(),
        "by": f"python -m evals.fit --method {method} (scikit-learn LogisticRegression: pairwise ranker, pointwise confidence, Platt calibration)",
        "method": method,
        "protocol": _PROTOCOL[method],
        "rule": _RULE[method],
        "dev_questions": sizes,
        "ranker": fitted.ranker.to_json(),
        "confidence": fitted.confidence.to_json(),
        "bands": {"answer": fitted.bands.answer, "possibly": fitted.bands.possibly},
        "meaning_weight": claims.pop("meaning_weight", 0.0),
        "meaning_worst_wording": claims.pop("meaning_worst_wording", {}),
        "claims": claims,
        "calibration_loco_test": pooled,
        "figures": figures,
    }


def load_features(names: list[str] | None, settings: Settings, reuse: bool) -> dict[str, list[Asked]]:
    """Each corpus's question features: with `reuse`, those an earlier run cached under
    `<index-dir>/fit/` (same code: refitting alone is quick); otherwise, or when none is cached, indexed
    and asked afresh (`collect`) and cached."""
    cache = settings.index_dir / "fit"
    data: dict[str, list[Asked]] = {}
    engine: Engine | None = None
    for corpus in fit_corpora(names):
        saved = cache / f"{corpus.name}.features.pickle"
        if reuse and saved.is_file():
            data[corpus.name] = pickle.loads(saved.read_bytes())
            continue
        print(f"indexing and asking {corpus.name} ({len(corpus.questions)} questions)", file=sys.stderr)
        engine = engine or Engine.from_settings(settings)
        cache.mkdir(parents=True, exist_ok=True)
        data[corpus.name] = collect(corpus, engine, cache)
        saved.write_bytes(pickle.dumps(data[corpus.name]))
    return data


@click.command(help="Fit the answerer's ranker, confidence and bands leave-one-corpus-out; write rag/fitted.json.")
@click.option("--reuse", is_flag=True, help="Use the question features cached by the last run.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=FITTED_PATH, show_default=True,
              help="Where to write the fitted parameters.")
@click.option("--only", metavar="A,B", help="Only these corpora (comma-separated names).")
@click.option("--collect-only", is_flag=True, help="Compute and cache the question features; fit nothing.")
@click.option("--method", type=click.Choice(METHODS), default="pooled", show_default=True,
              help="pooled: the shipped fit; wordings: pooled with the confidence learnt from every wording and a weight "
                   "for meaning; equal: corpora and questions weighted equally, learnt from every wording.")
@click.pass_obj
def cli(settings: Settings | None, reuse: bool, out: Path, only: str | None, collect_only: bool, method: str) -> int:
    """Fit, print per-corpus LOCO figures, and write the fitted file."""
    settings = settings or Settings()
    data = load_features(only.split(",") if only else None, settings, reuse=reuse)
    if collect_only:
        return 0
    # "pooled" learns from the dev questions as written, "equal" and "wordings" from every wording of them
    # ("wordings" ranks by the questions as written); the test questions and their rewordings are only
    # scored (flip rate, worst-wording accuracy).
    dev = {name: [a for a in asked if a.item.split == "dev" and (method != "pooled" or a.wording == 0)] for name, asked in data.items()}
    figures: dict[str, Any] = {}
    pooled: list[Scored] = []  # every test wording, scored by the fold that held its corpus out
    pooled_bands: list[str] = []
    for name, asked in data.items():
        train = [a for other, rows in dev.items() if other != name for a in rows]
        fitted, fold = fit_models(train, method)
        test = [a for a in asked if a.item.split == "test"]
        rows = scored_rows(test, fitted)
        bands = [band_of(row.confidence, fitted.bands) for row in rows]
        figures[name] = {"loco_test": score_corpus(test, fitted) | {"calibration": calibration(rows, bands)}, "loco_all": score_corpus(asked, fitted)}
        if "meaning_weight" in fold:
            figures[name]["meaning_weight"] = fold["meaning_weight"]
        pooled += rows
        pooled_bands += bands
        print(name, json.dumps(figures[name]["loco_test"]), file=sys.stderr)
    shipped, claims = fit_models([a for rows in dev.values() for a in rows], method)
    sizes = {name: len(rows) for name, rows in dev.items()}
    # pooled over corpora weighted equally (question_weights over the pooled wordings)
    weights = question_weights([a for asked in data.values() for a in asked if a.item.split == "test"])
    pooled = [row._replace(weight=w) for row, w in zip(pooled, weights)]
    report = _fitted_json(method, shipped, claims, figures, calibration(pooled, pooled_bands), sizes)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"LOCO test, pooled: {json.dumps(report['calibration_loco_test'])}", file=sys.stderr)
    print(f"wrote {out}; bands {shipped.bands}; held-out dev band shares {claims}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run the command with `argv` (the command line's arguments) and, optionally, other Settings."""
    return int(cli.main(args=argv, prog_name="python -m evals.fit", obj=settings, standalone_mode=False) or 0)


if __name__ == "__main__":
    # Run the imported module's command, so pickled features name evals.fit.Asked, not __main__.Asked.
    from evals.fit import cli as _cli

    _cli(prog_name="python -m evals.fit")
