"""Fit the extractive answerer's ranker, confidence model and bands, leave-one-corpus-out.

Run `python -m evals.fit [--reuse] [--paraphrases] [--out FILE]` (`--reuse`: the question features of the
last run; `--paraphrases`: learn from every wording of the dev questions, not only the one written first;
`--only a,b --collect-only` computes some corpora's features without fitting; `--help` lists the options). For each eval corpus it builds an index (cached
under `.corpusqa/fit/<corpus>`), asks every question through the engine's own feature code, then:

1. LOCO: for each corpus C, fits on the dev splits of the other corpora and scores C's questions with
   those parameters; the figures reported for C come from that fold only.
2. Ships: fits on the dev splits of all corpora and writes `rag/fitted.json` with the date, the
   threshold rule, the band claims and the LOCO figures.

The ranker is a scikit-learn logistic regression on feature differences between the right and the
wrong candidates of each question (pairwise); the confidence is a logistic regression on standardised
features of the chosen sentence; the bands follow the rule in `choose_bands`.

The F1 in the LOCO figures uses the span model in `rag/fitted_spans.json`, which `python -m
evals.fit_spans` fits on this script's sentence ranker. To refit everything: `python -m evals.fit`, then
`python -m evals.fit_spans` (it reads the features the first step cached), then `python -m evals.fit
--reuse` (the models come out the same; only that F1 figure moves to the new span model).
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
from evals.metrics import accepts, squad_f1, supports
from evals.questions import Question
from rag.engine import Engine
from rag.reader.confidence import CONFIDENCE_FEATURES, band_of, confidence_row
from rag.reader.fitted import FITTED_PATH, Bands, Fitted, LinearModel
from rag.reader.question import QuestionAnalysis
from rag.reader.ranking import RANKER_FEATURES, best_features, rank, ranker_row
from rag.reader.sentences import Candidate
from rag.reader.span import short_span

__all__ = [
    "Asked",
    "choose_bands",
    "cli",
    "collect",
    "fit_models",
    "linear_model",
    "load_features",
    "main",
    "score_corpus",
    "standardised",
]

#: The threshold rule: the answer band starts at the lowest confidence at which the precision of the
#: answers given (dev, pooled) stays at or above this; below it, "possibly" goes down to the confidence
#: under which at most FALSE_ABSTENTION of the answerable questions fall (pooled dev splits).
ANSWER_PRECISION = 0.85
FALSE_ABSTENTION = 0.10
#: Regularisation of the confidence model (README "Fitting the answerer": 0.2 to 2 measure alike).
CONFIDENCE_C = 0.2


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


def _sentence_right(asked: Asked, candidate: Candidate, shown: bool = False) -> bool:
    """Whether the candidate's sentence (or, with `shown`, the text an answer quotes: a lead-in with what
    follows it) holds an accepted answer inside the evidence passage. The models learn from the sentence."""
    item = asked.item
    text = candidate.answer_text if shown else candidate.text
    return item.answerable and accepts(text, item.accept) and supports(asked.passages[candidate.chunk_index], item.evidence)


def standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scores, mean, scale) of a feature matrix by scikit-learn's StandardScaler; a constant column
    keeps scale 1, as the fitted files store it."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 1e-9, scaler.scale_, 1.0)
    return (x - scaler.mean_) / scale, scaler.mean_, scale


def linear_model(names: tuple[str, ...], mean: np.ndarray, scale: np.ndarray, model: Any) -> LinearModel:
    """A fitted scikit-learn LogisticRegression on standardised features, as the reader applies it."""
    return LinearModel(names, tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()), float(model.intercept_[0]))


def _fit_linear(
    rows: list[dict[str, float]],
    labels: list[bool],
    names: tuple[str, ...],
    balanced: bool,
    c: float = 0.5,
    weights: list[float] | None = None,
) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[row[name] for name in names] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    z, mean, scale = standardised(x)
    model = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000)
    model.fit(z, y, sample_weight=None if weights is None else np.asarray(weights))
    return linear_model(names, mean, scale, model)


def _fit_pairwise(questions: list[tuple[list[dict[str, float]], list[bool]]], names: tuple[str, ...], c: float = 0.05) -> LinearModel:
    """A ranker fitted on pairs: for each question, the feature differences between each right
    candidate and each wrong one (logistic, no intercept), so only the order within a question is learnt."""
    from sklearn.linear_model import LogisticRegression

    diffs = []
    for rows, labels in questions:
        x = np.asarray([[row[name] for name in names] for row in rows], dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        for good in x[y]:
            diffs.extend(good - x[~y])
    d = np.asarray(diffs)
    scale = d.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    both = np.vstack([d / scale, -d / scale])
    target = np.r_[np.ones(len(d), dtype=int), np.zeros(len(d), dtype=int)]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=3000).fit(both, target)
    return LinearModel(names, tuple(0.0 for _ in names), tuple(scale.tolist()), tuple(model.coef_[0].tolist()), 0.0)


def _confidences(data: list[Asked], ranker: LinearModel, confidence: LinearModel | None) -> list[tuple[float, bool, list[Candidate]]]:
    """(confidence, best sentence right, ranked) per question; confidence 0 without a model or candidates."""
    fitted = Fitted(ranker, confidence or ranker, Bands(1.0, 0.0))
    out = []
    for asked in data:
        if not asked.found:
            out.append((0.0, False, []))
            continue
        ranked = rank(asked.found, fitted)
        p = confidence.probability(confidence_row(asked.analysis, ranked)) if confidence else 0.0
        out.append((p, _sentence_right(asked, ranked[0]), ranked))
    return out


def choose_bands(scored: list[tuple[float, bool]], answerable: list[float]) -> tuple[Bands, dict[str, float]]:
    """Apply the threshold rule to (confidence, right) pairs and the confidences of the answerable
    questions; returns the bands and each band's right share."""
    ordered = sorted(scored, key=lambda pair: -pair[0])
    answer = 1.0
    right = 0
    for n, (p, ok) in enumerate(ordered, start=1):
        right += ok
        if right / n >= ANSWER_PRECISION:
            answer = p  # the lowest confidence at which the answers given so far stay precise enough
    # abstain below the highest confidence under which at most FALSE_ABSTENTION of the answerable fall
    ascending = sorted(answerable)
    allowed = int(FALSE_ABSTENTION * len(ascending))
    possibly = ascending[allowed] if allowed < len(ascending) else 1.0
    bands = Bands(answer=round(answer, 4), possibly=round(min(possibly, answer), 4))
    return bands, _band_shares(scored, bands)


