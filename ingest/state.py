"""index_dir/state.json: generation counter, last ingest time and the settings the index was built with."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["IndexState", "read_state", "write_state"]

STATE_FILE = "state.json"


@dataclass
class IndexState:
    """Written atomically after every ingest that changed the index."""

    generation: int = 0
    last_ingest: str | None = None
    embedding_model: str = ""
    chunk_tokens: int = 0
    bm25_dir: str = ""
    # the process that wrote it: a reader in another process must reopen Chroma to see the writes
    writer_pid: int = 0


def read_state(index_dir: Path) -> IndexState | None:
    """The state, or None when no ingest has finished here."""
    path = index_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    known = {key: data[key] for key in IndexState.__dataclass_fields__ if key in data}
    return IndexState(**known)


def write_state(index_dir: Path, state: IndexState) -> None:
    """Replace state.json atomically (write a temp file, fsync, rename)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    state.writer_pid = os.getpid()
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".state-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / STATE_FILE)


def state_mtime(index_dir: Path) -> float:
    """Modification time of state.json (0 when absent): a cheap check for a newer generation."""
    try:
        return (index_dir / STATE_FILE).stat().st_mtime_ns / 1e9
    except OSError:
        return 0.0
