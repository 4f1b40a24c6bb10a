"""The answerer's fitted models: the pairwise sentence ranker, the confidence model, its calibration, the bands.

Every corpus weighs the same in every fit, and within a corpus every question weighs the same however
many wordings it has: no corpus's question count sets the trade-off (issue #22).

- The ranker: logistic regression on feature differences between the right and the wrong candidate
  sentences of each question (pairwise, no intercept); a question's pairs share its weight. The
  "wordings" method adds a weight for meaning to it (`choose_meaning`).
- The confidence: logistic regression on the chosen sentence's features, labelled with whether that
  sentence is right (the question is answerable, and the sentence holds an accepted answer inside the
  evidence passage). It is then calibrated (Platt: a logistic map of its log-odds) on predictions made
  leave-one-corpus-out inside the training corpora, so the confidence a user sees is the probability of
  being right on a corpus the models never saw. The map is folded into the model's coefficients.
- The bands, on that calibrated confidence and those held-out predictions (`choose_bands`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, Protocol

import numpy as np

from evals.metrics import accepts, supports
from evals.questions import Question
from rag.reader.confidence import CONFIDENCE_FEATURES, band_of, confidence_row
from rag.reader.fitted import Bands, Fitted, LinearModel
from rag.reader.question import QuestionAnalysis
from rag.reader.ranking import RANKER_FEATURES, best_features, rank, ranker_row
from rag.reader.sentences import Candidate


class Asked(Protocol):
    """What the fit reads of one asked wording (evals.fit.Asked; a protocol here, so that this module does
    not import evals.fit, which imports it)."""

    corpus: str
    item: Question
    analysis: QuestionAnalysis
    found: list[Candidate]
    passages: list[str]
    wording: int

__all__ = [
    "ANSWER_PRECISION",
    "METHODS",
    "POSSIBLY_PRECISION",
    "Scored",
    "choose_bands",
    "choose_meaning",
    "confidences",
    "fit_models",
    "linear_model",
    "pooled_bands",
    "question_weights",
    "sentence_right",
    "standardised",
    "wording_figures",
]

#: The bands' rule (issue #22): the "answer" band starts at the lowest confidence at which the answers
#: at or above it are at least this often right, held out and pooled over corpora weighted equally ...
ANSWER_PRECISION = 0.85
#: ... and "possibly" starts at the highest confidence under which at most FALSE_ABSTENTION of the
#: answerable questions fall (held out, pooled, corpora weighted equally), raised where needed so that
#: the answers between it and the answer band are at least POSSIBLY_PRECISION right; below it, the
#: answerer abstains. The first part keeps answering what the documents say ahead of abstaining; the
#: second keeps "possibly" meaning what it says.
FALSE_ABSTENTION = 0.10
POSSIBLY_PRECISION = 0.40
#: Regularisation of the confidence model (docs/evaluation.md: 0.2 to 2 measure alike).
CONFIDENCE_C = 0.2
#: The methods `fit_models` knows: "pooled" (shipped), "wordings" and "equal" (measured, not shipped);
#: docs/evaluation.md.
METHODS = ("pooled", "wordings", "equal")
#: The weights for meaning "wordings" chooses among: added to the ranker's standardised MiniLM similarity
#: (`dense_z`), they move the sentence choice from the question's words towards its meaning, which a
#: rewording keeps. Chosen leave-one-corpus-out inside the training corpora (`choose_meaning`).
MEANING_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0)
#: Regularisation of the pairwise ranker.
RANKER_C = 0.05

class Scored(NamedTuple):
    """One asked wording as the bands are chosen on it: its (held-out) confidence, whether the sentence
    shown is right, its corpus, its weight, and whether the question is answerable."""

    confidence: float
    right: bool
    corpus: str
    weight: float
    answerable: bool


def sentence_right(asked: Asked, candidate: Candidate, shown: bool = False) -> bool:
    """Whether the candidate's sentence (or, with `shown`, the text an answer quotes: a lead-in with what
    follows it) holds an accepted answer inside the evidence passage. The models learn from the sentence."""
    item = asked.item
    text = candidate.answer_text if shown else candidate.text
    return item.answerable and accepts(text, item.accept) and supports(asked.passages[candidate.chunk_index], item.evidence)


def question_weights(data: Sequence[Asked]) -> list[float]:
    """A weight per asked wording: each corpus sums to the same, each question within it too; mean 1."""
    wordings: dict[tuple[str, str], int] = {}
    for asked in data:
        wordings[asked.corpus, asked.item.id] = wordings.get((asked.corpus, asked.item.id), 0) + 1
    questions: dict[str, int] = {}
    for corpus, _ in wordings:
        questions[corpus] = questions.get(corpus, 0) + 1
    raw = [1.0 / (questions[a.corpus] * wordings[a.corpus, a.item.id]) for a in data]
    total = sum(raw)
    return [w * len(raw) / total for w in raw] if total else raw


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


def _fit_linear(rows: list[dict[str, float]], labels: list[bool], names: tuple[str, ...], c: float, weights: list[float]) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[row[name] for name in names] for row in rows], dtype=np.float64)
    z, mean, scale = standardised(x)
    model = LogisticRegression(C=c, max_iter=2000).fit(z, np.asarray(labels, dtype=int), sample_weight=np.asarray(weights))
    return linear_model(names, mean, scale, model)


def _fit_pairwise(questions: list[tuple[list[dict[str, float]], list[bool], float]], names: tuple[str, ...]) -> LinearModel:
    """A ranker fitted on pairs: for each question, the feature differences between each right candidate
    and each wrong one (logistic, no intercept), so only the order within a question is learnt."""
    from sklearn.linear_model import LogisticRegression

    diffs, weights = [], []
    for rows, labels, weight in questions:
        x = np.asarray([[row[name] for name in names] for row in rows], dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        pairs = [good - x[~y] for good in x[y]]
        count = sum(len(p) for p in pairs)
        for block in pairs:
            diffs.extend(block)
            weights.extend([weight / count] * len(block))
    d = np.asarray(diffs)
    scale = d.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    both = np.vstack([d / scale, -d / scale])
    target = np.r_[np.ones(len(d), dtype=int), np.zeros(len(d), dtype=int)]
    w = np.asarray(weights + weights)
    model = LogisticRegression(C=RANKER_C, fit_intercept=False, max_iter=3000).fit(both, target, sample_weight=w * len(w) / w.sum())
    return LinearModel(names, tuple(0.0 for _ in names), tuple(scale.tolist()), tuple(model.coef_[0].tolist()), 0.0)


def confidences(data: Sequence[Asked], fitted: Fitted) -> list[tuple[float, list[Candidate]]]:
    """(confidence, ranked candidates) per asked wording; 0 and [] without candidates."""
    out = []
    for asked in data:
        if not asked.found:
            out.append((0.0, []))
            continue
        ranked = rank(asked.found, fitted)
        out.append((fitted.confidence.probability(confidence_row(asked.analysis, ranked)), ranked))
    return out


def _fit_equal(train: Sequence[Asked]) -> Fitted:
    """The "equal" method's ranker and confidence (labelled: the sentence shown is right), every corpus and
    question weighing the same; no bands yet."""
    weights = question_weights(train)
    questions = []
    for asked, weight in zip(train, weights):
        labels = [sentence_right(asked, c) for c in asked.found]
        if any(labels) and not all(labels):
            best = best_features(asked.found)
            questions.append(([ranker_row(c.features, best) for c in asked.found], labels, weight))
    ranker = _fit_pairwise(questions, RANKER_FEATURES)
    placeholder = Fitted(ranker, ranker, Bands(1.0, 0.0))
    rows, labels, kept = [], [], []
    for asked, weight in zip(train, weights):
        if asked.found:
            ranked = rank(asked.found, placeholder)
            rows.append(confidence_row(asked.analysis, ranked))
            labels.append(sentence_right(asked, ranked[0]))
            kept.append(weight)
    confidence = _fit_linear(rows, labels, CONFIDENCE_FEATURES, CONFIDENCE_C, kept)
    return Fitted(ranker, confidence, Bands(1.0, 0.0))


def _held_out(train: Sequence[Asked], fit: Callable[[Sequence[Asked]], Fitted]) -> list[Scored]:
    """Scored rows, with the log-odds as confidence, of every training wording, each scored by models fitted
    without its corpus; in-sample when `train` holds one corpus only."""
    corpora = sorted({a.corpus for a in train})
    weights = dict(zip(map(id, train), question_weights(train)))
    out = []
    for name in corpora:
        inside = [a for a in train if a.corpus == name]
        others = [a for a in train if a.corpus != name] or list(train)
        fitted = fit(others)
        for asked, (_, ranked) in zip(inside, confidences(inside, fitted)):
            logit = float(fitted.confidence.decisions([confidence_row(asked.analysis, ranked)])[0]) if ranked else -30.0
            right = bool(ranked) and sentence_right(asked, ranked[0], shown=True)
            out.append(Scored(logit, right, name, weights[id(asked)], asked.item.answerable))
    return out


def _platt(held: list[Scored]) -> tuple[float, float]:
    """(slope, intercept) of the logistic map from held-out log-odds to being right."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[h[0]] for h in held])
    y = np.asarray([h[1] for h in held], dtype=int)
    model = LogisticRegression(C=1e4, max_iter=1000).fit(x, y, sample_weight=np.asarray([h[3] for h in held]))
    return float(model.coef_[0][0]), float(model.intercept_[0])


