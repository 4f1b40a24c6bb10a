"""The rule that sets a corpus's gate (gate.toml) from a jitter run: the measured spread plus a binomial margin.

A gate must hold on any machine, so it is not set one question under one run. From a run of
`corpusqa eval --split test --jitter N --json` (its results file):

- `f`, for each gated metric: the share of the questions it reads whose outcome (band, abstention,
  pass, correctness, citation, evidence rank, F1) came out otherwise in a rerun than in the plain run,
  over the N reruns (a run recorded before these counts: the share of all decisions that flipped);
- for each gated metric over `n` questions (its denominator), the flips another machine could make
  among those n are Binomial(n, f); the margin is their 95th percentile, in questions, over n, and at
  least one question (a metric that never moved in N reruns may still move on another machine);
- a `min` bound is the lowest value over the plain run and the reruns minus the margin, a `max` bound
  the highest plus it, rounded outwards to 0.01. `errors` stays at 0.

    python -m evals.gate_rule RESULTS.json [--write]

prints the bounds it derives, beside the current ones; `--write` rewrites each corpus's gate.toml
(bounds only; its comments stay) and appends a dated comment with the figures. docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.corpora import CORPORA_DIR
from evals.gate import load_thresholds

__all__ = ["DENOMINATORS", "MARGIN_QUANTILE", "bounds", "flip_share", "main", "margin"]

MARGIN_QUANTILE = 0.95
#: Which count of the run's metrics each gated metric is a share of (one question moves it at most 1/n).
DENOMINATORS = {
    "abstention": "unanswerable",
    "abstention_out_of_scope": "out_of_scope",
    "abstention_near_miss": "near_miss",
    "answered_precision": "answered",
    "flip_rate": "paraphrase_groups",
    "confidence_auroc": "questions",
    "passed": "questions",
}
_DEFAULT_DENOMINATOR = "answerable"  # accuracy, citations, retrieval, F1, worst-wording accuracy
#: Gated on every corpus whether or not its gate.toml names them yet (issue #22).
REQUIRED = {"min": ("worst_wording_accuracy",), "max": ("flip_rate",)}


def flip_share(flipped: int, trials: int) -> float:
    """The measured probability that one question's outcome flips on another machine."""
    return flipped / trials if trials > 0 else 0.0


def margin(n: int, flip: float, quantile: float = MARGIN_QUANTILE) -> float:
    """The share of n questions that may flip on another machine: the quantile of Binomial(n, flip), and at
    least one question, over n."""
    from scipy.stats import binom

    if n <= 0:
        return 0.0
    return max(1.0, float(binom.ppf(quantile, n, flip))) / n


