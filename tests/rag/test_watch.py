"""The folder watcher (rag/watch.py) on a real folder, with the real model and index: edits, deletes, bursts."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corpusqa.settings import Settings, load_settings
from rag import Engine
from rag.watch import FolderWatcher, WatchEvent

FIRST = "The harbour crane was painted green in the spring of 1987 by a crew of four."
EDITED = "The harbour crane was repainted bright orange in the autumn of 2003 by volunteers."
OTHER = "Apple orchards on the northern slope flower in late April after the frost."


def _until(check: Callable[[], bool], seconds: float) -> float:
    """Poll `check` until it holds; returns the seconds it took (fails after `seconds`)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not done within {seconds:.0f} s")


@pytest.fixture
def watched(tmp_path: Path, embedder: Any) -> Iterator[tuple[Engine, Path, FolderWatcher, list[WatchEvent]]]:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "crane.md").write_text(f"# Crane\n\n{FIRST}\n", encoding="utf-8")
    (folder / "orchard.txt").write_text(f"{OTHER}\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=folder)
    engine = Engine(settings, embedder)
    embedder.embed_query("load the model")  # once per session, outside the timed parts
    events: list[WatchEvent] = []
    watcher = FolderWatcher(engine, [folder], notify=events.append)
    watcher.start()
    _until(lambda: watcher.runs >= 1, 60)  # the catch-up ingest
    yield engine, folder, watcher, events
    watcher.stop()
    assert watcher._thread is not None and not watcher._thread.is_alive()


def _cited(engine: Engine, question: str) -> str:
    answer = engine.ask(question)
    return " ".join(citation.text for citation in answer.citations)


def test_watch_an_edit_is_answered_within_15_seconds(watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]]) -> None:
    engine, folder, _, _ = watched
    assert "green" in _cited(engine, "What colour was the harbour crane painted?")
    (folder / "crane.md").write_text(f"# Crane\n\n{EDITED}\n", encoding="utf-8")
    _until(lambda: "orange" in _cited(engine, "What colour was the harbour crane repainted?"), 15)


def test_watch_a_deleted_file_is_no_longer_cited(watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]]) -> None:
    engine, folder, _, _ = watched
    assert engine.search("harbour crane painted").results[0].source == "crane.md"
    (folder / "crane.md").unlink()
    _until(lambda: all(hit.source != "crane.md" for hit in engine.search("harbour crane painted").results), 15)
    assert [doc.source for doc in engine.status().documents] == ["orchard.txt"]


def test_watch_a_burst_of_200_files_is_one_or_a_few_ingests(
    watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]],
) -> None:
    engine, folder, watcher, events = watched
    before = watcher.runs
    (folder / "burst").mkdir()
    for number in range(200):  # as fast as Python writes them: one burst
        text = f"Gauge {number} on the weir read {number * 7 + 3} centimetres at noon on day {number % 28 + 1}.\n"
        (folder / "burst" / f"gauge_{number:03d}.txt").write_text(text, encoding="utf-8")
    _until(lambda: len(engine.status().documents) == 202, 120)
    _until(lambda: watcher.runs > before, 10)  # the run that committed them has reported
    time.sleep(2)
    runs = watcher.runs - before
    assert 1 <= runs <= 3, [event.message for event in events]


def test_watch_skips_hidden_and_unsupported_files(watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]]) -> None:
    _, folder, watcher, _ = watched
    before = watcher.runs
    (folder / ".crane.md.swp").write_bytes(b"\x00swap")
    (folder / "picture.bin").write_bytes(b"\x00\x01")
    time.sleep(3)
    assert watcher.runs == before


def test_watch_waits_for_a_file_still_being_written(
    watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]],
) -> None:
    engine, folder, _, events = watched
    with (folder / "growing.txt").open("w", encoding="utf-8") as handle:
        for number in range(8):  # a write every 0.3 s: never quiet for the watcher's settle time
            handle.write(f"Line {number} of a slowly written log about lighthouse keepers. ")
            handle.flush()
            time.sleep(0.3)
        handle.write("The last keeper left the rock in 1962.\n")
    _until(lambda: "growing.txt" in {doc.source for doc in engine.status().documents}, 20)
    time.sleep(2)
    text = engine.document("growing.txt").text()
    assert "1962" in text
    reports = [event.report for event in events if event.report is not None]
    # ingested once, complete: never added half-written and then updated
    assert sum("growing.txt" in report.added for report in reports) == 1
    assert not any("growing.txt" in report.updated for report in reports)


def test_watch_survives_its_folder_deleted_and_restored(
    watched: tuple[Engine, Path, FolderWatcher, list[WatchEvent]], tmp_path: Path
) -> None:
    engine, folder, watcher, events = watched
    keep = tmp_path / "kept"
    shutil.move(folder, keep)  # renamed away
    _until(lambda: any(event.kind == "missing" for event in events), 10)
    assert len(engine.status().documents) == 2  # the index keeps its documents meanwhile
    (keep / "crane.md").write_text(f"# Crane\n\n{EDITED}\n", encoding="utf-8")
    shutil.move(keep, folder)  # back, changed
    _until(lambda: "orange" in _cited(engine, "What colour was the harbour crane repainted?"), 20)
    (folder / "orchard.txt").unlink()  # and the watcher watches the restored folder
    _until(lambda: [doc.source for doc in engine.status().documents] == ["crane.md"], 15)
    assert watcher._thread is not None and watcher._thread.is_alive()


def test_watch_ignores_the_index_inside_the_folder(tmp_path: Path, embedder: Any) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "orchard.txt").write_text(f"{OTHER}\n", encoding="utf-8")
    settings: Settings = load_settings(index_dir=folder / "index", corpus_dir=folder)
    embedder.embed_query("load the model")
    watcher = FolderWatcher(Engine(settings, embedder), [folder])
    watcher.start()
    try:
        _until(lambda: watcher.runs >= 1, 60)
        time.sleep(3)  # the ingest wrote into folder/index: that must not start another
        assert watcher.runs == 1
    finally:
        watcher.stop()