def _calibrated(model: LinearModel, slope: float, intercept: float) -> LinearModel:
    """`model` with the map folded in: sigmoid(slope * decision + intercept)."""
    return LinearModel(
        model.features, model.mean, model.scale, tuple(c * slope for c in model.coef), model.intercept * slope + intercept
    )


def choose_bands(scored: Sequence[Scored]) -> tuple[Bands, dict[str, Any]]:
    """The rule of ANSWER_PRECISION and POSSIBLY_PRECISION applied to held-out (confidence, right,
    corpus, weight) rows; returns the bands and each band's right share and size."""
    ordered = sorted(scored, key=lambda row: -row.confidence)
    answer = 1.0
    right = total = 0.0
    for p, ok, _, w, _ in ordered:
        right, total = right + ok * w, total + w
        if right / total >= ANSWER_PRECISION:
            answer = p  # the lowest confidence at which the answers at or above it stay precise enough
    answerable = sorted((row.confidence, row.weight) for row in scored if row.answerable)
    allowed = FALSE_ABSTENTION * sum(w for _, w in answerable)
    possibly, fallen = 0.0, 0.0
    for p, w in answerable:
        if fallen + w > allowed:
            possibly = p
            break
        fallen += w
    right = total = 0.0
    floor = answer
    for p, ok, _, w, _ in ordered:  # the lowest start at which "possibly" stays POSSIBLY_PRECISION right
        if p >= answer:
            continue
        right, total = right + ok * w, total + w
        if right / total >= POSSIBLY_PRECISION:
            floor = p
    possibly = max(possibly, floor)
    bands = Bands(answer=round(answer, 4), possibly=round(min(possibly, answer), 4))
    return bands, band_shares(scored, bands)