def _band_shares(scored: list[tuple[float, bool]], bands: Bands) -> dict[str, float]:
    shares = {}
    for name in ("answer", "possibly", "abstain"):
        inside = [ok for p, ok in scored if band_of(p, bands) == name]
        shares[name] = round(sum(inside) / len(inside), 4) if inside else float("nan")
        shares[f"{name}_n"] = len(inside)
    return shares


def fit_models(train: list[Asked]) -> tuple[Fitted, dict[str, float]]:
    """Fit ranker, confidence and bands on `train`; returns them and the band shares on `train`."""
    questions = []
    for asked in train:
        labels = [_sentence_right(asked, c) for c in asked.found]
        if asked.item.answerable and any(labels) and not all(labels):
            best = best_features(asked.found)
            questions.append(([ranker_row(c.features, best) for c in asked.found], labels))
    ranker = _fit_pairwise(questions, RANKER_FEATURES)
    ranked = _confidences(train, ranker, None)
    kept = [(asked, r) for asked, (_, _, r) in zip(train, ranked) if r]
    conf_rows = [confidence_row(asked.analysis, r) for asked, r in kept]
    conf_labels = [asked.item.answerable for asked, _ in kept]
    # Each corpus's answerable and unanswerable questions weigh the same: corpora differ in their share
    # of unanswerable questions, and that share must not become what a corpus's style of question means.
    counts: dict[tuple[str, bool], int] = {}
    for (asked, _), label in zip(kept, conf_labels):
        counts[asked.corpus, label] = counts.get((asked.corpus, label), 0) + 1
    weights = [1.0 / counts[asked.corpus, label] for (asked, _), label in zip(kept, conf_labels)]
    weights = [w * len(weights) / sum(weights) for w in weights]
    confidence = _fit_linear(conf_rows, conf_labels, CONFIDENCE_FEATURES, balanced=False, c=CONFIDENCE_C, weights=weights)
    final = _confidences(train, ranker, confidence)
    scored = [(p, ok) for p, ok, _ in final]
    bands, shares = choose_bands(scored, [p for asked, (p, _, _) in zip(train, final) if asked.item.answerable])
    return Fitted(ranker, confidence, bands), shares


def score_corpus(data: list[Asked], fitted: Fitted) -> dict[str, Any]:
    """The eval figures of one corpus's questions under `fitted` (as the engine would answer them): every
    figure on the questions as written, and flip rate and worst-wording accuracy over all wordings."""
    every = data
    data = [a for a in data if getattr(a, "wording", 0) == 0]
    return {**_score_written(data, fitted), **_score_wordings(every, fitted)}


