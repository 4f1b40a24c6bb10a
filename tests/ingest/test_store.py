"""ChunkStore.query over the real bundled index: the exact search and the HNSW fallback give one result shape.

Most tests here read `legacy`: the bundled index with its sentence vectors in Chroma's collection, as an
index written before ingest/vector_files.py (and a Chroma server) keeps them.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLE_QUESTION

from corpusqa.settings import Settings
from ingest.embedder import Embedder
from ingest.store import ChunkStore, open_store

QUESTIONS = [EXAMPLE_QUESTION, "Who said the talks would conclude soon?", "What did the government release?"]


@pytest.fixture(scope="module")
def legacy(bundled_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The bundled index's chunks and sentence vectors written into a new index the way an index written
    before vector files (or a Chroma server) holds them: every sentence vector in the sentence collection."""
    from collections import defaultdict

    from corpusqa.settings import load_settings

    source = open_store(bundled_index, create=False)
    chunks = source.all_chunks()
    vectors = source.sentence_vectors(chunks)
    settings = load_settings(index_dir=tmp_path_factory.mktemp("legacy") / "index")
    target = ChunkStore(open_store(settings, create=True).client, None)
    by_source = defaultdict(list)
    for chunk in chunks:
        by_source[chunk.source].append(chunk)
    for doc in by_source.values():
        doc.sort(key=lambda chunk: chunk.start_char)
        target.write_document(doc, [vectors[chunk.id] for chunk in doc], "sig", str(bundled_index.corpus_dir))
    assert target.sentences.count() == sum(len(chunk.sentences) for chunk in chunks) > 100
    return settings


@pytest.fixture(scope="module")
def store(legacy: Settings) -> ChunkStore:
    return open_store(legacy, create=False)


def _best_sentence_scores(store: ChunkStore, vector: np.ndarray) -> dict[str, float]:
    """Each chunk's best sentence cosine, computed here from the stored sentence vectors."""
    matrices = store.sentence_vectors(store.all_chunks())
    return {chunk_id: float((matrix @ vector).max()) for chunk_id, matrix in matrices.items()}


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_store_query_exact_and_approximate_share_one_shape(store: ChunkStore, embedder: Embedder, question: str, limit: int) -> None:
    vector = embedder.embed_query(question)
    expected = _best_sentence_scores(store, vector)
    for found in (store.query(vector, limit), store.matrix.approximate_query(vector, limit)):
        ids = [chunk_id for chunk_id, _ in found]
        scores = [score for _, score in found]
        assert 0 < len(found) <= limit and len(set(ids)) == len(ids), "each chunk at most once, at most `limit`"
        assert scores == sorted(scores, reverse=True), "best first"
        for chunk_id, score in found:  # a chunk's score is its best sentence's cosine
            assert score == pytest.approx(expected[chunk_id], abs=1e-4)
    exact = store.query(vector, limit)
    assert [chunk_id for chunk_id, _ in exact] == sorted(expected, key=lambda c: -expected[c])[: len(exact)]


def test_store_query_keeps_only_allowed_chunks(store: ChunkStore, embedder: Embedder) -> None:
    vector = embedder.embed_query(EXAMPLE_QUESTION)
    everything = store.query(vector, 10)
    allowed = {chunk_id for chunk_id, _ in everything[1::2]}
    found = store.query(vector, 10, allowed)
    assert [chunk_id for chunk_id, _ in found] == [chunk_id for chunk_id, _ in everything if chunk_id in allowed][: len(found)]
    assert {chunk_id for chunk_id, _ in found} == allowed


