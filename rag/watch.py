"""Keep the index in step with folders: re-ingest a few seconds after the last write, through watchfiles.

The rules (docs/documents.md, "Watching a folder"):
- Changes are collected until no new one came for `step_ms` (at most `debounce_ms`): a burst of saves,
  or a folder copied in, is one ingest.
- Before ingesting, every changed file must keep its size and modification time for `settle_s`; a file
  still being written is waited for (up to `max_settle_s`, then the rest goes in and the file follows
  with its next write).
- Hidden files (editors' swap files, the page's upload staging), unsupported types and the index
  directory's own files never trigger an ingest; deletions always do.
- Each run is the ordinary incremental ingest (Engine.ingest), committed as one generation, so a
  question asked meanwhile sees the old index or the new one, never a mix.
- A watched folder that is deleted or renamed away is waited for: the index keeps its documents until
  it comes back (then it is ingested again) or until `corpusqa ingest` is run on what replaced it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

from corpusqa.errors import CorpusQAError, IndexBusyError
from corpusqa.types import IngestReport
from ingest.loader import SUPPORTED_SUFFIXES
from ingest.text import nlp
from rag.engine import Engine

__all__ = ["FolderWatcher", "WatchEvent"]

#: How often the watcher wakes when nothing happens, to notice a watched folder deleted or renamed
#: (inotify does not report the watched folder itself going away on every file system).
_TICK_MS = 1000


@dataclass(frozen=True)
class WatchEvent:
    """Something the watcher did: `kind` is "ingested", "waiting", "missing", "back" or "error"."""

    kind: str
    message: str
    report: IngestReport | None = None


class FolderWatcher:
    """Watch files and folders and re-ingest them through `engine` when they change."""

    def __init__(
        self,
        engine: Engine,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        notify: Callable[[WatchEvent], None] | None = None,
        step_ms: int = 400,
        debounce_ms: int = 10_000,
        settle_s: float = 0.5,
        max_settle_s: float = 30.0,
        delete: bool = True,
        keep_unreadable: bool = False,
    ) -> None:
        self.engine = engine
        self.paths = [Path(path).absolute() for path in paths] or [engine.settings.corpus_dir.absolute()]
        self.notify = notify or (lambda event: None)
        self.step_ms, self.debounce_ms = step_ms, debounce_ms
        self.settle_s, self.max_settle_s = settle_s, max_settle_s
        self.runs = 0  # ingests done (the first, catching up, included)
        self.stop_event = threading.Event()
        self.delete, self.keep_unreadable = delete, keep_unreadable
        self._thread: threading.Thread | None = None
        self._index = engine.settings.index_dir.resolve()
        self._default = DefaultFilter()

    # ---- running ---------------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Run in a background thread (the page's `--watch`); `stop()` ends it."""
        self._thread = threading.Thread(target=self.run, name="corpusqa-watch", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the watcher to stop and wait for it (an ingest under way finishes first)."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Ingest once to catch up, then after every change, until `stop_event` is set (or Ctrl+C)."""
        identity = self._identity()
        self._report_missing(identity)
        # Load what an ingest of a changed file needs (the model, spaCy: seconds, more on a busy machine)
        # now, not on the first edit.
        self.engine.embedder.embed_query("warm up")
        nlp()
        pending = True  # the catch-up ingest, run once the watch is set up so no write slips between the two
        while not self.stop_event.is_set():
            present = [path for path, ident in zip(self.paths, identity, strict=True) if ident is not None]
            if not present:
                self.stop_event.wait(_TICK_MS / 1000)
            else:
                pending = self._watch(present, identity, pending)
            now = self._identity()
            if now != identity and not self.stop_event.is_set():
                came_back = [p for p, old, new in zip(self.paths, identity, now, strict=True) if new and new != old]
                self._report_missing(now, identity)
                for path in came_back:
                    self.notify(WatchEvent("back", f"{path} is there again; ingesting it."))
                identity = now
                pending = pending or bool(came_back)

    def _watch(self, present: list[Path], identity: list[tuple[int, int] | None], pending: bool) -> bool:
        """Ingest after each batch of changes until a watched path vanishes or reappears, or a stop.

        Returns whether an ingest is still owed (`pending` and no chance to run it yet).
        """
        try:
            for changes in watch(
                *present,
                watch_filter=self._wanted,
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=self.stop_event,
                rust_timeout=_TICK_MS,
                yield_on_timeout=True,
            ):
                if self._identity() != identity:
                    return pending
                if changes or pending:
                    if changes:
                        self._settle({path for change, path in changes if change != Change.deleted})
                    self._ingest(identity)
                    pending = False
        except (OSError, RuntimeError) as exc:  # the watched folder went away under the watcher
            if not self.stop_event.is_set() and self._identity() == identity:
                self.notify(WatchEvent("error", f"Watching stopped for a moment ({exc}); starting again."))
                self.stop_event.wait(_TICK_MS / 1000)
        return pending

    # ---- what counts as a change ------------------------------------------------------------------

    def _wanted(self, change: Change, path: str) -> bool:
        """A change that may alter the index: a supported file or a folder, not hidden, not the index's own."""
        found = Path(path)
        if found.is_relative_to(self._index) or not self._default(change, path):
            return False
        root = next((p for p in self.paths if found.is_relative_to(p)), None)
        parts = found.relative_to(root).parts if root is not None else (found.name,)
        if any(part.startswith(".") for part in parts):
            return False
        return change == Change.deleted or found.suffix.lower() in SUPPORTED_SUFFIXES or found.is_dir()

    def _settle(self, paths: set[str]) -> None:
        """Wait until none of `paths` changes size or modification time for `settle_s` (at most `max_settle_s`)."""
        waited = 0.0
        before = _stats(paths)
        while not self.stop_event.wait(self.settle_s):
            waited += self.settle_s
            now = _stats(paths)
            if now == before:
                return
            if waited >= self.max_settle_s:
                busy = sorted(path for path in paths if now.get(path) != before.get(path))
                self.notify(WatchEvent("waiting", f"Still being written after {waited:.0f} s: {', '.join(busy[:3])}; ingesting what is there."))
                return
            before = now

    # ---- ingesting ---------------------------------------------------------------------------------

    def _ingest(self, identity: list[tuple[int, int] | None]) -> None:
        """One incremental ingest of the watched paths that exist; an ingest elsewhere is waited for."""
        present = [path for path, ident in zip(self.paths, identity, strict=True) if ident is not None]
        for _ in range(60):
            try:
                report = self.engine.ingest(present, delete=self.delete, keep_unreadable=self.keep_unreadable)
            except IndexBusyError:
                if self.stop_event.wait(1.0):
                    return
                continue
            except CorpusQAError as exc:
                self.notify(WatchEvent("error", str(exc)))
                return
            self.runs += 1
            self.notify(WatchEvent("ingested", report.summary(), report))
            return
        self.notify(WatchEvent("error", "Another ingest held the index for a minute; the watcher tries again at the next change."))

    def _identity(self) -> list[tuple[int, int] | None]:
        """(device, inode) of each watched path, None when it is gone: a rename or re-creation changes it."""
        out: list[tuple[int, int] | None] = []
        for path in self.paths:
            try:
                stat = path.stat()
            except OSError:
                out.append(None)
            else:
                out.append((stat.st_dev, stat.st_ino))
        return out

    def _report_missing(
        self, now: list[tuple[int, int] | None], before: list[tuple[int, int] | None] | None = None
    ) -> None:
        for index, path in enumerate(self.paths):
            if now[index] is None and (before is None or before[index] is not None):
                self.notify(
                    WatchEvent("missing", f"{path} is gone; the index keeps its documents and the watcher waits for it.")
                )


def _stats(paths: set[str]) -> dict[str, tuple[int, int] | None]:
    """Size and modification time of each path (None when it is gone)."""
    out: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            out[path] = None
        else:
            out[path] = (stat.st_size, stat.st_mtime_ns)
    return out
