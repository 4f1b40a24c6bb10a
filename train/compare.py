"""`python -m train.compare`: the trained reader against the features, from two `corpusqa eval` results files.

Both files come from `corpusqa eval --split test --no-gate` over the same index, one with
`CORPUSQA_READER=features` and one with `CORPUSQA_READER=trained` (docs/trained-reader.md). Besides the eval's
own metrics it reads the sentence choice alone, with no abstention: the share of answerable wordings whose
offered text is right and cited (`right`), the share of paraphrase groups whose wordings disagree on that
(the flip rate's floor, which no band can lower), and how well the confidence ranks right answers above
everything else (AUROC of `right`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evals.metrics import auroc

__all__ = ["choice_figures", "main"]

_EVAL_METRICS = ("correct_and_cited", "f1", "flip_rate", "worst_wording_accuracy", "abstention_near_miss",
                 "abstention_out_of_scope", "confidence_auroc", "latency_median_ms")


def choice_figures(results: list[dict[str, Any]]) -> dict[str, float]:
    """The sentence choice alone over one corpus's results (every wording): right share, floor flip, AUROC."""
    answerable = [r for r in results if r["type"] != "unanswerable" and not r["error"]]
    groups: dict[str, list[bool]] = {}
    for r in answerable:
        groups.setdefault(r["group"] or r["id"], []).append(bool(r["right"]))
    reworded = [rights for rights in groups.values() if len(rights) > 1]
    scored = [r for r in results if not r["error"]]
    area = auroc([bool(r["right"]) for r in scored], [float(r["confidence"]) for r in scored])
    return {
        "choice_right": round(sum(r["right"] for r in answerable) / len(answerable), 4) if answerable else 0.0,
        "choice_flip": round(sum(len(set(rights)) > 1 for rights in reworded) / len(reworded), 4) if reworded else 0.0,
        "right_auroc": round(area, 4) if area is not None else -1.0,
    }


def _figures(path: Path) -> dict[str, dict[str, float]]:
    report = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, float]] = {}
    for name, one in report["corpora"].items():
        results = [r for r in report["results"] if r["corpus"] == name]
        out[name] = {key: one["metrics"][key] for key in _EVAL_METRICS} | choice_figures(results)
    names = list(out)
    out["macro"] = {key: round(sum(out[n][key] for n in names) / len(names), 4) for key in out[names[0]]}
    return out


@click.command()
@click.argument("features", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("trained", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def main(features: Path, trained: Path, as_json: bool) -> None:
    """Compare two eval results files (features first, trained second), per corpus and macro.

    \b
    Example:
        python -m train.compare evals/runs/run-A.json evals/runs/run-B.json
    """
    left, right = _figures(features), _figures(trained)
    if as_json:
        click.echo(json.dumps({"features": left, "trained": right}, indent=2))
        return
    keys = list(next(iter(left.values())))
    click.echo("corpus | " + " | ".join(keys))
    for name in left:
        if name in right:
            cells = [f"{left[name][k]:g} → {right[name][k]:g}" for k in keys]
            click.echo(f"{name} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
