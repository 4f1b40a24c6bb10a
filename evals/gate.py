"""The eval gate: thresholds kept in each corpus's gate.toml, checked against a run's metrics."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from corpusqa.errors import CorpusQAError

__all__ = ["THRESHOLDS", "Check", "check_thresholds", "load_thresholds"]

# The news corpus's gate; every corpus has its own gate.toml (evals/corpora.py).
THRESHOLDS = Path(__file__).resolve().parent / "corpora" / "news" / "gate.toml"


@dataclass(frozen=True)
class Check:
    """One gated metric: its value, the bound and whether it passed."""

    metric: str
    value: float
    bound: float
    kind: str  # "min" | "max"
    passed: bool


def load_thresholds(path: Path = THRESHOLDS) -> dict[str, dict[str, float]]:
    """{"min": {metric: bound}, "max": {metric: bound}}."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusQAError(f"Cannot read thresholds from {path} ({exc}); fix the file.") from exc
    return {"min": dict(data.get("min", {})), "max": dict(data.get("max", {}))}


def check_thresholds(metrics: dict[str, float | int], thresholds: dict[str, dict[str, float]]) -> list[Check]:
    """Every gated metric compared with its bound (a metric missing from the run fails)."""
    checks = []
    for kind, bounds in (("min", thresholds["min"]), ("max", thresholds["max"])):
        for metric, bound in sorted(bounds.items()):
            value = float(metrics.get(metric, float("nan")))
            passed = value >= bound if kind == "min" else value <= bound
            checks.append(Check(metric, value, float(bound), kind, passed))
    return checks
