"""The private view of a read-only Chroma folder, and the views killed processes leave behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ingest.chroma_paths import read_only_copy


def test_a_read_only_view_is_named_by_its_process_and_removes_views_of_ended_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    index = tmp_path / "chroma"
    (index / "segment").mkdir(parents=True)
    (index / "chroma.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    orphan = temp / f"corpusqa-readonly-{int(ended.stdout)}-abcd1234"  # a killed process's view: atexit never ran
    orphan.mkdir()
    (orphan / "chroma.sqlite3").write_bytes(b"stale copy")
    running = temp / f"corpusqa-readonly-{os.getppid()}-efgh5678"  # a view still in use
    running.mkdir()
    unnamed = temp / "corpusqa-readonly-q1w2e3r4"  # an older release's view: whose it is cannot be told
    unnamed.mkdir()

    view = Path(read_only_copy(index))

    assert view.parent == temp and view.name.startswith(f"corpusqa-readonly-{os.getpid()}-")
    assert (view / "chroma.sqlite3").read_bytes() == (index / "chroma.sqlite3").read_bytes()
    assert (view / "segment").is_symlink() and (view / "segment").resolve() == (index / "segment").resolve()
    assert not orphan.exists()
    assert running.is_dir() and unnamed.is_dir()
