"""The `corpusqa` command: ingest, ask, search, status, ui, mcp, eval, bench. Each body builds Settings, calls Engine, echoes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from corpusqa.errors import CorpusQAError
from corpusqa.offline import enforce_offline
from ui.cli_bench import bench
from ui.cli_chat import chat, echo_answer
from ui.cli_common import build_settings, handle_errors, index_dir_option
from ui.cli_eval import eval_command
from ui.cli_search import mcp, search
from ui.cli_ui import ui
from ui.cli_watch import watch_folders

if TYPE_CHECKING:
    from rag import Engine

__all__ = ["cli", "main"]

# what became of a skipped file's indexed version, as the report line says it
_OUTCOMES = {
    "removed": "; its indexed version was removed",
    "kept": "; its indexed version was kept (--keep-unreadable)",
}
_DRY_OUTCOMES = {
    "removed": "; its indexed version would be removed",
    "kept": "; its indexed version would be kept (--keep-unreadable)",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corpusqa")
def cli() -> None:
    """Ask questions about your documents; answers cite the passages they come from."""
    enforce_offline()


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--dry-run", is_flag=True, help="Say what would change without touching the index.")
@click.option("--no-delete", is_flag=True, help="Keep chunks of files that vanished from an ingested folder.")
@click.option(
    "--keep-unreadable",
    is_flag=True,
    help="Keep the indexed version of a file that became empty, binary or unreadable (default: remove it).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Rewrite a damaged state.json from what the index holds (the damaged file is kept beside it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
@click.option("--chunk-tokens", type=int, default=None, help="Target chunk size in tokens (CORPUSQA_CHUNK_TOKENS).")
@click.option("--watch", is_flag=True, help="Keep watching; re-ingest a few seconds after files change (Ctrl+C stops).")
@handle_errors
def ingest(
    paths: tuple[Path, ...],
    index_dir: Path | None,
    dry_run: bool,
    no_delete: bool,
    keep_unreadable: bool,
    repair: bool,
    as_json: bool,
    chunk_tokens: int | None,
    watch: bool,
) -> None:
    """Ingest files and folders (default: data/corpus) into the index, incrementally.

    Files in the corpus folder are named by their path inside it; files of any other folder
    by that folder's name and their path inside it (projA/README.md).

    \b
    Example:
        corpusqa ingest data/corpus
        corpusqa ingest --dry-run notes/ report.pdf
        corpusqa ingest --watch notes/
    """
    from rag import Engine
    from ui.progress import ingest_progress

    settings = build_settings(index_dir=index_dir, chunk_tokens=chunk_tokens)
    engine = Engine.from_settings(settings)
    if watch:
        if dry_run:
            raise click.BadParameter("--watch changes the index; drop --dry-run (or --watch).")
        watch_folders(engine, list(paths), as_json=as_json, delete=not no_delete, keep_unreadable=keep_unreadable)
        return
    with ingest_progress(enabled=not as_json and sys.stderr.isatty()) as progress:
        report = engine.ingest(
            list(paths),
            dry_run=dry_run,
            delete=not no_delete,
            keep_unreadable=keep_unreadable,
            repair=repair,
            progress=progress,
        )
    if as_json:
        click.echo(json.dumps(report.to_json()))
        return
    for item in report.skipped:
        outcome = (_DRY_OUTCOMES if dry_run else _OUTCOMES).get(item.outcome, "")
        click.echo(f"{'would skip' if dry_run else 'skipped'} {item.path}: {item.reason}{outcome}", err=True)
    if dry_run:
        for label, names in (("new", report.added), ("changed", report.updated), ("unchanged", report.unchanged), ("deleted", report.deleted)):
            for name in names:
                click.echo(f"{label:9} {name}")
    click.echo(report.summary(), err=not dry_run)


@cli.command()
@click.argument("question", required=False)
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (JSON Lines with --questions-file).")
@click.option("--questions-file", type=click.File("r", encoding="utf-8"), default=None, help="One question a line.")
@click.option("--backend", type=click.Choice(["extractive", "openai"]), default=None, help="Answer backend.")
@click.option("--top-k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve.")
@handle_errors
def ask(
    question: str | None, index_dir: Path | None, as_json: bool, questions_file: Any, backend: str | None, top_k: int | None
) -> None:
    """Answer a question from the indexed documents, with citations.

    \b
    Example:
        corpusqa ask "How many Taliban prisoners were held in total?"
        corpusqa ask --json --questions-file questions.txt
    """
    from rag import Engine

    if questions_file is None and question is None:
        raise click.UsageError("Give a QUESTION or --questions-file FILE.")
    settings = build_settings(index_dir=index_dir, backend=backend, top_k=top_k)
    engine = Engine.from_settings(settings)
    if question is not None:
        _answer_one(engine, question, as_json)
        return
    failed = 0
    for line in questions_file:
        if not line.strip():
            continue
        try:
            _answer_one(engine, line.strip(), as_json)
        except CorpusQAError as exc:  # one bad line is reported; the others are still answered
            failed += 1
            if as_json:
                click.echo(json.dumps({"question": line.strip(), "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"Error: {exc}", err=True)
    if failed:
        raise click.ClickException(f"{failed} question{'s' if failed > 1 else ''} could not be answered; see above.")


def _answer_one(engine: Engine, question: str, as_json: bool) -> None:
    """Print one answer: JSON, streamed text (openai backend) or the rendered answer with sources."""
    echo_answer(engine, question, as_json)


@cli.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def status(index_dir: Path | None, as_json: bool) -> None:
    """Show what is indexed: documents, chunks, model, location, last ingest.

    \b
    Example:
        corpusqa status --json
    """
    from rag import Engine
    from ui.render import render_status

    engine = Engine.from_settings(build_settings(index_dir=index_dir))
    result = engine.status()
    click.echo(json.dumps(result.to_json()) if as_json else render_status(result))


def main() -> None:
    """Console-script entry point."""
    cli()


cli.add_command(eval_command, name="eval")
cli.add_command(bench)
cli.add_command(chat)
cli.add_command(ui)
cli.add_command(search)
cli.add_command(mcp)
