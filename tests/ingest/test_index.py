"""Ingest into a real Chroma index with the real MiniLM model: formats, metadata, incremental updates, repairs."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from support.servers import lock_held_elsewhere

from corpusqa.errors import IndexBusyError, IndexNotFoundError, SourceNotFoundError
from corpusqa.settings import Settings, load_settings
from corpusqa.types import Chunk, IngestReport
from ingest.chunker import chunk_file
from ingest.embedder import Embedder
from ingest.index import _embed_sentences, signature_of
from ingest.keyword import KeywordIndex
from ingest.loader import read_file
from ingest.state import read_state
from ingest.store import open_store
from rag import Engine

ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILE = ROOT / "data" / "corpus" / "afghan_prisoner_release_2020.txt"
SECOND_HEADLINE = "Khalilzad Hopes Intra-Afghan Talks Conclude in '100 Days'"
MARKDOWN = """# Alpha Project

Alpha is a small tool for sorting seeds. It runs on any laptop.

## Setup Steps

Install the package with pip. Then run the sorter once to create its folder.
"""
HTML = """<!doctype html><html><head><title>Garden Guide</title></head><body>
<h1>Growing Tomatoes</h1><p>Tomatoes need full sun and regular watering. Plant them after the last frost.</p>
<h2>Pests</h2><p>Aphids and hornworms are the most common pests.</p></body></html>
"""
CAFE = "Notes from the café.\n\nThe owner’s naïve plan — “free coffee for everyone” — worked.\n"

# a regression that reads the FIFO in `mixed` would block for ever: fail in minutes instead
pytestmark = pytest.mark.timeout(300)


def _settings(index_dir: Path, **changes: object) -> Settings:
    # the corpus folder is the `corpus` beside the index (where most tests write their files): files in
    # it are named by their path inside it; files of other folders get the folder's name in front
    values: dict[str, object] = {
        "chunk_tokens": 160, "embedding_model": "all-MiniLM-L6-v2", "corpus_dir": index_dir.parent / "corpus"
    }
    values.update(changes)
    return load_settings(index_dir=index_dir, **values)


def _chunks(settings: Settings) -> list[Chunk]:
    return sorted(open_store(settings, create=False).all_chunks(), key=lambda c: (c.source, c.start_char))


def _ids(settings: Settings, source: str | None = None) -> set[str]:
    return {c.id for c in _chunks(settings) if source is None or c.source == source}


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the hash of its bytes."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _status_rows(settings: Settings, embedder: Embedder) -> list[tuple[str, str, int]]:
    return [(doc.source, doc.hash, doc.chunks) for doc in Engine(settings, embedder).status().documents]


@pytest.fixture
def no_model() -> Embedder:
    """An embedder whose model cannot load: any attempt to embed raises ModelLoadError."""
    return Embedder("/nonexistent/embedding-model", 64, Path("/nonexistent/models"))


# ---- one ingest of a folder holding every format, good files and bad ----------------------------


@pytest.fixture(scope="module")
def mixed(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, pdf_bytes: Callable[..., bytes]
) -> tuple[Settings, Path, IngestReport]:
    """A folder with .txt .md .html .pdf files, and files that must be skipped, ingested once."""
    root = tmp_path_factory.mktemp("mixed")
    docs = root / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "setup.md").write_text(MARKDOWN, encoding="utf-8")
    (docs / "page.html").write_text(HTML, encoding="utf-8")
    (docs / "solar.pdf").write_bytes(
        pdf_bytes(["Solar panels convert sunlight into electricity.", "They work best when facing south."], "Solar Basics")
    )
    (docs / "cafe.txt").write_bytes(CAFE.encode("cp1252"))
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    (docs / "scan.pdf").write_bytes(pdf_bytes([]))
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n")
    os.mkfifo(docs / "pipe.txt")  # reading a FIFO would block the ingest forever
    settings = _settings(root / "index")
    report = Engine(settings, embedder).ingest([docs])
    return settings, docs, report


def test_ingest_reports_added_and_skipped_files_with_reasons(mixed: tuple[Settings, Path, IngestReport]) -> None:
    _, _, report = mixed

    assert sorted(report.added) == ["docs/cafe.txt", "docs/guides/setup.md", "docs/page.html", "docs/solar.pdf"]
    assert report.updated == report.unchanged == report.deleted == []
    reasons = {item.path.removeprefix("docs/"): item.reason for item in report.skipped}
    assert reasons.keys() == {"empty.txt", "binary.txt", "broken.pdf", "scan.pdf", "photo.png", "pipe.txt"}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["binary.txt"] == "binary file (contains NUL bytes)"
    assert reasons["broken.pdf"].startswith("PDF could not be parsed")
    assert reasons["scan.pdf"] == "PDF has no extractable text"  # blank pages: no text and no image to OCR
    assert reasons["photo.png"] == "not a readable image (PNG, JPEG or TIFF)"  # images are documents now (OCR)
    assert reasons["pipe.txt"] == "not a regular file"
    assert {item.outcome for item in report.skipped} == {"not indexed"}
    assert report.documents == 4 and report.chunks == report.embedded_chunks > 0


def test_ingest_times_each_stage(mixed: tuple[Settings, Path, IngestReport]) -> None:
    _, _, report = mixed

    assert set(report.stages) == {"read", "chunk", "annotate", "embed", "write", "commit"}
    assert all(seconds > 0 for seconds in report.stages.values())
    # reading and annotating run in a thread beside embedding (#28): stages overlap, each within the run
    assert all(seconds <= report.seconds for seconds in report.stages.values())


def test_ingest_reads_ahead_in_a_thread_that_stops_when_embedding_fails(
    tmp_path: Path, embedder: Embedder, no_model: Embedder, notes: Callable[..., list[Path]]
) -> None:
    import threading

    from corpusqa.errors import ModelLoadError

    corpus = tmp_path / "corpus"
    notes(corpus, 30)
    settings = _settings(tmp_path / "index", embed_batch_size=2)  # many pools: the reader is ahead when it fails
    with pytest.raises(ModelLoadError):
        Engine(settings, no_model).ingest([corpus])
    assert not [t for t in threading.enumerate() if t.name == "corpusqa-ingest-reader"], "the reader thread outlived the ingest"
    assert read_state(settings.index_dir) is None  # nothing committed

    seen: list[tuple[str, int, str]] = []
    report = Engine(settings, embedder).ingest(
        [corpus], progress=lambda stage, done, _: seen.append((stage, done, threading.current_thread().name))
    )
    documents = [(done, thread) for stage, done, thread in seen if stage == "documents"]
    # every file ticked once, in order, from the caller's thread
    assert documents == [(done, threading.current_thread().name) for done in range(31)]
    assert len(report.added) == 30 and report.chunks == report.embedded_chunks == len(_chunks(settings))


def test_ingest_stores_titles_from_headings_html_and_pdf_metadata(mixed: tuple[Settings, Path, IngestReport]) -> None:
    settings, _, _ = mixed

    rows = [(c.source, c.title, c.kind, c.start_line, c.end_line, c.text) for c in _chunks(settings)]

    assert rows == [
        ("docs/cafe.txt", "Cafe", "article", 1, 3, "Notes from the café.\n\nThe owner’s naïve plan — “free coffee for everyone” — worked."),
        ("docs/guides/setup.md", "Alpha Project", "article", 3, 3, "Alpha is a small tool for sorting seeds. It runs on any laptop."),
        ("docs/guides/setup.md", "Setup Steps", "article", 7, 7, "Install the package with pip. Then run the sorter once to create its folder."),
        ("docs/page.html", "Growing Tomatoes", "article", 3, 3, "Tomatoes need full sun and regular watering. Plant them after the last frost."),
        ("docs/page.html", "Pests", "article", 7, 7, "Aphids and hornworms are the most common pests."),
        ("docs/solar.pdf", "Solar Basics", "article", 1, 2, "Solar panels convert sunlight into electricity.\nThey work best when facing south."),
    ]


def test_ingest_decodes_cp1252_text_without_garbling(mixed: tuple[Settings, Path, IngestReport]) -> None:
    settings, docs, _ = mixed

    (chunk,) = [c for c in _chunks(settings) if c.source == "docs/cafe.txt"]

    assert "café" in chunk.text and "naïve" in chunk.text and "“free coffee for everyone”" in chunk.text
    assert chunk.text == (docs / "cafe.txt").read_bytes().decode("cp1252")[chunk.start_char : chunk.end_char]


def test_ingest_chunk_offsets_slice_the_source_text(mixed: tuple[Settings, Path, IngestReport]) -> None:
    settings, docs, _ = mixed

    for chunk in _chunks(settings):
        if chunk.source.endswith((".txt", ".md")):
            text = (docs.parent / chunk.source).read_bytes().decode("utf-8" if chunk.source.endswith(".md") else "cp1252")
            assert chunk.text == text[chunk.start_char : chunk.end_char]
            assert chunk.start_line == text.count("\n", 0, chunk.start_char) + 1


def test_ingest_sets_every_chunk_metadata_field_in_chroma(mixed: tuple[Settings, Path, IngestReport]) -> None:
    settings, docs, _ = mixed
    store = open_store(settings, create=False)

    page = store.chunks.get(include=["metadatas"])
    sentences = store.sentence_count()

    for meta in page["metadatas"]:
        assert meta["root"] == str(docs.resolve())
        assert meta["signature"] == signature_of(settings)
        assert meta["kind"] in ("article", "comment")
        assert meta["doc_chunks"] >= 1 and meta["start_line"] <= meta["end_line"] and meta["start_char"] < meta["end_char"]
    assert sentences == sum(len(c.sentences) for c in store.all_chunks())


def test_ingest_bundled_corpus_chunks_carry_article_and_comment_metadata(bundled_index: Settings) -> None:
    chunks = _chunks(bundled_index)

    second = next(c for c in chunks if "intra-Afghan talks are concluded within 100 days" in c.text)
    comments = [(c.start_line, c.end_line) for c in chunks if c.kind == "comment"]
    text = CORPUS_FILE.read_text(encoding="utf-8")

    assert (second.source, second.title, second.kind, second.start_line) == (CORPUS_FILE.name, SECOND_HEADLINE, "article", 35)
    assert comments[0] == (1, 3) and comments[-1] == (199, 201)
    assert {line for start, end in comments for line in range(start, end + 1)} == {
        1, 2, 3, 31, 142, 143, 144, 168, 169, 170, 171, 172, 199, 200, 201
    }
    assert all(c.text == text[c.start_char : c.end_char] for c in chunks)


# ---- incremental ingest --------------------------------------------------------------------------


def test_ingest_unchanged_files_are_skipped_without_embedding(
    tmp_path: Path, embedder: Embedder, no_model: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    notes(corpus, 3)
    settings = _settings(tmp_path / "index")
    first = Engine(settings, embedder).ingest([corpus])
    ids = _ids(settings)
    files = _files(settings.index_dir)

    # the model cannot even load here: ingest must not try to embed anything
    second = Engine(settings, no_model).ingest([corpus])

    assert first.added == ["note_00.txt", "note_01.txt", "note_02.txt"] and first.embedded_chunks == len(ids)
    assert second.unchanged == first.added
    assert second.added == second.updated == second.deleted == [] and second.skipped == []
    assert second.embedded_chunks == 0
    assert (second.documents, second.chunks) == (3, len(ids))
    assert _ids(settings) == ids
    assert _files(settings.index_dir)["state.json"] == files["state.json"]  # no new generation


def test_ingest_changed_file_replaces_only_its_chunks(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    paths = notes(corpus, 3)
    settings = _settings(tmp_path / "index")
    Engine(settings, embedder).ingest([corpus])
    before = {source: _ids(settings, source) for source in ("note_00.txt", "note_01.txt", "note_02.txt")}
    generation = read_state(settings.index_dir).generation  # type: ignore[union-attr]

    paths[1].write_text("A brand new text about lighthouses. Keepers trimmed the wicks at dusk.\n", encoding="utf-8")
    report = Engine(settings, embedder).ingest([corpus])

    new = [c for c in _chunks(settings) if c.source == "note_01.txt"]
    assert report.updated == ["note_01.txt"] and report.unchanged == ["note_00.txt", "note_02.txt"]
    assert report.embedded_chunks == len(new) == 1
    assert new[0].text == "A brand new text about lighthouses. Keepers trimmed the wicks at dusk."
    assert new[0].doc_hash == hashlib.sha256(paths[1].read_bytes()).hexdigest()
    assert not {c.id for c in new} & before["note_01.txt"]
    assert _ids(settings, "note_00.txt") == before["note_00.txt"]
    assert _ids(settings, "note_02.txt") == before["note_02.txt"]
    assert report.chunks == len(_ids(settings)) == len(before["note_00.txt"]) + len(before["note_02.txt"]) + 1
    assert read_state(settings.index_dir).generation == generation + 1  # type: ignore[union-attr]
    # the sentence vectors of the old version went with it
    assert open_store(settings, create=False).sentence_count() == sum(len(c.sentences) for c in _chunks(settings))


@pytest.mark.parametrize(("delete", "expected_deleted", "expected_sources"), [
    (True, ["note_01.txt"], ["note_00.txt", "note_02.txt"]),
    (False, [], ["note_00.txt", "note_01.txt", "note_02.txt"]),
])
def test_ingest_removed_file_is_deleted_unless_no_delete(
    tmp_path: Path,
    embedder: Embedder,
    notes: Callable[..., list[Path]],
    delete: bool,
    expected_deleted: list[str],
    expected_sources: list[str],
) -> None:
    corpus = tmp_path / "corpus"
    paths = notes(corpus, 3)
    settings = _settings(tmp_path / "index")
    Engine(settings, embedder).ingest([corpus])
    kept = _ids(settings, "note_00.txt") | _ids(settings, "note_02.txt")

    paths[1].unlink()
    report = Engine(settings, embedder).ingest([corpus], delete=delete)

    assert report.deleted == expected_deleted and report.embedded_chunks == 0
    assert sorted({c.source for c in _chunks(settings)}) == expected_sources
    assert kept <= _ids(settings)
    assert report.documents == len(expected_sources) and report.chunks == len(_ids(settings))


def test_ingest_deletes_only_inside_the_folders_given(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    notes(first, 2)
    (second / "sub").mkdir(parents=True)
    (second / "sub" / "other.md").write_text("# Other\n\nA different folder. It has one note.\n", encoding="utf-8")
    settings = _settings(tmp_path / "index")
    Engine(settings, embedder).ingest([first])

    # another folder, and one file of the first: neither deletes the first folder's other documents
    Engine(settings, embedder).ingest([second])
    report = Engine(settings, embedder).ingest([first / "note_00.txt"])

    assert report.unchanged == ["first/note_00.txt"] and report.deleted == []
    assert sorted({c.source for c in _chunks(settings)}) == ["first/note_00.txt", "first/note_01.txt", "second/sub/other.md"]


def test_ingest_two_folders_of_one_name_are_not_mixed_up(tmp_path: Path, embedder: Embedder) -> None:
    for name, text in (("x", "Apples are red. They grow on trees.\n"), ("y", "Bananas are yellow. They grow in bunches.\n")):
        (tmp_path / name / "docs").mkdir(parents=True)
        (tmp_path / name / "docs" / "fruit.txt").write_text(text, encoding="utf-8")
    settings = _settings(tmp_path / "index")
    x, y = tmp_path / "x" / "docs", tmp_path / "y" / "docs"

    first = Engine(settings, embedder).ingest([x, y])
    second = Engine(settings, embedder).ingest([x, y])
    alone = Engine(settings, embedder).ingest([y])  # in its own run, too, y/docs may not replace x/docs

    assert first.added == ["docs/fruit.txt"] and first.documents == 1
    assert [(s.path, s.reason) for s in first.skipped] == [
        (str((y / "fruit.txt").resolve()), "another ingested file is also named docs/fruit.txt")
    ]
    assert second.unchanged == ["docs/fruit.txt"] and second.updated == [] and second.embedded_chunks == 0
    assert alone.added == alone.updated == alone.deleted == [] and alone.embedded_chunks == 0
    assert [(s.path, s.reason) for s in alone.skipped] == [
        (str((y / "fruit.txt").resolve()), f"docs/fruit.txt is already indexed from {x.resolve()}; rename one of the two folders")
    ]
    assert [c.text for c in _chunks(settings)] == ["Apples are red. They grow on trees."]


def test_ingest_missing_path_raises_and_leaves_no_index(tmp_path: Path, embedder: Embedder) -> None:
    settings = _settings(tmp_path / "index")

    with pytest.raises(SourceNotFoundError, match="No such file or folder"):
        Engine(settings, embedder).ingest([tmp_path / "missing"])

    assert not settings.index_dir.exists()


# ---- dry run ---------------------------------------------------------------------------------------


def test_ingest_dry_run_reports_changes_without_touching_the_index(
    tmp_path: Path, embedder: Embedder, no_model: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    paths = notes(corpus, 4)
    settings = _settings(tmp_path / "index")
    Engine(settings, embedder).ingest([corpus])
    # status first: it reads the sentence matrix once, which caches it in the index (not the dry run's doing)
    status = _status_rows(settings, embedder)
    files, ids = _files(settings.index_dir), _ids(settings)

    paths[1].write_text("Changed text. Entirely new.\n", encoding="utf-8")
    paths[2].unlink()
    (corpus / "new.md").write_text("# New\n\nA new file appears.\n", encoding="utf-8")
    report = Engine(settings, no_model).ingest([corpus], dry_run=True)

    assert report.dry_run
    assert (report.added, report.updated, report.deleted) == (["new.md"], ["note_01.txt"], ["note_02.txt"])
    assert report.unchanged == ["note_00.txt", "note_03.txt"]
    assert report.documents == 4 and report.chunks == len(ids) and report.embedded_chunks == 0
    assert "would be processed" in report.summary()
    assert _files(settings.index_dir) == files  # byte for byte
    assert _ids(settings) == ids
    assert _status_rows(settings, embedder) == status


def test_ingest_dry_run_without_an_index_creates_nothing(tmp_path: Path, no_model: Embedder, notes: Callable[..., list[Path]]) -> None:
    corpus = tmp_path / "corpus"
    notes(corpus, 2)
    settings = _settings(tmp_path / "index")

    report = Engine(settings, no_model).ingest([corpus], dry_run=True)

    # the chunks the real run would index: a dry run reads and chunks files as it does
    assert report.added == ["note_00.txt", "note_01.txt"] and (report.documents, report.chunks) == (2, 2)
    assert not settings.index_dir.exists()


# ---- repairs -----------------------------------------------------------------------------------------


def test_ingest_repairs_a_crash_between_writing_the_new_version_and_deleting_the_old(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    paths = notes(corpus, 2)
    settings = _settings(tmp_path / "index")
    Engine(settings, embedder).ingest([corpus])
    old = _ids(settings, "note_01.txt")

    # what a run killed between store.write_document and store.delete_document leaves behind
    paths[1].write_text("The second version. It replaces the first one entirely.\n", encoding="utf-8")
    data = paths[1].read_bytes()
    loaded = read_file(data, paths[1], "note_01.txt", 1 << 26)
    new_chunks = chunk_file(loaded, hashlib.sha256(data).hexdigest(), settings.chunk_tokens)
    store = open_store(settings, create=True)
    store.write_document(new_chunks, _embed_sentences(embedder, new_chunks), signature_of(settings), str(corpus.resolve()))
    assert _ids(settings, "note_01.txt") == old | {c.id for c in new_chunks}
    assert not store.documents()["note_01.txt"].complete

    report = Engine(settings, embedder).ingest([corpus])

    assert report.updated == ["note_01.txt"] and report.unchanged == ["note_00.txt"]
    assert _ids(settings, "note_01.txt") == {c.id for c in new_chunks}
    assert open_store(settings, create=False).documents()["note_01.txt"].complete
    assert report.chunks == len(_ids(settings))
    assert store.sentence_count() == sum(len(c.sentences) for c in _chunks(settings))


def test_ingest_other_chunk_size_rebuilds_chunks_keyword_index_and_state(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    notes(corpus, 2)
    Engine(_settings(tmp_path / "index"), embedder).ingest([corpus])

    # 161 tokens cut these short notes exactly like 160 (same documents, same chunk counts) but ids change
    settings = _settings(tmp_path / "index", chunk_tokens=161)
    report = Engine(settings, embedder).ingest([corpus])

    state = read_state(settings.index_dir)
    assert state is not None and state.chunk_tokens == 161
    assert report.updated == ["note_00.txt", "note_01.txt"]
    ids = _ids(settings)
    keyword = KeywordIndex.load(settings.index_dir / state.bm25_dir)
    hits = keyword.search("committee farmer river reporter council engineer report", 100)
    assert keyword.size == len(ids) and hits and {hit for hit, _ in hits} <= ids
    assert Engine(settings, embedder).status().chunk_tokens == 161


# ---- status ------------------------------------------------------------------------------------------


def test_index_status_lists_documents_chunks_model_location_and_time(bundled_index: Settings, embedder: Embedder) -> None:
    status = Engine(bundled_index, embedder).status()

    expected_hash = hashlib.sha256(CORPUS_FILE.read_bytes()).hexdigest()
    assert [(d.source, d.hash) for d in status.documents] == [(CORPUS_FILE.name, expected_hash)]
    assert status.chunks == status.documents[0].chunks == len(_ids(bundled_index)) > 10
    assert status.embedding_model == "all-MiniLM-L6-v2" and status.chunk_tokens == bundled_index.chunk_tokens
    assert status.index_dir == str(bundled_index.index_dir)
    assert status.location == str(bundled_index.index_dir / "chroma")
    assert status.generation >= 1
    assert status.last_ingest is not None and datetime.fromisoformat(status.last_ingest).tzinfo is not None
    assert status.to_json()["documents"] == [{"source": CORPUS_FILE.name, "hash": expected_hash, "chunks": status.chunks}]


def test_index_status_without_an_index_raises_index_not_found(tmp_path: Path, no_model: Embedder) -> None:
    with pytest.raises(IndexNotFoundError, match="run `corpusqa ingest` first"):
        Engine(_settings(tmp_path / "nothing-here"), no_model).status()


# ---- one writer at a time ----------------------------------------------------------------------------


def test_ingest_while_another_ingest_holds_the_lock_raises_index_busy(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    corpus = tmp_path / "corpus"
    notes(corpus, 1)
    settings = _settings(tmp_path / "index")

    with lock_held_elsewhere(settings.index_dir / "ingest.lock"):
        with pytest.raises(IndexBusyError) as info:
            Engine(settings, embedder).ingest([corpus])
        dry = Engine(settings, embedder).ingest([corpus], dry_run=True)  # a dry run only reads
    after = Engine(settings, embedder).ingest([corpus])

    assert str(info.value) == f"Another ingest is writing {settings.index_dir}; wait for it to finish and try again."
    assert dry.added == ["note_00.txt"]
    assert after.added == ["note_00.txt"] and after.documents == 1


@pytest.mark.parametrize("given", ["corpus", "index"])
def test_ingest_never_reads_its_own_index_folder(tmp_path: Path, embedder: Embedder, given: str) -> None:
    """An index kept inside the ingested folder: its trash/ holds replaced versions, which must not be cited."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "owls.md").write_text("# Owls\n\nOwls now sleep all night in the barn.\n", encoding="utf-8")
    settings = load_settings(index_dir=corpus / "index", corpus_dir=corpus, chunk_tokens=160)
    (settings.index_dir / "trash").mkdir(parents=True)
    (settings.index_dir / "trash" / "20260101T000000000000000-owls.md").write_text(
        "# Owls\n\nOwls hunt mice in the barn at night.\n", encoding="utf-8"
    )

    report = Engine(settings, embedder).ingest([corpus if given == "corpus" else settings.index_dir / "trash"])

    if given == "corpus":
        assert report.added == ["owls.md"] and report.skipped == []  # nor the index's database files
    else:
        assert report.added == [] and [s.reason for s in report.skipped] == [
            "it is inside the index directory, which ingest never reads; name a folder outside it"
        ]
    assert {chunk.source for chunk in _chunks(settings)} <= {"owls.md"}


