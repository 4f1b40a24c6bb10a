"""Fit the retrieval fusion weights (BM25 weight, dense weight, rank constant) leave-one-corpus-out.

Run `python -m evals.fit_fusion [--reuse] [--out FILE]`. For each eval corpus it opens (or builds) the
index `python -m evals.fit` caches under `<index-dir>/fit/<corpus>`, and for every wording of every
answerable question records the BM25 and the dense ranking once. Each point of the grid then fuses those
rankings as the engine does (`rag.retriever.choose`) and scores the top k it keeps by the reciprocal rank
of the first evidence passage (0 when none is kept): the reader needs the evidence among the passages,
and the higher the fewer distractors above it. The objective weighs every corpus the same: the mean over
corpora of that mean reciprocal rank (MRR). The share with the evidence in the top k is reported too.

1. LOCO: for each corpus C, the point that is best on the dev splits of the other corpora, scored on
   C's test split (beside the settings' current point).
2. The point that is best on the dev splits of all corpora, beside the settings' defaults
   (CORPUSQA_BM25_WEIGHT, CORPUSQA_DENSE_WEIGHT, CORPUSQA_RRF_K); `evals/fusion.json` records both. A
   point ships as the defaults only when the answerer's own LOCO figures (`python -m evals.fit`, on
   features collected with it) do not get worse: retrieval figures alone do not decide it
   (docs/evaluation.md, "Fusion weights").

Only the ratio of the two weights and the rank constant matter, so the BM25 weight stays 1.
"""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import click

from corpusqa.settings import Settings
from evals.fit_data import fit_corpora
from evals.metrics import supports
from rag.engine import Engine
from rag.retriever import FusionWeights, choose

__all__ = ["FUSION_PATH", "Ranked", "best_point", "cli", "collect_rankings", "grid", "mrr", "recall"]

FUSION_PATH = Path(__file__).resolve().parent / "fusion.json"
DENSE_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
RANK_CONSTANTS = (5, 10, 20, 40, 60)


@dataclass(frozen=True)
class Ranked:
    """One wording of an answerable question: its two rankings and the chunk ids that hold its evidence."""

    corpus: str
    split: str
    question_id: str
    bm25: list[str]
    dense: list[str]
    evidence: frozenset[str]


def grid() -> list[FusionWeights]:
    """Every point tried: BM25 weight 1, each dense weight, each rank constant."""
    return [FusionWeights(1.0, dense, k) for dense, k in product(DENSE_WEIGHTS, RANK_CONSTANTS)]


def collect_rankings(settings: Settings, depth: int, names: list[str] | None = None) -> list[Ranked]:
    """Both rankings of every wording of every answerable question of every eval corpus (or the named ones)."""
    engine = Engine.from_settings(settings)
    out = []
    for corpus in fit_corpora(names):
        print(f"ranking {corpus.name} ({len(corpus.questions)} questions)", file=sys.stderr)
        local = engine.with_settings(index_dir=settings.index_dir / "fit" / corpus.name, corpus_dir=corpus.documents)
        local.ingest([corpus.documents])
        retriever = local.retriever()
        for item in corpus.questions:
            if not item.answerable:
                continue
            for text in item.wordings:
                bm25, dense = retriever.rankings(text, local.embedder.embed_query(text), depth)
                chunks = retriever.store.get_chunks(sorted(set(bm25) | set(dense)))
                evidence = frozenset(cid for cid, chunk in chunks.items() if supports(chunk.text, item.evidence))
                out.append(Ranked(corpus.name, item.split, item.id, bm25, dense, evidence))
    return out


def recall(rows: list[Ranked], weights: FusionWeights, top_k: int) -> dict[str, float]:
    """Per corpus: the share of wordings whose evidence is in the fused top_k."""
    found: dict[str, list[bool]] = {}
    for row in rows:
        chosen = {item[0] for item in choose(row.bm25, row.dense, weights, top_k)}
        found.setdefault(row.corpus, []).append(bool(chosen & row.evidence))
    return {name: sum(hits) / len(hits) for name, hits in found.items()}


def mrr(rows: list[Ranked], weights: FusionWeights, top_k: int) -> dict[str, float]:
    """Per corpus: the mean reciprocal rank of the first evidence passage in the fused top_k (0 when absent)."""
    ranks: dict[str, list[float]] = {}
    for row in rows:
        chosen = [item[0] for item in choose(row.bm25, row.dense, weights, top_k)]
        ranks.setdefault(row.corpus, []).append(next((1.0 / n for n, cid in enumerate(chosen, 1) if cid in row.evidence), 0.0))
    return {name: sum(values) / len(values) for name, values in ranks.items()}


