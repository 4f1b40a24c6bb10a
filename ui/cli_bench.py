"""`corpusqa bench`: speed, memory and retrieval quality against a plain llama-index pipeline (evals/bench.py)."""

from __future__ import annotations

from pathlib import Path

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

__all__ = ["bench"]


@click.command()
@index_dir_option
@click.option("--quick", is_flag=True, help="A small variant that make test can afford.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def bench(index_dir: Path | None, quick: bool, as_json: bool) -> None:
    """Measure ingest and answer speed, memory and retrieval quality.

    \b
    Example:
        corpusqa bench --quick
    """
    raise click.ClickException("The benchmark is not built yet.")
