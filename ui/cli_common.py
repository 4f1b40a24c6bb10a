"""Pieces every `corpusqa` subcommand shares: settings from flags, error mapping, --index-dir."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings, load_settings

__all__ = ["build_settings", "handle_errors", "index_dir_option"]

F = TypeVar("F", bound=Callable[..., Any])


def build_settings(**overrides: Any) -> Settings:
    """Settings from the environment with CLI flags on top; a bad value is a usage error (exit 2)."""
    try:
        return load_settings(**overrides)
    except CorpusQAError as exc:
        raise click.BadParameter(str(exc)) from exc


def handle_errors(func: F) -> F:
    """Turn CorpusQAError into one line and exit 1; unexpected errors too, unless debugging."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CorpusQAError as exc:
            raise click.ClickException(str(exc)) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debugging():
                raise
            raise click.ClickException(
                f"Unexpected error ({exc.__class__.__name__}: {exc}); rerun with CORPUSQA_DEBUG=1 for the traceback."
            ) from exc

    return wrapper  # type: ignore[return-value]


def _debugging() -> bool:
    try:
        return load_settings().debug
    except CorpusQAError:
        return False


def index_dir_option(func: F) -> F:
    """--index-dir, shared by every command."""
    return click.option(
        "--index-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Index directory (default .corpusqa; env CORPUSQA_INDEX_DIR).",
    )(func)
