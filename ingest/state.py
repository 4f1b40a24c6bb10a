"""index_dir/state.json: generation counter, last ingest time, the settings and the documents of the committed index."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corpusqa.errors import DamagedIndexError

__all__ = [
    "IndexState", "Manifest", "ManifestEntry", "clear_clean", "is_clean", "manifest_from_rows", "manifest_rows", "mark_clean",
    "read_state", "remove_path", "repair_state", "write_state",
]

STATE_FILE = "state.json"
#: Written when an ingest has committed and removed every version its generation does not show; removed
#: before the next ingest writes to the store. While it names the current generation, the store holds
#: exactly what state.json lists, so an ingest that finds nothing to change need not open the store.
CLEAN_FILE = "clean.json"


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
    """The state, or None when no ingest has finished here; DamagedIndexError when it cannot be read.

    A damaged file used to read as "no index": the next ingest then restarted the generation counter and
    wrote over it. Now it is reported, and only `corpusqa ingest --repair` replaces it.
    """
    path = index_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        known = {key: data[key] for key in IndexState.__dataclass_fields__ if key in data}
        state = IndexState(**known)
        if not isinstance(state.generation, int) or not isinstance(state.bm25_dir, str):
            raise TypeError("fields of the wrong type")
        if state.documents is not None:
            manifest_from_rows(state.documents)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, IndexError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise DamagedIndexError(
            f"The index state {path} cannot be read ({reason}); run `corpusqa ingest --repair` to rebuild it "
            "from what the index holds."
        ) from exc
    return state


def repair_state(index_dir: Path) -> bool:
    """Set a damaged state.json aside (as state.json.damaged) and write one that makes the next commit
    rebuild the keyword index and manifest from the stored documents; False when there was nothing to repair.

    The generation counter goes on from the highest generation a keyword-index folder still names.
    """
    try:
        read_state(index_dir)
        return False
    except DamagedIndexError:
        pass
    path = index_dir / STATE_FILE
    os.replace(path, path.with_name(STATE_FILE + ".damaged"))
    generations = [int(m.group(1)) for d in index_dir.glob("bm25-*") if (m := re.match(r"bm25-(\d+)-", d.name))]
    write_state(index_dir, IndexState(generation=max(generations, default=0)))
    return True


def write_state(index_dir: Path, state: IndexState) -> None:
    """Replace state.json atomically (write a temp file, fsync, rename)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    state.writer_pid = os.getpid()
    _replace_json(index_dir / STATE_FILE, asdict(state), indent=2)


def mark_clean(index_dir: Path, generation: int) -> None:
    """Record that the store holds exactly generation `generation`'s documents (atomic, fsynced)."""
    _replace_json(index_dir / CLEAN_FILE, {"generation": generation})


def _replace_json(path: Path, data: dict[str, Any], indent: int | None = None) -> None:
    """Replace `path` with `data` as JSON atomically: a temporary file beside it, fsynced, then renamed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def clear_clean(index_dir: Path) -> None:
    """Withdraw the clean mark before an ingest writes to the store (made durable before it returns)."""
    path = index_dir / CLEAN_FILE
    if not path.exists():
        return
    path.unlink()
    folder = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def is_clean(index_dir: Path, generation: int) -> bool:
    """Whether the clean mark names `generation` (any unreadable mark counts as not clean)."""
    try:
        data = json.loads((index_dir / CLEAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generation") == generation and generation > 0


def state_mtime(index_dir: Path) -> float:
    """Modification time of state.json (0 when absent): a cheap check for a newer generation."""
    try:
        return (index_dir / STATE_FILE).stat().st_mtime_ns / 1e9
    except OSError:
        return 0.0


def remove_path(path: Path) -> None:
    """Delete a file or folder if it exists (used for derived state)."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
