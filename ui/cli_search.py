"""`corpusqa search` (passages with their best sentence) and `corpusqa mcp` (the MCP server over stdio)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ui.cli_common import build_settings, handle_errors, index_dir_option

if TYPE_CHECKING:
    from corpusqa.types import SearchResult

__all__ = ["mcp", "render_search", "search"]


@click.command()
@click.argument("query")
@index_dir_option
@click.option("--top-k", type=click.IntRange(1, 50), default=None, help="Passages to return (CORPUSQA_TOP_K).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def search(query: str, index_dir: Path | None, top_k: int | None, as_json: bool) -> None:
    """Find the passages that best match QUERY, each with its best sentence highlighted.

    \b
    Example:
        corpusqa search "Taliban prisoners held in total"
        corpusqa search --json --top-k 3 "prisoner release"
    """
    from rag import Engine

    settings = build_settings(index_dir=index_dir, top_k=top_k)
    result = Engine.from_settings(settings).search(query, settings.top_k)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    render_search(result, sys.stdout)


def render_search(result: SearchResult, file: Any) -> None:
    """The hits for humans: source, lines, title, then the passage with its best sentence marked »like this«.

    Drawn with rich: on a terminal the sentence is also bold yellow and the rest of the passage dimmed;
    elsewhere (a pipe, a file) the same text comes out plain.
    """
    from rich.console import Console
    from rich.text import Text

    from corpusqa.types import kind_label

    console = Console(file=file, highlight=False, soft_wrap=False, width=None if file.isatty() else 100)
    if not result.results:
        console.print("No passages found.")
    for hit in result.results:
        kind = kind_label(hit.kind)
        head = Text(f"[{hit.id}] ", style="bold")
        head.append(hit.source, style="cyan")
        head.append(f", lines {hit.start_line}-{hit.end_line} ({kind}): ")
        head.append(hit.title or hit.source, style="bold")
        head.append(f"  score {hit.score:.4f}", style="dim")
        console.print(head, soft_wrap=True)
        for line in _passage(" ".join(hit.text.split()), " ".join(hit.highlight.split()), console.width):
            console.print(line)
        console.print()
    t = result.timings
    console.print(
        f"({len(result.results)} passages in {result.seconds * 1000:.0f} ms: embedding {t.embedding * 1000:.0f} ms, "
        f"retrieval {t.retrieval * 1000:.0f} ms, highlighting {t.answering * 1000:.0f} ms)",
        style="dim",
    )


def _passage(text: str, sentence: str, width: int) -> list[Any]:
    """The passage wrapped and indented, the sentence between » « and styled (it may span lines)."""
    import textwrap

    from rich.text import Text

    at = text.find(sentence) if sentence else -1
    marked = f"{text[:at]}»{sentence}«{text[at + len(sentence):]}" if at >= 0 else text
    lines: list[Any] = []
    inside = False
    for line in textwrap.wrap(marked, width=max(40, width - 4)):
        styled = Text("    ")
        for piece in re.split("([»«])", line):
            if piece == "»":
                inside = True
            styled.append(piece, style="bold yellow" if inside else "dim")
            if piece == "«":
                inside = False
        lines.append(styled)
    return lines


@click.command()
@index_dir_option
@handle_errors
def mcp(index_dir: Path | None) -> None:
    """Serve ask, search and status to AI assistants and editors over MCP (stdio).

    Nothing but the protocol goes to stdout; diagnostics go to stderr. Register the command in the
    client's configuration (see README) rather than running it by hand.

    \b
    Example:
        corpusqa mcp --index-dir ~/notes/.corpusqa
    """
    from ui.mcp_server import serve_stdio

    serve_stdio(build_settings(index_dir=index_dir))