def _score_wordings(data: list[Asked], fitted: Fitted) -> dict[str, Any]:
    """flip rate and worst-wording accuracy (as evals.grader defines them) of the answerable questions."""
    groups: dict[str, list[bool]] = {}
    for asked, (p, _, ranked) in zip(data, _confidences(data, fitted.ranker, fitted.confidence)):
        if asked.item.answerable:
            right = bool(ranked) and band_of(p, fitted.bands) != "abstain" and _sentence_right(asked, ranked[0], shown=True)
            groups.setdefault(asked.item.id, []).append(right)
    reworded = [rights for rights in groups.values() if len(rights) > 1]
    return {
        "paraphrase_groups": len(reworded),
        "flip_rate": round(sum(len(set(r)) > 1 for r in reworded) / len(reworded), 4) if reworded else float("nan"),
        "worst_wording_accuracy": round(sum(all(r) for r in groups.values()) / len(groups), 4) if groups else float("nan"),
    }


def _score_written(data: list[Asked], fitted: Fitted) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    # judged on what an answer shows, as `corpusqa eval` does
    rows = [(p, bool(r) and _sentence_right(a, r[0], shown=True), r) for a, (p, _, r) in zip(data, _confidences(data, fitted.ranker, fitted.confidence))]
    answerable = [(a, r) for a, r in zip(data, rows) if a.item.answerable]
    unanswerable = [(a, r) for a, r in zip(data, rows) if not a.item.answerable]

    def given(row: tuple[float, bool, list[Candidate]]) -> bool:
        return bool(row[2]) and band_of(row[0], fitted.bands) != "abstain"

    f1s = []
    for asked, (p, _ok, ranked) in answerable:
        if not given((p, _ok, ranked)):
            f1s.append(0.0)
            continue
        best = ranked[0]
        short = short_span(best.answer_text, list(best.answer_spans), asked.analysis)
        f1s.append(squad_f1(short or best.answer_text, asked.item.accept))
    answered = [ok for _, (p, ok, r) in answerable if given((p, ok, r))]
    given_all = [ok for _, (p, ok, r) in answerable + unanswerable if given((p, ok, r))]
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
        "bands": _band_shares([(p, ok) for p, ok, _ in rows], fitted.bands),
    }


def _fitted_json(fitted: Fitted, claims: dict[str, float], figures: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "fitted": datetime.now(UTC).date().isoformat(),
        "by": "python -m evals.fit (scikit-learn LogisticRegression: pairwise ranker, pointwise confidence)",
        "protocol": "leave-one-corpus-out; shipped parameters fitted on the dev splits of all corpora",
        "rule": (
            f"answer band: the lowest confidence at which the precision of the answers given on the pooled dev "
            f"splits stays >= {ANSWER_PRECISION:.0%}; abstain band: below the highest confidence under which at "
            f"most {FALSE_ABSTENTION:.0%} of the answerable dev questions fall; possibly: between"
        ),
        "dev_questions": sizes,
        "ranker": fitted.ranker.to_json(),
        "confidence": fitted.confidence.to_json(),
        "bands": {"answer": fitted.bands.answer, "possibly": fitted.bands.possibly},
        "claims": claims,
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
@click.option("--paraphrases", is_flag=True, help="Learn from every wording of the dev questions, not only the first.")
@click.pass_obj
def cli(
    settings: Settings | None, reuse: bool, out: Path, only: str | None, collect_only: bool, paraphrases: bool
) -> int:
    """Fit, print per-corpus LOCO figures, and write the fitted file."""
    settings = settings or Settings()
    data = load_features(only.split(",") if only else None, settings, reuse=reuse)
    if collect_only:
        return 0
    # Fitted on the questions as written; with --paraphrases, on every wording of the dev questions too.
    # The rewordings of the test questions are only scored (flip rate, worst-wording accuracy).
    wordings = paraphrases
    dev = {name: [a for a in asked if a.item.split == "dev" and (wordings or a.wording == 0)] for name, asked in data.items()}
    figures: dict[str, Any] = {}
    for name, asked in data.items():
        train = [a for other, rows in dev.items() if other != name for a in rows]
        fitted, _ = fit_models(train)
        test = [a for a in asked if a.item.split == "test"]
        figures[name] = {"loco_test": score_corpus(test, fitted), "loco_all": score_corpus(asked, fitted)}
        print(name, json.dumps(figures[name]["loco_test"]), file=sys.stderr)
    shipped, claims = fit_models([a for rows in dev.values() for a in rows])
    sizes = {name: len(rows) for name, rows in dev.items()}
    out.write_text(json.dumps(_fitted_json(shipped, claims, figures, sizes), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}; bands {shipped.bands}; dev band shares {claims}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run the command with `argv` (the command line's arguments) and, optionally, other Settings."""
    return int(cli.main(args=argv, prog_name="python -m evals.fit", obj=settings, standalone_mode=False) or 0)


if __name__ == "__main__":
    # Run the imported module's command, so pickled features name evals.fit.Asked, not __main__.Asked.
    from evals.fit import cli as _cli

    _cli(prog_name="python -m evals.fit")