def band_shares(scored: Sequence[Scored], bands: Bands) -> dict[str, Any]:
    """Each band's weighted right share and its count, pooled."""
    shares: dict[str, Any] = {}
    for name in ("answer", "possibly", "abstain"):
        inside = [(row.right, row.weight) for row in scored if band_of(row.confidence, bands) == name]
        weight = sum(w for _, w in inside)
        shares[name] = round(sum(ok * w for ok, w in inside) / weight, 4) if weight else float("nan")
        shares[f"{name}_n"] = len(inside)
    return shares


def _fit_pooled(train: Sequence[Asked], meaning: float = 0.0) -> Fitted:
    """The "pooled" method (shipped since 2026-11-30), and with every wording and a `meaning` weight the
    "wordings" method (measured 2026-12-05, not shipped): the ranker on every pair alike of the questions as written, plus
    `meaning` times the standardised similarity; the confidence labelled answerable vs not, each corpus's
    answerable and unanswerable questions weighing the same, and within them each question the same
    however many wordings it has; the bands by the older rule on the training wordings (`pooled_bands`)."""
    questions = []
    for asked in train:
        labels = [sentence_right(asked, c) for c in asked.found]
        if asked.wording == 0 and asked.item.answerable and any(labels) and not all(labels):
            best = best_features(asked.found)
            questions.append(([ranker_row(c.features, best) for c in asked.found], labels, float(sum(labels) * (len(labels) - sum(labels)))))
    ranker = _with_meaning(_fit_pairwise(questions, RANKER_FEATURES), meaning)
    placeholder = Fitted(ranker, ranker, Bands(1.0, 0.0))
    kept = [(asked, rank(asked.found, placeholder)) for asked in train if asked.found]
    labels = [asked.item.answerable for asked, _ in kept]
    wordings: dict[tuple[str, str], int] = {}
    for asked, _ in kept:
        wordings[asked.corpus, asked.item.id] = wordings.get((asked.corpus, asked.item.id), 0) + 1
    classes: dict[tuple[str, bool], float] = {}
    for (asked, _), label in zip(kept, labels):
        classes[asked.corpus, label] = classes.get((asked.corpus, label), 0.0) + 1.0 / wordings[asked.corpus, asked.item.id]
    weights = [1.0 / (wordings[a.corpus, a.item.id] * classes[a.corpus, label]) for (a, _), label in zip(kept, labels)]
    weights = [w * len(weights) / sum(weights) for w in weights]
    confidence = _fit_linear([confidence_row(a.analysis, r) for a, r in kept], labels, CONFIDENCE_FEATURES, CONFIDENCE_C, weights)
    fitted = Fitted(ranker, confidence, Bands(1.0, 0.0))
    rows = [(p, bool(r) and sentence_right(a, r[0]), a.item.answerable) for a, (p, r) in zip(train, confidences(train, fitted))]
    return Fitted(ranker, confidence, pooled_bands([(p, ok) for p, ok, _ in rows], [p for p, _, answerable in rows if answerable]))