def bounds(corpus: dict[str, Any], gate: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """For each gated metric of one corpus's report (with its "jitter" block): the derived bound and its parts."""
    jitter = corpus.get("jitter")
    if not jitter:
        raise ValueError("the run has no jitter check; rerun `corpusqa eval --jitter N --json`")
    metrics = corpus["metrics"]
    per_run = [int(k) for k in jitter.get("flipped_per_run", [jitter["flipped"]])]
    overall = flip_share(sum(per_run), int(jitter["decisions"]) * len(per_run))
    out: dict[str, dict[str, dict[str, float]]] = {"min": {}, "max": {}}
    for kind in ("min", "max"):
        for name in dict.fromkeys([*gate[kind], *REQUIRED[kind]]):
            if name == "errors":
                out[kind][name] = {"bound": 0.0}
                continue
            if name not in jitter["metrics"] and name not in metrics:
                continue
            # a metric the gate did not name yet has no recorded spread: the plain run's value stands for it
            value_now = float(metrics.get(name, 0.0))
            spread = jitter["metrics"].get(name, {"min": value_now, "max": value_now})
            flip = flip_share(int(spread["changed"]), int(spread["trials"])) if spread.get("trials") else overall
            n = int(metrics.get(DENOMINATORS.get(name, _DEFAULT_DENOMINATOR), 0))
            extra = margin(n, flip)
            if kind == "min":
                value = math.floor((spread["min"] - extra) * 100 + 1e-9) / 100
            else:
                value = math.ceil((spread["max"] + extra) * 100 - 1e-9) / 100
            out[kind][name] = {
                "bound": round(max(0.0, min(1.0, value)), 2),
                "low": spread["min"],
                "high": spread["max"],
                "n": n,
                "margin": round(extra, 4),
                "flip": round(flip, 4),
            }
    return out


def tightened(derived: dict[str, dict[str, dict[str, float]]], gate: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """`derived` with each bound kept at the gate's current one where that is stricter (min: higher, max: lower)."""
    out: dict[str, dict[str, dict[str, float]]] = {"min": {}, "max": {}}
    for kind, pick in (("min", max), ("max", min)):
        for name, part in derived[kind].items():
            old = gate[kind].get(name)
            out[kind][name] = part if old is None else {**part, "bound": pick(part["bound"], float(old))}
    return out


def _rewrite(path: Path, derived: dict[str, dict[str, dict[str, float]]], note: str) -> None:
    """Set each `name = value` line of gate.toml's [min] and [max] tables; add missing keys; append a note."""
    lines = path.read_text(encoding="utf-8").splitlines()
    table = ""
    seen: set[tuple[str, str]] = set()
    out: list[str] = []
    for line in lines:
        header = re.match(r"\[(\w+)\]", line.strip())
        if header:
            table = header.group(1)
        key = re.match(r"(\w+)\s*=", line)
        if key and table in derived and key.group(1) in derived[table]:
            name = key.group(1)
            bound = derived[table][name]["bound"]
            line = f"{name} = {int(bound) if name == 'errors' else bound}"
            seen.add((table, name))
        out.append(line)
    for table in ("min", "max"):
        missing = [name for name in derived[table] if (table, name) not in seen]
        if missing:
            where = next(i for i, line in enumerate(out) if line.strip() == f"[{table}]") + 1
            out[where:where] = [f"{name} = {derived[table][name]['bound']}" for name in missing]
    out.append(note)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Print (and with --write, apply) the gate bounds derived from a jitter run's results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="A results file of `corpusqa eval --jitter N` (run-*.json).")
    parser.add_argument("--write", action="store_true", help="Rewrite evals/corpora/<name>/gate.toml.")
    parser.add_argument(
        "--tighten-only", action="store_true",
        help="Move a bound only where the rule makes it stricter (gates rise as the engine improves, never fall).",
    )
    parser.add_argument("--root", type=Path, default=CORPORA_DIR)
    args = parser.parse_args(argv)
    report = json.loads(args.results.read_text(encoding="utf-8"))
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for name, corpus in report["corpora"].items():
        path = args.root / name / "gate.toml"
        gate = load_thresholds(path)
        derived = bounds(corpus, gate)
        if args.tighten_only:
            derived = tightened(derived, gate)
        jitter = corpus["jitter"]
        print(f"== {name}: {jitter['flipped']} of {jitter['decisions']} decisions flipped in {jitter['runs']} reruns")
        for kind in ("min", "max"):
            for metric, part in sorted(derived[kind].items()):
                old = gate[kind].get(metric)
                detail = (
                    f" (runs {part['low']:.3f}-{part['high']:.3f}, n {part['n']}, margin {part['margin']:.3f})"
                    if "n" in part else ""
                )
                print(f"  {kind} {metric}: {old} -> {part['bound']}{detail}")
        if args.write:
            flip = next((p["flip"] for k in ("min", "max") for p in derived[k].values() if "flip" in p), 0.0)
            note = (
                f"# Set {day} by evals/gate_rule.py from a {report.get('split', 'all')}-split run with "
                f"--jitter {jitter['runs']} ({report.get('jitter_size', 'precision')} size): {jitter['flipped']} of "
                f"{jitter['decisions']} decisions flipped, flip share {flip:.3f}; bounds = spread -/+ binomial margin"
                + (", kept where the old bound was stricter." if args.tighten_only else ".")
            )
            _rewrite(path, derived, note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