_INGEST_AND_SAY_IF_CHROMA = """
import json, sys
from pathlib import Path
from corpusqa.settings import load_settings
from ingest.index import ingest_paths
settings = load_settings(index_dir=Path(sys.argv[1]), chunk_tokens=160, corpus_dir=Path(sys.argv[2]))
report = ingest_paths(settings, [Path(sys.argv[2])], None)
print(json.dumps({**report.to_json(), "unchanged": report.unchanged, "chromadb": "chromadb" in sys.modules}))
"""


def test_ingest_with_nothing_to_change_answers_from_the_clean_mark_without_opening_chroma(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]], model_cache: Path
) -> None:
    import json
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    written = notes(corpus, 3)
    settings = _settings(tmp_path / "index", model_cache_dir=model_cache)
    first = Engine(settings, embedder).ingest([corpus])

    def ingest_elsewhere() -> dict[str, object]:
        # a process of its own, so that "was chromadb imported" means this ingest, and no embedder: a
        # run that needed one would fail
        done = subprocess.run(
            [sys.executable, "-c", _INGEST_AND_SAY_IF_CHROMA, str(settings.index_dir), str(corpus)],
            capture_output=True, text=True, check=True, env={**os.environ, "CORPUSQA_MODEL_CACHE_DIR": str(model_cache)},
        )
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    quick = ingest_elsewhere()
    assert quick["chromadb"] is False
    assert (quick["unchanged"], quick["added"], quick["deleted"]) == (sorted(first.added), 0, 0)
    assert (quick["documents"], quick["chunks"]) == (first.documents, first.chunks)

    (settings.index_dir / "clean.json").unlink()  # no mark (an older index, or a run killed after clearing it)
    full = ingest_elsewhere()
    assert full["chromadb"] is True and (full["documents"], full["chunks"]) == (first.documents, first.chunks)
    assert ingest_elsewhere()["chromadb"] is False  # the full run marked the index clean again

    written[0].write_text("The lighthouse keeper counts nine ships at dawn.\n", encoding="utf-8")
    changed = Engine(settings, embedder).ingest([corpus])  # a change is never decided from the mark alone
    assert len(changed.updated) == 1 and changed.embedded_chunks > 0
    written[1].unlink()
    removed = ingest_elsewhere()
    assert removed["chromadb"] is True and removed["deleted"] == 1

    shutil.rmtree(settings.chroma_dir)  # the store removed by hand, state.json and the mark left behind
    rebuilt = Engine(settings, embedder).ingest([corpus])
    assert rebuilt.embedded_chunks > 0 and rebuilt.documents == len(written) - 1
    assert {chunk.source for chunk in _chunks(settings)} == {path.name for path in written[2:]} | {written[0].name}
