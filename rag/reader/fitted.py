"""The fitted parameters of the reader: logistic models over named features, and the answer bands.

The parameters live in `rag/fitted.json` (sentence ranker, confidence model, bands; written by
`python -m evals.fit`, leave-one-corpus-out scikit-learn logistic regression) and `rag/fitted_spans.json`
(the span model, `python -m evals.fit_spans`); here they are applied with numpy alone, so answering
never imports scikit-learn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FITTED_PATH", "Bands", "Fitted", "LinearModel", "load_fitted", "with_products"]

FITTED_PATH = Path(__file__).resolve().parent.parent / "fitted.json"


@dataclass(frozen=True)
class LinearModel:
    """A logistic model over named features: p = sigmoid(((x - mean) / scale) . coef + intercept)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def decisions(self, rows: list[dict[str, float]]) -> np.ndarray:
        """The log-odds of many rows of named feature values; a feature a row lacks counts as 0 (the
        one-hot groups of the span model name only the group a span is in)."""
        x = np.asarray([[row.get(name, 0.0) for name in self.features] for row in rows], dtype=np.float64)
        return np.asarray(((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept)

    def probabilities(self, rows: list[dict[str, float]]) -> np.ndarray:
        """sigmoid(decision) of many rows at once."""
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(self.decisions(rows), -30.0, 30.0))))

    def probability(self, values: dict[str, float]) -> float:
        """sigmoid(decision) of one row."""
        return float(self.probabilities([values])[0])

    def to_json(self) -> dict[str, Any]:
        """As stored in fitted.json."""
        return {
            "features": list(self.features),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "coef": [round(v, 6) for v in self.coef],
            "intercept": round(self.intercept, 6),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LinearModel:
        """Read one model from fitted.json."""
        return cls(
            tuple(raw["features"]),
            tuple(float(v) for v in raw["mean"]),
            tuple(float(v) for v in raw["scale"]),
            tuple(float(v) for v in raw["coef"]),
            float(raw["intercept"]),
        )


@dataclass(frozen=True)
class Bands:
    """Confidence at or above `answer` answers; at or above `possibly` answers hedged; below abstains."""

    answer: float
    possibly: float


@dataclass(frozen=True)
class Fitted:
    """Everything fitted to questions: the ranker, the confidence model and the band thresholds."""

    ranker: LinearModel
    confidence: LinearModel
    bands: Bands


@lru_cache(maxsize=4)
def load_fitted(path: Path = FITTED_PATH) -> Fitted:
    """The shipped parameters (or another fitted.json)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    bands = raw["bands"]
    return Fitted(
        LinearModel.from_json(raw["ranker"]),
        LinearModel.from_json(raw["confidence"]),
        Bands(float(bands["answer"]), float(bands["possibly"])),
    )


def with_products(row: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """`row` with each product feature of `names` ("a*b": row[a] * row[b]) added: a linear model cannot form them."""
    for name in names:
        if "*" in name:
            left, right = name.split("*")
            row[name] = row[left] * row[right]
    return row
