"""`corpusqa chat`: an interactive conversation in the terminal; follow-ups lean on the earlier turns."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corpusqa.errors import CorpusQAError
from ui.cli_common import build_settings, handle_errors, index_dir_option

if TYPE_CHECKING:
    from corpusqa.types import Answer
    from rag import Engine
    from rag.conversation import Turn

__all__ = ["chat", "echo_answer"]

_PROMPT = "> "
_HELP = "Ask a question; follow-ups may say 'he', 'it' or 'and in 2019?'. /new starts over, Ctrl-D quits."


def echo_answer(engine: Engine, question: str, as_json: bool, history: Sequence[Turn] = ()) -> Answer:
    """Print one answer as `corpusqa ask` does (JSON, streamed text for the openai backend, or rendered) and return it."""
    from ui.render import render_answer

    if as_json:
        answer = engine.ask(question, history=history)
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
        return answer
    if engine.settings.backend == "openai":
        streamed: Answer | None = None
        for event in engine.stream(question, history=history):
            if isinstance(event, str):
                click.echo(event, nl=False)
            else:
                streamed = event
        click.echo()
        assert streamed is not None
        click.echo("\n".join(render_answer(streamed, streamed=True).splitlines()[1:]))
        return streamed
    answer = engine.ask(question, history=history)
    click.echo(render_answer(answer))
    return answer


@click.command()
@index_dir_option
@click.option("--backend", type=click.Choice(["extractive", "openai"]), default=None, help="Answer backend.")
@click.option("--top-k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per turn (as `ask --json`).")
@handle_errors
def chat(index_dir: Path | None, backend: str | None, top_k: int | None, as_json: bool) -> None:
    """Talk with the documents: each question may follow up on the earlier ones.

    Questions are read one a line; the history is kept until /new or the end (Ctrl-D, /quit).
    Each follow-up is searched as a question that stands alone, shown as "Searched for: ...".

    \b
    Example:
        corpusqa chat
        > Who is Mark Frerichs?
        > Where was he captured?
        printf 'Who is Mark Frerichs?\\nWhere was he captured?\\n' | corpusqa chat --json
    """
    from rag import Engine
    from rag.conversation import turn_from_answer

    settings = build_settings(index_dir=index_dir, backend=backend, top_k=top_k)
    engine = Engine.from_settings(settings)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(_HELP, err=True)
    history: list[Turn] = []
    while True:
        if interactive:
            click.echo(_PROMPT, nl=False, err=True)
        line = sys.stdin.readline()
        if not line:  # Ctrl-D or the end of piped input
            if interactive:
                click.echo(err=True)
            return
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return
        if question == "/new":
            history = []
            click.echo("(new conversation)", err=True)
            continue
        try:
            answer = echo_answer(engine, question, as_json, history)
        except CorpusQAError as exc:  # a bad turn is reported; the conversation goes on
            if as_json:
                click.echo(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"Error: {exc}", err=True)
            continue
        history.append(turn_from_answer(answer))
        if not as_json:
            click.echo()
