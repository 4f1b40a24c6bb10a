"""`corpusqa ingest --watch` and `corpusqa ui --watch`: the folder watcher (rag/watch.py) from the terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rag import Engine
    from rag.watch import FolderWatcher, WatchEvent

__all__ = ["start_watcher", "watch_folders"]


def _printer(as_json: bool = False) -> Callable[[WatchEvent], None]:
    def notify(event: WatchEvent) -> None:
        if as_json and event.report is not None:
            click.echo(json.dumps(event.report.to_json()))
            return
        click.echo(f"{time.strftime('%H:%M:%S')} {event.message}", err=True)
        if event.report is not None:
            for item in event.report.skipped:
                click.echo(f"  skipped {item.path}: {item.reason}", err=True)

    return notify


def watch_folders(engine: Engine, paths: list[Path], *, as_json: bool, delete: bool, keep_unreadable: bool) -> None:
    """Ingest, then keep the index in step with `paths` until Ctrl+C."""
    from rag.watch import FolderWatcher

    watcher = FolderWatcher(engine, paths, notify=_printer(as_json), delete=delete, keep_unreadable=keep_unreadable)
    shown = ", ".join(str(path) for path in watcher.paths)
    click.echo(f"Watching {shown}; changes are ingested a few seconds after the last write. Ctrl+C stops.", err=True)
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass  # an ingest cut short leaves the last committed generation whole
    click.echo("Stopped.", err=True)


def start_watcher(engine: Engine) -> FolderWatcher:
    """Watch the corpus folder in the background of `corpusqa ui --watch`; stop it with `.stop()`."""
    from rag.watch import FolderWatcher

    watcher = FolderWatcher(engine, [engine.settings.corpus_dir], notify=_printer())
    click.echo(f"Watching {watcher.paths[0]}: changes are ingested a few seconds after the last write.", err=True)
    watcher.start()
    return watcher
