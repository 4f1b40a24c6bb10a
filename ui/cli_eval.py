"""`corpusqa eval`: run the eval corpora (or one question file), grade, print tables, gate on thresholds."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

if TYPE_CHECKING:
    from corpusqa.settings import Settings
    from evals.suite import CorpusRun
    from rag.jitter import Jitter

__all__ = ["eval_command"]


@click.command()
@index_dir_option
@click.option("--corpus", "corpus_args", multiple=True, metavar="NAME|DIR",
              help="Eval corpus to run (repeatable): a name under evals/corpora, or a folder laid out like one "
                   "(docs/, questions.jsonl, gate.toml). Default: every corpus. With --questions: the folder "
                   "of documents to ingest into its own index.")
@click.option("--questions", "questions_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Run one question file (JSON Lines) instead of the corpora, against the index (or --corpus DIR); "
                   "gated by a gate.toml beside it, if there is one.")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Which questions to run.")
@click.option("--backend", type=click.Choice(["extractive", "openai"]), default=None, help="Answer backend.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (macro metrics, per corpus, thresholds).")
@click.option("--compare", "compare_previous", is_flag=True, help="Compare with the previous run of the same set.")
@click.option("--fit", "--tune", "tune", is_flag=True,
              help="Refit the answerer leave-one-corpus-out on every eval corpus and write rag/fitted.json.")
@click.option("--no-gate", is_flag=True, help="Report only; exit 0 even when a metric is outside its threshold.")
@click.option("--jitter", type=click.IntRange(0, 50), default=0, show_default=True, metavar="N",
              help="Rerun each corpus N more times with embeddings and features perturbed as on another machine; "
                   "report flipped decisions and each gated metric's spread, and gate every rerun too.")
@click.option("--jitter-size", default="precision", show_default=True, metavar="NAME|SD",
              help="The perturbation: a size measured by `python -m evals.jitter_size` (precision, batch, threads) "
                   "or a standard deviation per vector component.")
@handle_errors
def eval_command(
    index_dir: Path | None,
    corpus_args: tuple[str, ...],
    questions_path: Path | None,
    split: str,
    backend: str | None,
    as_json: bool,
    compare_previous: bool,
    tune: bool,
    no_gate: bool,
    jitter: int,
    jitter_size: str,
) -> None:
    """Evaluate answers, citations, abstention and retrieval on the eval corpora; gate each on its thresholds.

    \b
    Example:
        corpusqa eval --split test
        corpusqa eval --corpus sqlite-docs --split dev --compare
        corpusqa eval --questions my.jsonl --corpus my_docs/ --json
        corpusqa eval --split test --jitter 5
    """
    from evals.report import build_suite_report, compare, previous_run, render_suite, save_run

    settings = build_settings(index_dir=index_dir, backend=backend)
    if tune:
        from evals.fit import main as fit

        raise SystemExit(fit([], settings))
    machines = _machines(jitter, jitter_size)
    if questions_path is not None:
        if len(corpus_args) > 1:
            raise click.BadParameter("give at most one documents folder with --questions.", param_hint="--corpus")
        runs = _run_question_file(settings, questions_path, corpus_args[0] if corpus_args else None, split, machines)
    else:
        runs = _run_corpora(settings, list(corpus_args), split, machines)
    meta: dict[str, Any] = {"split": split, "backend": settings.backend}
    if machines:
        meta |= {"jitter": len(machines), "jitter_size": jitter_size}
    report = build_suite_report(runs, meta)
    folder = settings.index_dir / "evals"
    previous = previous_run(folder, report) if compare_previous else None
    saved = save_run(report, folder)
    if as_json:
        slim = {key: value for key, value in report.items() if key != "results"}
        click.echo(json.dumps({**slim, "results_file": str(saved)}))
    else:
        click.echo(render_suite(report))
        if compare_previous:
            click.echo(compare(previous, report) if previous else "No previous run of this set to compare with.")
        click.echo(f"Full results: {saved}", err=True)
    if not report["passed"] and not no_gate:
        failed = ", ".join(
            [f"{c['corpus']} {c['metric']}" for c in report["thresholds"] if not c["passed"]]
            + [f"{name} {miss}" for name, one in report["corpora"].items() for miss in one.get("jitter", {}).get("gate_failures", [])]
        )
        raise click.ClickException(f"Eval gate failed: {failed} outside its threshold (the corpus's gate.toml).")


def _machines(count: int, size: str) -> list[Jitter]:
    """The simulated machines of --jitter (none for 0); a bad --jitter-size is a usage error."""
    from evals.jitter import SIZES, jitters

    if count == 0:
        return []
    try:
        return jitters(count, size)
    except ValueError as exc:
        raise click.BadParameter(f"use one of {', '.join(SIZES)} or a number.", param_hint="--jitter-size") from exc


def _run_corpora(settings: Settings, names: list[str], split: str, machines: list[Jitter]) -> list[CorpusRun]:
    from evals.corpora import corpus_names, load_corpus, load_corpus_dir
    from evals.suite import run_suite

    corpora = [
        load_corpus_dir(Path(name), split) if Path(name).is_dir() and name not in corpus_names() else load_corpus(name, split)
        for name in (names or corpus_names())
    ]
    total = sum(len(q.wordings) for c in corpora for q in c.questions) * (1 + len(machines))
    with click.progressbar(length=total, label="Asking", file=sys.stderr) as bar:
        return run_suite(
            settings,
            corpora,
            on_corpus=lambda corpus, ingest: click.echo(f"\n{corpus.name}: {_ingest_line(ingest)}", err=True),
            on_result=lambda _: bar.update(1),
            machines=machines,
        )


def _run_question_file(
    settings: Settings, path: Path, documents: str | None, split: str, machines: list[Jitter]
) -> list[CorpusRun]:
    from evals.corpora import EvalCorpus
    from evals.gate import load_thresholds
    from evals.questions import load_questions
    from evals.suite import evaluate
    from rag import Engine

    ingest: dict[str, Any] = {}
    if documents is not None:
        folder = Path(documents)
        if not folder.is_dir():
            raise click.BadParameter(f"{documents} is not a folder.", param_hint="--corpus")
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        settings = settings.model_copy(update={"index_dir": settings.index_dir / f"eval-{digest}", "corpus_dir": folder})
    engine = Engine.from_settings(settings)
    if documents is not None:
        ingest = engine.ingest([settings.corpus_dir]).to_json()
        click.echo(_ingest_line(ingest), err=True)
    gate_file = path.parent / "gate.toml"
    corpus = EvalCorpus(
        name=path.stem,
        folder=path.parent,
        documents=settings.corpus_dir,
        questions=load_questions(path, split),
        gate=load_thresholds(gate_file) if gate_file.is_file() else {"min": {}, "max": {}},
        split=split,
        questions_file=path,
    )
    total = sum(len(q.wordings) for q in corpus.questions) * (1 + len(machines))
    with click.progressbar(length=total, label="Asking", file=sys.stderr) as bar:
        return [evaluate(engine, corpus, on_result=lambda _: bar.update(1), ingest=ingest, machines=machines)]


def _ingest_line(ingest: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in ingest.items() if key in ("added", "updated", "unchanged", "deleted", "chunks"))