def _with_meaning(ranker: LinearModel, meaning: float) -> LinearModel:
    """`ranker` with `meaning` times the standardised similarity (`dense_z`) added to its decision."""
    if not meaning:
        return ranker
    at = ranker.features.index("dense_z")
    coef = tuple(c + meaning * ranker.scale[at] if i == at else c for i, c in enumerate(ranker.coef))
    return LinearModel(ranker.features, ranker.mean, ranker.scale, coef, ranker.intercept)


def wording_figures(data: Sequence[Asked], fitted: Fitted) -> dict[str, Any]:
    """Flip rate and worst-wording accuracy of `data`'s answerable questions under `fitted` (as
    evals.grader defines them: a wording counts when it is answered, not abstained, with a right sentence)."""
    groups: dict[tuple[str, str], list[bool]] = {}
    for asked, (p, ranked) in zip(data, confidences(data, fitted)):
        if asked.item.answerable:
            right = bool(ranked) and band_of(p, fitted.bands) != "abstain" and sentence_right(asked, ranked[0], shown=True)
            groups.setdefault((asked.corpus, asked.item.id), []).append(right)
    reworded = [rights for rights in groups.values() if len(rights) > 1]
    return {
        "paraphrase_groups": len(reworded),
        "flip_rate": round(sum(len(set(r)) > 1 for r in reworded) / len(reworded), 4) if reworded else float("nan"),
        "worst_wording_accuracy": round(sum(all(r) for r in groups.values()) / len(groups), 4) if groups else float("nan"),
    }


