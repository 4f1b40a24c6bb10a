"""Sentence vectors of an embedded index in files (ingest/vector_files.py), beside an index written before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings, load_settings
from corpusqa.types import Chunk
from ingest.store import ChunkStore, open_store
from rag import Engine

DIM = 8


def _document(source: str, digest: str, sentences: list[int]) -> tuple[list[Chunk], list[np.ndarray]]:
    """A document of one chunk per entry, with that many sentences, and distinct unit vectors for them."""
    chunks, vectors = [], []
    rng = np.random.default_rng(abs(hash((source, digest))) % 2**32)
    for i, count in enumerate(sentences):
        text = " ".join(f"Sentence {n} of part {i}." for n in range(count))
        spans, start = [], 0
        for n in range(count):
            end = start + len(f"Sentence {n} of part {i}.")
            spans.append((start, end))
            start = end + 1
        chunks.append(
            Chunk(
                id=f"{source}-{digest}-{i}", text=text, source=source, title=source, kind="text", start_line=1,
                end_line=1, start_char=0, end_char=len(text), doc_hash=digest, sentences=tuple(spans),
            )
        )
        rows = rng.standard_normal((count, DIM)).astype(np.float32)
        vectors.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
    return chunks, vectors


def _ids(store: ChunkStore) -> list[str]:
    return sorted(i for ids, _, _ in store.sentence_pages() for i in ids)


def test_an_index_written_before_keeps_answering_while_its_documents_move_to_files(tmp_path: Path) -> None:
    """An index whose sentence vectors are in Chroma's collection (written before this layout) gets new
    versions in files; each chunk is read once, a rewritten chunk from its file, and deleting a source's
    old versions clears both places."""
    settings = load_settings(index_dir=tmp_path / "index")
    old = ChunkStore(open_store(settings, create=True).client, None)  # the layout of before
    a_chunks, a_vectors = _document("a.md", "h1", [2, 3])
    b_chunks, b_vectors = _document("b.md", "h1", [1])
    old.write_document(a_chunks, a_vectors, "sig", "/docs")
    old.write_document(b_chunks, b_vectors, "sig", "/docs")
    assert old.sentences.count() == 6

    store = open_store(settings, create=False)
    assert store.vectors is not None and not store.vectors.files()
    assert store.sentence_count() == 6 and len(_ids(store)) == 6

    # b.md written again in the same version (an interrupted run redone): its rows leave the collection
    store.write_document(b_chunks, [v * 1 for v in b_vectors], "sig", "/docs")
    assert store.sentences.count() == 5 and len(store.vectors.files()) == 1
    assert _ids(store) == sorted([f"{c.id}:{n}" for c in a_chunks + b_chunks for n in range(len(c.sentences))])

    # a.md changes: its new version goes to a file, the old one stays until the commit deletes it
    new_chunks, new_vectors = _document("a.md", "h2", [4])
    store.write_document(new_chunks, new_vectors, "sig", "/docs")
    assert store.sentence_count() == 10
    found = store.sentence_vectors(a_chunks + new_chunks)
    assert np.array_equal(found[new_chunks[0].id], new_vectors[0])
    assert np.allclose(found[a_chunks[1].id], a_vectors[1], atol=1e-7)  # from the collection

    store.delete_document("a.md", keep={chunk.id for chunk in new_chunks})
    assert store.sentences.count() == 0
    assert len(store.vectors.files()) == 2 and store.sentence_count() == 5
    pages = list(store.sentence_pages())
    owners = [owner for _, chunk_ids, _ in pages for owner in chunk_ids]
    assert sorted(set(owners)) == sorted([new_chunks[0].id, b_chunks[0].id])

    store.delete_document("b.md", keep=set())
    assert len(store.vectors.files()) == 1 and store.sentence_count() == 4


def test_a_version_written_under_other_settings_replaces_the_file_holding_its_chunks(tmp_path: Path) -> None:
    """The same content under another signature (another precision, say) has the same chunk ids: as Chroma's
    upsert keeps the last write of a chunk, the file written last is the only one holding them."""
    store = open_store(load_settings(index_dir=tmp_path / "index"), create=True)
    chunks, first = _document("a.md", "h1", [2])
    second = [v[::-1].copy() for v in first]
    other_chunks, other = _document("a.md", "h2", [1])
    store.write_document(chunks, first, "fp32", "/docs")
    store.write_document(other_chunks, other, "fp32", "/docs")
    assert store.vectors is not None and len(store.vectors.files()) == 2, "other chunk ids: both versions kept"
    store.write_document(chunks, second, "int8", "/docs")
    assert len(store.vectors.files()) == 2
    vectors = store.sentence_vectors(chunks + other_chunks)
    assert np.array_equal(vectors[chunks[0].id], second[0]) and np.array_equal(vectors[other_chunks[0].id], other[0])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbled", r"cannot be read .*re-ingest into a fresh --index-dir\.$"),
        ("removed", r"sentences of the shown passages but vectors for .*fresh --index-dir\.$"),
    ],
)
def test_a_damaged_or_missing_vector_file_stops_the_next_commit_with_one_sentence(
    tmp_path: Path, corpus_copy: Path, embedder, damage: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """A passage without its sentence vectors would never be found by meaning: the commit says so instead,
    and the committed generation stays."""
    from ingest.state import read_state

    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    before = read_state(settings.index_dir)
    store = open_store(settings, create=False)
    assert store.vectors is not None and before is not None
    victim = store.vectors.files()[0]
    if damage == "garbled":
        victim.write_bytes(b"not a zip file")
    else:
        victim.unlink()
    (corpus_copy / "extra.md").write_text("# Extra\n\nThe lighthouse keeper counts the gulls every morning.\n")
    with pytest.raises(CorpusQAError, match=message):
        engine.ingest([corpus_copy])
    after = read_state(settings.index_dir)
    assert after is not None and after.generation == before.generation, "the committed generation stays"
    assert (settings.index_dir / after.bm25_dir / "sentences.npy").is_file()


def test_a_fresh_index_keeps_no_sentence_in_chroma(bundled_index: Settings) -> None:
    store = open_store(bundled_index, create=False)
    assert store.sentences.count() == 0
    assert store.vectors is not None and store.vectors.folder == bundled_index.index_dir / "vectors"
    assert store.sentence_count() > 100


def test_files_a_killed_run_wrote_before_its_chunks_are_removed_by_a_rerun_that_finds_nothing_to_change(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """A version's file is written before its chunks reach Chroma: an ingest killed in between leaves a file
    no chunk points to (one of a file since undone, one of a file since removed). The rerun, which finds every
    file as committed, removes both, so that the index equals one never interrupted."""
    from ingest.index import signature_of
    from ingest.state import clear_clean

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("otter", "heron"):
        (corpus / f"{name}.md").write_text(f"# The {name}\n\nThe {name} eats plums by the river every morning.\n")
    settings = load_settings(index_dir=tmp_path / "index")
    fresh = load_settings(index_dir=tmp_path / "fresh")
    Engine(settings, embedder).ingest([corpus])
    Engine(fresh, embedder).ingest([corpus])
    store = open_store(settings, create=False)
    assert store.vectors is not None
    committed = sorted(path.name for path in store.vectors.files())
    (source, _), _ = sorted(store.versions().items())  # a source Chroma holds, and one it never saw
    for name, digest in ((source, "an edit since undone"), ("corpus/badger.md", "a file since removed")):
        store.vectors.write(*_document(name, digest, [2, 1]), signature_of(settings))
    clear_clean(settings.index_dir)  # as the killed run did before its first write
    assert len(store.vectors.files()) == len(committed) + 2

    report = Engine(settings, embedder).ingest([corpus])
    assert len(report.unchanged) == 2 and report.added == report.updated == report.deleted == []
    after = open_store(settings, create=False)
    assert after.vectors is not None and sorted(path.name for path in after.vectors.files()) == committed
    assert after.sentence_count() == open_store(fresh, create=False).sentence_count()
    assert _ids(after) == _ids(open_store(fresh, create=False))
