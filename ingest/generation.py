"""Commit an ingest as one generation (its manifest, BM25 index and state) and read the committed one.

A generation is the manifest of document versions it shows. An ingest writes new versions beside the
committed ones, commits (BM25 built from the manifest's chunks, then state.json, or the server's record,
replaced atomically), and only then deletes what the new manifest no longer shows. Killed at any point,
the index shows either the old generation whole or the new one: never a mix of versions, and never a
document's chunks gone while the keyword index still points at them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from corpusqa.types import IngestReport
from ingest.keyword import KeywordIndex, keyword_text
from ingest.plan import IngestPlan
from ingest.reading import ChunkWriter, GenerationFiles, add_bound, write_sentence_matrix
from ingest.state import (
    IndexState,
    Manifest,
    ManifestEntry,
    manifest_from_rows,
    manifest_rows,
    read_state,
    remove_path,
    write_state,
)
from ingest.store import ChunkStore, StoredDocument

__all__ = ["commit", "committed_manifest", "sync_keyword_index"]

_SETTLE_ROUNDS = 5  # record rewrites one commit makes while other machines' commits overlap it


def committed_manifest(
    settings: Settings, store: ChunkStore, versions: dict[str, list[StoredDocument]] | None
) -> Manifest:
    """The documents the committed generation shows (read from the server's record in server mode)."""
    if settings.chroma_host:
        remote = store.read_generation()
        if remote is None:
            return {}
        if remote.get("documents"):
            return manifest_from_rows(json.loads(str(remote["documents"])))
    else:
        state = read_state(settings.index_dir)
        if state is None:
            return {}  # nothing was ever committed here: what a killed first run wrote is not shown yet
        if state.documents is not None:
            return manifest_from_rows(state.documents)
    # an index committed before manifests existed: every document stored whole, in one version
    versions = store.versions() if versions is None else versions
    return {
        source: ManifestEntry(source, stored[0].hash, stored[0].signature, stored[0].chunks, stored[0].root)
        for source, stored in versions.items()
        if len(stored) == 1 and stored[0].complete
    }


def commit(
    settings: Settings,
    store: ChunkStore,
    plan: IngestPlan,
    signature: str,
    report: IngestReport,
    versions: dict[str, list[StoredDocument]] | None = None,
) -> None:
    """Make the planned versions the current generation, then delete the versions it no longer shows.

    `versions`: the store's versions when the caller knows nothing changed since it listed them (listing a
    large index takes seconds); read again otherwise."""
    versions = store.versions() if versions is None else versions
    manifest = _others(settings, store, versions, plan.touched)
    manifest.update(plan.kept)
    for item in plan.files:
        manifest[item.file.source] = ManifestEntry(
            item.file.source, item.hash, signature, item.chunk_count, str(item.file.root)
        )
    sync_keyword_index(settings, store, manifest, versions, ingesting=True)
    # Only now, with the new generation committed, delete what it no longer shows: older and partial
    # versions of the sources this run walked (and sentences a killed run wrote for chunks it never did).
    written = {item.file.source for item in plan.files}
    held = {source: {chunk_id for v in stored for chunk_id in v.ids} for source, stored in versions.items()}
    for source in sorted(plan.touched):
        entry = manifest.get(source)
        stored = versions.get(source, [])
        keep = {chunk_id for v in stored if entry is not None and _shows(v, entry) for chunk_id in v.ids}
        if source in written or any(set(v.ids) - keep for v in stored):
            store.delete_document(source, keep=keep)
        held[source] = keep
    if store.vectors is not None:  # files of versions whose chunks never reached Chroma (a killed run's)
        store.vectors.sweep(held)
    if settings.chroma_host:
        manifest = _settle(settings, store)
    report.documents = len(manifest)
    report.chunks = sum(entry.chunks for entry in manifest.values())


def _others(
    settings: Settings, store: ChunkStore, versions: dict[str, list[StoredDocument]], touched: set[str]
) -> Manifest:
    """The committed documents this run did not walk, as stored now (`versions`), re-read from the index:
    in server mode another machine may have committed while this run wrote."""
    latest = committed_manifest(settings, store, versions)
    manifest: Manifest = {
        source: entry
        for source, entry in latest.items()
        if source not in touched and any(_shows(v, entry) for v in versions.get(source, []))
    }
    if settings.chroma_host:
        # documents another machine has written whole but not committed yet: keep them, never drop them
        for source, stored in versions.items():
            if source not in manifest and source not in touched and len(stored) == 1 and stored[0].complete:
                only = stored[0]
                manifest[source] = ManifestEntry(source, only.hash, only.signature, only.chunks, only.root)
    return manifest


def _settle(settings: Settings, store: ChunkStore) -> Manifest:
    """Server mode, after this run's record and deletions: make the server's record show every document
    stored whole. Two machines' commits can overlap; the record written last may come from a manifest
    read before the other machine's documents were whole, or name a version the other has since deleted.
    Each machine re-reads after its own write, so the last writer always repairs the record."""
    for _ in range(_SETTLE_ROUNDS):
        versions = store.versions()
        manifest = _others(settings, store, versions, set())
        remote = store.read_generation()
        if remote is not None and remote.get("fingerprint") == _fingerprint(manifest):
            sync_keyword_index(settings, store, manifest, versions)  # this machine's BM25, if another wrote last
            return manifest
        sync_keyword_index(settings, store, manifest, versions, ingesting=True)
    raise CorpusQAError(
        "Other machines kept committing to the Chroma server while this ingest finished; run the ingest again "
        "when they are done."
    )


def _write_generation(folder: Path, store: ChunkStore, shown: set[str]) -> KeywordIndex | None:
    """Write a generation's folder before state.json names it: the keyword index, and the chunk records
    and sentence matrix that questions read (ingest/reading.py); None, and no folder, when it shows nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = ChunkWriter(folder)
    try:
        keyword = KeywordIndex.build(_tee(store.chunk_records(shown), writer))
    finally:
        writer.close()
    if keyword is None:
        remove_path(folder)
        return None
    keyword.persist(folder)
    rows = write_sentence_matrix(folder, store.sentence_pages(), keyword.ids)
    if rows < writer.sentences:  # a chunk whose vectors are gone would never be found by meaning
        remove_path(folder)
        raise CorpusQAError(
            f"The index holds {writer.sentences:,} sentences of the shown passages but vectors for {rows:,} of them; "
            "re-ingest into a fresh --index-dir."
        )
    return keyword


def generation_current(settings: Settings, state: IndexState, manifest: Manifest) -> bool:
    """Whether state.json and its keyword-index folder already show `manifest`, with sound files for questions."""
    folder = settings.index_dir / state.bm25_dir
    return (
        bool(state.bm25_dir)
        and state.bm25_dir.endswith(_fingerprint(manifest)[:16])
        and bool(state.embedding_model)
        and state.documents is not None
        and (folder / "terms.json").is_file()
        and _readable(folder)
    )


def _readable(folder: Path) -> bool:
    """Whether a generation's folder holds sound files for questions (an older index has none)."""
    try:
        return GenerationFiles.open(folder, json.loads((folder / "ids.json").read_text(encoding="utf-8"))) is not None
    except (OSError, ValueError, CorpusQAError):
        return False


def _tee(records: Iterator[tuple[str, str, dict[str, Any]]], writer: ChunkWriter) -> Iterator[tuple[str, str]]:
    """(chunk id, BM25 text) of each record, each record written to `writer` on the way (the same order)."""
    for chunk_id, text, meta in records:
        writer.add(chunk_id, text, meta)
        yield chunk_id, keyword_text(text, meta)


def _shows(version: StoredDocument, entry: ManifestEntry) -> bool:
    return version.complete and version.hash == entry.hash and version.signature == entry.signature


def _fingerprint(manifest: Manifest) -> str:
    # The signature is part of it: re-chunking with other settings keeps hashes and maybe chunk counts,
    # but changes every chunk id, so BM25 must be rebuilt.
    rows = sorted(f"{e.source}\x00{e.hash}\x00{e.chunks}\x00{e.signature}" for e in manifest.values())
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


def sync_keyword_index(
    settings: Settings,
    store: ChunkStore,
    manifest: Manifest | None = None,
    versions: dict[str, list[StoredDocument]] | None = None,
    ingesting: bool = False,
) -> IndexState:
    """Make the local BM25 index and state.json match the committed manifest; returns the current state.

    With a Chroma server, the server keeps the shared generation (several machines may ingest);
    each machine derives its own BM25 from the server's chunks when its copy is stale.
    """
    versions = store.versions() if versions is None else versions
    manifest = committed_manifest(settings, store, versions) if manifest is None else manifest
    fingerprint = _fingerprint(manifest)
    state = read_state(settings.index_dir) or IndexState()
    remote = store.read_generation() if settings.chroma_host else None
    remote_ok = remote is None or remote.get("fingerprint") == fingerprint
    if generation_current(settings, state, manifest) and remote_ok:
        add_bound(settings.index_dir / state.bm25_dir)  # a generation written before the bound files gets them, in place
        return state
    generation = max(state.generation, int(remote.get("generation", 0)) if remote else 0)
    if ingesting or not remote_ok or remote is None:
        generation += 1
    shown = {
        chunk_id
        for source, entry in manifest.items()
        for version in versions.get(source, [])
        if _shows(version, entry)
        for chunk_id in version.ids
    }
    new_dir = f"bm25-{generation}-{fingerprint[:16]}"
    keyword = _write_generation(settings.index_dir / new_dir, store, shown)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    last_ingest = now if (ingesting or remote is None) else str(remote.get("last_ingest") or now)
    rows = manifest_rows(manifest)
    if settings.chroma_host and (ingesting or not remote_ok):
        store.write_generation(generation, fingerprint, last_ingest, json.dumps(rows))
    old_dir = state.bm25_dir
    new_state = IndexState(
        generation=generation,
        last_ingest=last_ingest,
        embedding_model=settings.embedding_model,
        chunk_tokens=settings.chunk_tokens,
        bm25_dir=new_dir if keyword is not None else "",
        documents=rows,
    )
    write_state(settings.index_dir, new_state)
    if old_dir and old_dir != new_dir:
        remove_path(settings.index_dir / old_dir)
    if keyword is not None:  # questions read the new folder's matrix: the one kept for older indexes goes
        remove_path(settings.index_dir / "dense")
    return new_state