def best_point(rows: list[Ranked], top_k: int, prefer: FusionWeights) -> tuple[FusionWeights, float]:
    """The grid point with the highest mean per-corpus MRR on `rows`; ties go to the point nearest `prefer`."""

    def key(point: FusionWeights) -> tuple[float, float]:
        shares = mrr(rows, point, top_k)
        mean = sum(shares.values()) / len(shares)
        distance = abs(point.dense - prefer.dense) + abs(point.rrf_k - prefer.rrf_k) / 20
        return round(mean, 6), -distance

    point = max(grid(), key=key)
    return point, key(point)[0]


def _report(rows: list[Ranked], settings: Settings) -> dict[str, Any]:
    top_k = settings.top_k
    current = FusionWeights(settings.bm25_weight, settings.dense_weight, settings.rrf_k)  # ties go to it
    dev = [r for r in rows if r.split == "dev"]
    loco: dict[str, Any] = {}
    for name in sorted({r.corpus for r in rows}):
        point, train_mean = best_point([r for r in dev if r.corpus != name], top_k, current)
        test = [r for r in rows if r.corpus == name and r.split == "test"]
        loco[name] = {
            "chosen": _point(point),
            "others_dev_mrr": train_mean,
            "test_mrr": round(mrr(test, point, top_k)[name], 4),
            "test_mrr_current": round(mrr(test, current, top_k)[name], 4),
            "test_recall": round(recall(test, point, top_k)[name], 4),
            "test_recall_current": round(recall(test, current, top_k)[name], 4),
            "test_wordings": len(test),
        }
        print(name, json.dumps(loco[name]), file=sys.stderr)
    shipped, dev_mean = best_point(dev, top_k, current)
    return {
        "fitted": datetime.now(UTC).date().isoformat(),
        "by": "python -m evals.fit_fusion (grid search, corpora weighted equally, leave-one-corpus-out)",
        "objective": f"mean over corpora of the reciprocal rank of the evidence in the fused top {top_k} (0 when absent), every wording of every answerable question",
        "grid": {"bm25": [1.0], "dense": list(DENSE_WEIGHTS), "rrf_k": list(RANK_CONSTANTS)},
        "best_on_dev": _point(shipped),
        "best_dev_mrr": dev_mean,
        "settings_defaults": _point(current),
        "defaults_dev_mrr": round(sum(mrr(dev, current, top_k).values()) / len({r.corpus for r in dev}), 6),
        "dev_mrr_by_corpus": {k: round(v, 4) for k, v in mrr(dev, shipped, top_k).items()},
        "dev_recall_by_corpus": {k: round(v, 4) for k, v in recall(dev, shipped, top_k).items()},
        "loco": loco,
    }


def _point(weights: FusionWeights) -> dict[str, float]:
    return {"bm25": weights.bm25, "dense": weights.dense, "rrf_k": weights.rrf_k}


@click.command(help="Fit the retrieval fusion weights leave-one-corpus-out; write evals/fusion.json.")
@click.option("--reuse", is_flag=True, help="Use the rankings cached by the last run.")
@click.option("--only", metavar="A,B", help="Only these corpora (comma-separated names; at least two).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=FUSION_PATH, show_default=True,
              help="Where to write the chosen weights and the LOCO figures.")
@click.pass_obj
def cli(settings: Settings | None, reuse: bool, only: str | None, out: Path) -> int:
    """Collect (or reuse) the rankings, fit, print the LOCO figures and write the file."""
    settings = settings or Settings()
    cache = settings.index_dir / "fit" / "fusion.rankings.pickle"
    depth = max(20, settings.top_k * 4)  # as deep as HybridRetriever.retrieve looks
    if reuse and cache.is_file():
        rows = pickle.loads(cache.read_bytes())
    else:
        rows = collect_rankings(settings, depth, only.split(",") if only else None)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(rows))
    report = _report(rows, settings)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}; best on dev {report['best_on_dev']}, defaults {report['settings_defaults']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run the command with `argv` and, optionally, other Settings."""
    return int(cli.main(args=argv, prog_name="python -m evals.fit_fusion", obj=settings, standalone_mode=False) or 0)


if __name__ == "__main__":
    from evals.fit_fusion import cli as _cli

    _cli(prog_name="python -m evals.fit_fusion")
