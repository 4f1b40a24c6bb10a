"""Where an embedded Chroma is opened from: a read-only folder through a private copy, a reopen under a new
spelling of its path (chromadb caches one System per path)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

__all__ = ["fresh_path", "has_database", "read_only_copy", "reloaded_path", "writable"]

_reopens = itertools.count(1)
_SQLITE = "chroma.sqlite3"
_VIEW_PREFIX = "corpusqa-readonly-"


def has_database(folder: Path) -> bool:
    """Whether `folder` holds Chroma's database file (an embedded store was created there and not removed)."""
    return (folder / _SQLITE).is_file()


def writable(folder: Path) -> bool:
    """Whether this process may write `folder` and the Chroma database in it (False on a read-only mount).

    os.access answers for the real user: root on a read-only file system gets False (EROFS), as does
    another user on files they may only read.
    """
    database = folder / _SQLITE
    return os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))


def read_only_copy(folder: Path) -> str:
    """A private, writable view of a read-only Chroma folder: a copy of its SQLite file, its segments linked.

    chromadb 1.5 cannot open a database read-only: opening writes to SQLite ("attempt to write a readonly
    database"). The vector segments are only read by queries, so they stay where they are; only the SQLite
    file (chunk texts and metadata) is copied, into the temporary folder, and removed when the process ends.
    """
    import atexit
    import shutil
    import tempfile

    _remove_orphaned_views(Path(tempfile.gettempdir()))
    view = Path(tempfile.mkdtemp(prefix=f"{_VIEW_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    shutil.copyfile(folder / _SQLITE, view / _SQLITE)  # copyfile, not copy2: the copy must not keep 0444
    for item in folder.iterdir():
        if item.is_dir():
            (view / item.name).symlink_to(item.resolve(), target_is_directory=True)
    return str(view)


def _remove_orphaned_views(folder: Path) -> None:
    """Remove the views that processes which have ended left behind: atexit does not run when a process is
    killed, and each view holds a copy of the index's SQLite file (hundreds of MB for a large index, often
    in a RAM-backed /tmp). A view is named by its process's id; one whose process still runs, or cannot be
    checked (another user's), is kept."""
    import shutil

    for view in folder.glob(f"{_VIEW_PREFIX}*-*"):
        pid = view.name[len(_VIEW_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(view, ignore_errors=True)
        except OSError:
            continue


def fresh_path(base: str) -> str:
    """A spelling of `base` whose cached System is at least two reopens old, dropped so it reloads.

    chromadb caches Systems by the path string; the two spellings (`dir`, `dir/.`) alternate, so the
    System that questions in flight may still use is never the one dropped. Uses chromadb's private
    cache (there is no public way to drop one path's System).
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    path = base + "/." if next(_reopens) % 2 else base
    SharedSystemClient._identifier_to_system.pop(path, None)
    return path


def reloaded_path(base: str) -> str:
    """`base`, its cached System dropped, so that the next client reads the folder from disk.

    An ingest opens the store this way: a System this process opened earlier does not show what other
    processes wrote since (chroma-core/chroma#3792), such as the versions a killed ingest left, which the
    commit must see to remove. The System is dropped from the cache, not stopped, so a reader still holding
    it goes on; later opens of `base` share the ingest's System and see what it wrote.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(base, None)
    return base
