"""`corpusqa bench`: speed, memory and retrieval quality against a plain llama-index pipeline (evals/bench.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

__all__ = ["bench"]


@click.command()
@index_dir_option
@click.option("--quick", is_flag=True, help="A small variant that make test can afford (a few scale pages).")
@click.option("--no-scale", is_flag=True, help="Skip the Python-documentation scale corpus.")
@click.option("--pages", type=click.IntRange(min=0), default=0, show_default=True,
              help="Full variant: cap the scale corpus at about this many evenly spaced pages (0 = all).")
@click.option("--copies", type=click.IntRange(min=0), default=10, show_default=True,
              help="Full variant: also ingest a synthetic corpus of this many copies of the scale pages, "
              "numbers and names varied in all but the first (0 = skip; 10 is about 5,000 pages).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Instead of the usual figures: one ingest worker against this many into one Chroma server "
              "(`chroma run`), on the scale pages; wall time, peak memory and whether the answers agree.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--markdown", is_flag=True, help="Also print the short table for README's performance section.")
@click.option("--keep", is_flag=True, help="Keep the indexes the bench built (under INDEX_DIR/bench/).")
@handle_errors
def bench(
    index_dir: Path | None, quick: bool, no_scale: bool, pages: int, copies: int, workers: int, as_json: bool,
    markdown: bool, keep: bool,
) -> None:
    """Measure ingest and answer speed, memory and retrieval quality, beside llama-index's textbook pipeline.

    Installs Debian's python3.11-doc for the scale corpus when it is missing. Results go to
    INDEX_DIR/bench/bench-<time>.json and a line to INDEX_DIR/bench/history.jsonl. Times are
    reported against their targets, never judged: the command fails only on real errors.

    \b
    Example:
        corpusqa bench --quick
        corpusqa bench --copies 0          # the 526 pages only, no 10x corpus
        corpusqa bench --pages 100 --copies 3
        corpusqa bench --quick --workers 2  # two ingest processes into one Chroma server
        corpusqa bench --json > bench.json
    """
    if workers > 1:
        _workers(index_dir, workers, quick, pages, as_json, keep)
        return
    from evals.bench import BenchOptions, run_bench
    from evals.bench_report import render_markdown, render_table, save_bench

    settings = build_settings(index_dir=index_dir)
    options = BenchOptions(
        quick=quick, scale=not no_scale, pages=pages, copies=copies, keep=keep, cold_runs=2 if quick else 3
    )
    started = time.perf_counter()
    report = run_bench(settings, options, say=lambda line: click.echo(f"[{time.perf_counter() - started:5.0f} s] {line}", err=True))
    saved = save_bench(report, settings.index_dir / "bench")
    if as_json:
        click.echo(json.dumps({**report.to_json(), "results_file": str(saved)}))
    else:
        click.echo(render_table(report))
    if markdown:
        click.echo(render_markdown(report), err=as_json)
    click.echo(f"Results: {saved}", err=True)


def _workers(index_dir: Path | None, workers: int, quick: bool, pages: int, as_json: bool, keep: bool) -> None:
    from evals.bench_scale import DOC_ROOT, SCALE_QUESTIONS
    from evals.bench_workers import render_workers, run_workers, save_workers

    settings = build_settings(index_dir=index_dir)
    started = time.perf_counter()
    report = run_workers(
        settings, workers=workers, quick=quick, scale_root=DOC_ROOT, scale_questions=SCALE_QUESTIONS, pages=pages,
        keep=keep, say=lambda line: click.echo(f"[{time.perf_counter() - started:5.0f} s] {line}", err=True),
    )
    saved = save_workers(report, settings.index_dir / "bench")
    click.echo(json.dumps({**report.to_json(), "results_file": str(saved)}) if as_json else render_workers(report))
    click.echo(f"Results: {saved}", err=True)
