"""`corpusqa eval`: run the question set, grade, print the table, gate on thresholds (evals/)."""

from __future__ import annotations

from pathlib import Path

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

__all__ = ["eval_command"]


@click.command()
@index_dir_option
@handle_errors
def eval_command(index_dir: Path | None) -> None:
    """Evaluate answers and retrieval on a question set.

    \b
    Example:
        corpusqa eval --split test
    """
    raise click.ClickException("The eval suite is not built yet.")
