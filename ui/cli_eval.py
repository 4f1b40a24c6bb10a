"""`corpusqa eval`: run the question set, grade, print the table, gate on thresholds (evals/)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

__all__ = ["eval_command"]


@click.command()
@index_dir_option
@click.option("--questions", "questions_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Question file (JSON Lines); default: the bundled evals/questions.jsonl.")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which questions to run.")
@click.option("--backend", type=click.Choice(["extractive", "openai"]), default=None, help="Answer backend.")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Ingest this folder into its own index under the index dir and evaluate against it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (metrics, per type, thresholds).")
@click.option("--compare", "compare_previous", is_flag=True, help="Compare with the previous run of the same set.")
@click.option("--fit", "--tune", "tune", is_flag=True,
              help="Refit the answerer leave-one-corpus-out on every eval corpus and write rag/fitted.json.")
@click.option("--no-gate", is_flag=True, help="Report only; exit 0 even when a metric is below its threshold.")
@handle_errors
def eval_command(
    index_dir: Path | None,
    questions_path: Path | None,
    split: str,
    backend: str | None,
    corpus_dir: Path | None,
    as_json: bool,
    compare_previous: bool,
    tune: bool,
    no_gate: bool,
) -> None:
    """Evaluate answers, citations, abstention and retrieval on a question set; gate on thresholds.

    \b
    Example:
        corpusqa eval --split test
        corpusqa eval --split dev --compare
        corpusqa eval --questions my.jsonl --corpus my_docs/ --json
    """
    from evals.gate import check_thresholds, load_thresholds
    from evals.grader import run_eval
    from evals.questions import BUNDLED_QUESTIONS, load_questions
    from evals.report import build_report, compare, previous_run, render_table, save_run
    from rag import Engine

    settings = build_settings(index_dir=index_dir, backend=backend)
    if corpus_dir is not None:
        digest = hashlib.sha256(str(corpus_dir.resolve()).encode()).hexdigest()[:12]
        settings = settings.model_copy(
            update={"index_dir": settings.index_dir / f"eval-{digest}", "corpus_dir": corpus_dir}
        )
    engine = Engine.from_settings(settings)
    if corpus_dir is not None:
        click.echo(engine.ingest([corpus_dir]).summary(), err=True)
    if tune:
        from evals.fit import main as fit

        raise SystemExit(fit([], settings))
    path = questions_path or BUNDLED_QUESTIONS
    questions = load_questions(path, split)
    with click.progressbar(length=len(questions), label="Asking", file=sys.stderr) as bar:
        results = run_eval(engine, questions, on_result=lambda _: bar.update(1))
    checks = check_thresholds(build_report(results, [], {})["metrics"], load_thresholds())
    meta = {"split": split, "questions_file": str(path), "backend": settings.backend, "corpus": str(corpus_dir or settings.corpus_dir)}
    report = build_report(results, checks, meta)
    runs = settings.index_dir / "evals"
    previous = previous_run(runs, report) if compare_previous else None
    saved = save_run(report, runs)
    if as_json:
        slim = {key: value for key, value in report.items() if key != "results"}
        click.echo(json.dumps({**slim, "results_file": str(saved)}))
    else:
        click.echo(render_table(report))
        if compare_previous:
            click.echo(compare(previous, report) if previous else "No previous run of this set to compare with.")
        click.echo(f"Full results: {saved}", err=True)
    if not report["passed"] and not no_gate:
        failed = ", ".join(c.metric for c in checks if not c.passed)
        raise click.ClickException(f"Eval gate failed: {failed} below threshold (evals/thresholds.toml).")
