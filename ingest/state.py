"""index_dir/state.json: generation counter, last ingest time, the settings and the documents of the committed index."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["IndexState", "Manifest", "ManifestEntry", "manifest_from_rows", "manifest_rows", "read_state", "write_state"]

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ManifestEntry:
    """The version of one document that a committed generation shows."""

    source: str
    hash: str
    signature: str
    chunks: int
    root: str


#: source -> the version a generation shows; what questions and `status` read.
Manifest = dict[str, ManifestEntry]


def manifest_rows(manifest: Manifest) -> list[list[Any]]:
    """The manifest as JSON-ready rows, sorted by source."""
    return [[e.source, e.hash, e.signature, e.chunks, e.root] for _, e in sorted(manifest.items())]


def manifest_from_rows(rows: list[list[Any]]) -> Manifest:
    """Inverse of manifest_rows."""
    return {str(r[0]): ManifestEntry(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in rows}


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
    # the committed documents (manifest_rows); None in a state written before manifests existed
    documents: list[list[Any]] | None = None


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