def choose_meaning(train: Sequence[Asked]) -> tuple[float, dict[str, float]]:
    """The weight of MEANING_WEIGHTS under which the "wordings" fit, leave-one-corpus-out inside `train`
    (in-sample when it holds one corpus), reaches the highest worst-wording accuracy, corpora weighted
    equally: every wording of a question answered right is the issue's first objective. Ties go to the
    smaller weight. Returns it and each weight's mean (the abstentions need no calibration: the map is
    monotone and carries the threshold)."""
    corpora = sorted({a.corpus for a in train})
    means: dict[str, float] = {}
    for weight in MEANING_WEIGHTS:
        accuracy = []
        for name in corpora:
            inside = [a for a in train if a.corpus == name]
            fitted = _fit_pooled([a for a in train if a.corpus != name] or list(train), weight)
            accuracy.append(wording_figures(inside, fitted)["worst_wording_accuracy"])
        means[str(weight)] = round(float(np.mean(accuracy)), 4)
    best = max(MEANING_WEIGHTS, key=lambda w: (means[str(w)], -w))
    return best, means


def pooled_bands(scored: list[tuple[float, bool]], answerable: list[float]) -> Bands:
    """The older rule: "answer" from the lowest confidence at which the answers given on the training
    questions stay >= ANSWER_PRECISION right; abstain below the confidence under which at most
    FALSE_ABSTENTION of the answerable training questions fall."""
    answer, right = 1.0, 0
    for n, (p, ok) in enumerate(sorted(scored, key=lambda pair: -pair[0]), start=1):
        right += ok
        if right / n >= ANSWER_PRECISION:
            answer = p
    ascending = sorted(answerable)
    allowed = int(FALSE_ABSTENTION * len(ascending))
    possibly = ascending[allowed] if allowed < len(ascending) else 1.0
    return Bands(answer=round(answer, 4), possibly=round(min(possibly, answer), 4))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return float(np.log(p / (1.0 - p)))


def fit_models(train: Sequence[Asked], method: str = "pooled") -> tuple[Fitted, dict[str, Any]]:
    """Fit ranker, confidence, its calibration and the bands on `train` by `method` (one of METHODS);
    returns them and each band's right share on the held-out predictions they were calibrated on.

    Both methods calibrate: the confidence shown is the probability that the sentence shown is right,
    from predictions made with each training corpus held out, and the answer band starts where those
    held-out predictions are ANSWER_PRECISION right (`choose_bands`). "pooled" keeps its abstentions: its
    abstain threshold is carried through the same monotone map, so every question abstains as it did.
    "equal" chooses its abstain threshold on the calibrated held-out predictions too."""
    extra: dict[str, Any] = {}
    fit: Callable[[Sequence[Asked]], Fitted] = _fit_pooled if method == "pooled" else _fit_equal
    if method == "wordings":
        meaning, means = choose_meaning(train)
        fit = partial(_fit_pooled, meaning=meaning)
        extra = {"meaning_weight": meaning, "meaning_worst_wording": means}
    held = _held_out(train, fit)
    slope, intercept = _platt(held)
    scored = [row._replace(confidence=_sigmoid(slope * row.confidence + intercept)) for row in held]
    fitted = fit(train)
    bands, shares = choose_bands(scored)
    if method in ("pooled", "wordings"):
        # its abstain threshold, carried through the map, keeps every abstention as it was; the answer band
        # follows the held-out rule (the older in-sample rule put answers ~45% right in it)
        t = fitted.bands.possibly
        possibly = round(_sigmoid(slope * _logit(t) + intercept), 6) if 0.0 < t < 1.0 else t
        bands = Bands(answer=max(bands.answer, possibly), possibly=possibly)
        shares = band_shares(scored, bands)
    return Fitted(fitted.ranker, _calibrated(fitted.confidence, slope, intercept), bands), shares | extra