def test_store_sentence_matrix_read_in_pages_equals_the_stored_vectors(
    legacy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact search reads sentence vectors page by page; with pages smaller than the index, every row
    is still there once, sorted by id, beside its chunk id."""
    import ingest.store

    monkeypatch.setattr(ingest.store, "_LIST_BATCH", 37)
    store = open_store(legacy, create=False)
    dense = store.matrix.load()
    vectors, chunk_ids = dense.vectors, list(dense.chunk_ids)
    chunks = store.all_chunks()
    by_chunk = store.sentence_vectors(chunks)
    expected = sorted((f"{chunk.id}:{n}", chunk.id, row) for chunk in chunks for n, row in enumerate(by_chunk[chunk.id]))
    assert len(expected) > 3 * 37
    assert chunk_ids == [chunk_id for _, chunk_id, _ in expected]
    assert np.array_equal(vectors, np.asarray([row for _, _, row in expected], dtype=np.float32))


def _embedding_reads(store: ChunkStore) -> list[int]:
    """Count the store's reads of sentence embeddings from Chroma (the real call still runs)."""
    calls: list[int] = []
    real = store.sentences.get

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "embeddings" in (kwargs.get("include") or []) and "ids" not in kwargs:
            calls.append(1)
        return real(*args, **kwargs)

    store.sentences.get = counted  # type: ignore[method-assign]
    return calls


def test_store_sentence_matrix_is_kept_on_disk_per_generation(legacy: Settings, embedder: Embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vector = embedder.embed_query(EXAMPLE_QUESTION)
    cache = tmp_path / "dense" / "generation-7"
    (tmp_path / "dense").mkdir()
    (tmp_path / "dense" / "generation-6-123.npz").write_bytes(b"an older generation's matrix")

    first = open_store(legacy, create=False)
    first.dense_cache = cache
    first_reads = _embedding_reads(first)
    expected = first.query(vector, 5)
    assert first_reads, "the first store reads the vectors from Chroma"
    written = sorted(p.name for p in (tmp_path / "dense").iterdir())
    assert written == [f"generation-7-{str(first.sentences.id)[:8]}-{first.sentences.count()}"], "one folder: this generation's"

    second = open_store(legacy, create=False)  # a later process: loads the file instead
    second.dense_cache = cache
    second_reads = _embedding_reads(second)
    assert second.query(vector, 5) == expected and not second_reads

    (tmp_path / "dense" / written[0] / "vectors.npy").write_bytes(b"torn")  # an unreadable file is rebuilt from Chroma
    third = open_store(legacy, create=False)
    third.dense_cache = cache
    third_reads = _embedding_reads(third)
    assert third.query(vector, 5) == expected and third_reads


def test_store_sentence_matrix_is_one_immutable_snapshot(store: ChunkStore, embedder: Embedder) -> None:
    """A reload replaces the whole snapshot; a question holding the old one never sees it change."""
    import dataclasses

    vector = embedder.embed_query(EXAMPLE_QUESTION)
    allowed = {chunk_id for chunk_id, _ in store.query(vector, 10)}
    store.query(vector, 10, allowed)
    held = store.matrix._dense
    assert held is not None and held.allowed is allowed and held.mask is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        held.total = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        held.vectors[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        held.mask[0] = True
    other = set(list(allowed)[:3])
    store.query(vector, 10, other)
    assert store.matrix._dense is not held and store.matrix._dense.allowed is other and held.allowed is allowed


def test_chromadb_system_cache_is_where_reopening_drops_it(bundled_index: Settings) -> None:
    """open_store(fresh=True) drops chromadb's cached System through a private class attribute (no public
    call drops one path's System); this fails loudly, naming it, when a chromadb release changes it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    from ingest.chroma_paths import fresh_path as _fresh_path

    cache = getattr(SharedSystemClient, "_identifier_to_system", None)
    assert isinstance(cache, dict), "chromadb's SharedSystemClient._identifier_to_system is gone: fix ingest/chroma_paths.fresh_path"
    open_store(bundled_index, create=False)
    assert str(bundled_index.chroma_dir) in cache, "chromadb no longer caches Systems by path: fix _fresh_path"
    spelling = _fresh_path(str(bundled_index.chroma_dir))
    assert spelling not in cache
    open_store(bundled_index, create=False, fresh=True)
    assert any(key.startswith(str(bundled_index.chroma_dir)) for key in cache)


def test_store_write_document_stores_what_lists_of_floats_stored(tmp_path, embedder: Embedder) -> None:  # type: ignore[no-untyped-def]
    """Vectors go to Chroma as float32 arrays (#28), no longer as lists of Python floats: Chroma keeps the same
    vectors bit for bit, sentences' (as a Chroma server keeps them) and chunks' (a chunk's is the normalised
    mean of its sentences')."""
    from corpusqa.settings import load_settings
    from corpusqa.types import Chunk
    from ingest.store import CHUNKS

    client = open_store(load_settings(index_dir=tmp_path / "index"), create=True).client
    client.delete_collection(CHUNKS)  # a chunks collection made before placeholders: it holds mean vectors
    client.create_collection(CHUNKS, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    store = ChunkStore(client, None)
    assert store.chunk_vectors
    texts = ["The first sentence. The second one is longer than the first.", "A lone sentence."]
    chunks = [
        Chunk(
            id=f"doc.md#{i}", text=text, source="doc.md", title="Doc", kind="text", start_line=1, end_line=1,
            start_char=0, end_char=len(text), doc_hash="h", sentences=spans,
        )
        for i, (text, spans) in enumerate(zip(texts, [((0, 19), (20, 61)), ((0, 16),)]))
    ]
    vectors = [embedder.embed_texts([c.text[a:b] for a, b in c.sentences]) for c in chunks]
    store.write_document(chunks, vectors, "sig", str(tmp_path))
    # the same vectors as the code before wrote them, under other ids
    store.sentences.upsert(
        ids=[f"old-{c.id}:{n}" for c, v in zip(chunks, vectors) for n in range(len(v))],
        embeddings=[row.tolist() for v in vectors for row in v],
    )
    means = [v.mean(axis=0) for v in vectors]
    store.chunks.upsert(ids=[f"old-{c.id}" for c in chunks], embeddings=[(m / np.linalg.norm(m)).tolist() for m in means])

    assert store.sentences.count() == 6
    for collection, ids in (
        (store.sentences, [f"{c.id}:{n}" for c, v in zip(chunks, vectors) for n in range(len(v))]),
        (store.chunks, [c.id for c in chunks]),
    ):
        new = collection.get(ids=ids, include=["embeddings"])
        old = collection.get(ids=[f"old-{i}" for i in ids], include=["embeddings"])
        by_id = dict(zip(old["ids"], old["embeddings"]))
        assert len(new["ids"]) == len(ids)
        for chunk_id, row in zip(new["ids"], new["embeddings"]):
            assert np.array_equal(np.asarray(row), np.asarray(by_id[f"old-{chunk_id}"]))


def test_sentence_vectors_in_files_equal_those_in_chroma(bundled_index: Settings, legacy: Settings) -> None:
    """An embedded index keeps its sentence vectors in files, not in Chroma's collection (#28); the matrix
    read from them is the one read from the collection, row for row. Not bit for bit: a cosine collection
    normalises what it stores again, which moves a unit vector's components by up to an ulp or so (1.5e-8);
    the files keep the model's output as it was."""
    files = open_store(bundled_index, create=False)
    chroma = open_store(legacy, create=False)
    assert files.sentences.count() == 0 and files.vectors is not None and files.vectors.files()
    assert files.sentence_count() == chroma.sentence_count() == chroma.sentences.count()
    from_files, from_chroma = files.matrix.load(), chroma.matrix.load()
    assert from_files.chunk_ids == from_chroma.chunk_ids
    assert np.allclose(from_files.vectors, from_chroma.vectors, rtol=0, atol=1e-7)


def test_a_new_chunks_collection_holds_placeholders_not_vectors(bundled_index: Settings) -> None:
    """No question searches chunk vectors (#28): a chunks collection made now stores [0.0] for each chunk."""
    store = open_store(bundled_index, create=False)
    assert not store.chunk_vectors
    page = store.chunks.get(limit=5, include=["embeddings", "documents"])
    assert len(page["ids"]) == 5 and all(list(row) == [0.0] for row in page["embeddings"])
    assert all(page["documents"])
