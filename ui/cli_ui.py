"""`corpusqa ui`: the chat page (ui/web.py) and the HTTP API (ui/api.py) on one local port."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corpusqa.errors import CorpusQAError
from ui.cli_common import build_settings, handle_errors, index_dir_option
from ui.cli_watch import start_watcher

if TYPE_CHECKING:
    from rag import Engine

__all__ = ["ui"]


@click.command()
@index_dir_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; CORPUSQA_UI_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 7860; CORPUSQA_UI_PORT).")
@click.option("--watch", is_flag=True, help="Re-ingest the corpus folder a few seconds after its files change.")
@handle_errors
def ui(index_dir: Path | None, host: str | None, port: int | None, watch: bool) -> None:
    """Start the chat page over the index (never a public share link).

    \b
    With CORPUSQA_UI_AUTH or CORPUSQA_API_KEY set, the page, the API and MCP all
    need a login. Keep the default 127.0.0.1 unless a TLS proxy is in front.

    \b
    Example:
        corpusqa ui --port 7860
        CORPUSQA_UI_AUTH=me:secret corpusqa ui
        corpusqa ui --watch
    """
    from rag import Engine
    from ui.server import bind, serve

    settings = build_settings(index_dir=index_dir, ui_host=host, ui_port=port)
    engine = Engine.from_settings(settings)
    try:
        status = engine.status()
    except CorpusQAError as exc:
        click.echo(f"{exc} The page starts anyway: its Documents tab can ingest {settings.corpus_dir}.", err=True)
    else:
        click.echo(f"Index: {len(status.documents)} documents, {status.chunks} chunks in {status.location}", err=True)
        if status.chunks:
            _warm_up(engine)
        else:
            click.echo(f"The index is empty: add documents on the page's Documents tab, or to {settings.corpus_dir}.", err=True)
    sock = bind(settings)
    if settings.ui_host not in ("127.0.0.1", "localhost", "::1"):
        if not settings.ui_auth and not settings.api_key:
            click.echo(
                "Warning: the page, the HTTP API (/v1) and MCP (/mcp) are reachable from other machines without a "
                "password; set CORPUSQA_UI_AUTH or CORPUSQA_API_KEY.",
                err=True,
            )
        click.echo("Note: the server speaks plain HTTP; put a TLS proxy in front of it for other machines.", err=True)
        if settings.ui_host in ("0.0.0.0", "::") and not settings.host_names:
            click.echo(
                "Note: only loopback names are accepted in the Host header; list the names people use in CORPUSQA_ALLOWED_HOSTS.",
                err=True,
            )
    auth = " (password required)" if settings.ui_auth else ""
    click.echo(f"Chat page on http://{_url_host(settings.ui_host)}:{settings.ui_port}/{auth}; Ctrl+C stops it.", err=True)
    watcher = start_watcher(engine) if watch else None
    try:
        serve(engine, settings, sock)  # returns once stopped (Ctrl+C, SIGTERM)
    finally:
        if watcher is not None:
            watcher.stop()
    click.echo("Stopped.", err=True)
    sys.stderr.flush()


def _warm_up(engine: Engine) -> None:
    """Load the model and the index now, so the first question is not the slow one."""
    try:
        engine.warm_up()
    except CorpusQAError as exc:
        click.echo(str(exc), err=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
