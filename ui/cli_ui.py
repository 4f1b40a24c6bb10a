"""`corpusqa ui`: the chat page (ui/web.py)."""

from __future__ import annotations

from pathlib import Path

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

__all__ = ["ui"]


@click.command()
@index_dir_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; CORPUSQA_UI_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 7860; CORPUSQA_UI_PORT).")
@handle_errors
def ui(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Start the chat page over the index.

    \b
    Example:
        corpusqa ui --port 7860
    """
    raise click.ClickException("The chat page is not built yet.")
