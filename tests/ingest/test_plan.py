"""What an ingest decides per file: removed content stops being cited, same-named files stay apart, dry runs predict."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from corpusqa.settings import Settings, load_settings
from corpusqa.types import IngestReport
from ingest.chunker import chunk_file
from ingest.embedder import Embedder
from ingest.index import _embed_sentences
from ingest.loader import read_file
from ingest.state import read_state, write_state
from ingest.store import open_store
from rag import Engine

ZOO = "# Zoo news\n\nThe zebra Mortimer is purple with green stripes. He lives beside the duck pond.\n"
ZOO_QUESTION = "What colour is the zebra Mortimer?"


def _settings(root: Path) -> Settings:
    return load_settings(index_dir=root / "index", corpus_dir=root / "corpus", chunk_tokens=160)


def _sources(settings: Settings) -> set[str]:
    return {chunk.source for chunk in open_store(settings, create=False).all_chunks()}


def _cited(settings: Settings, embedder: Embedder, question: str) -> tuple[str, list[str]]:
    answer = Engine(settings, embedder).ask(question)
    return answer.answer, [citation.source for citation in answer.citations]


# ---- a file that no longer holds text is no longer cited --------------------------------------------


def _make_unreadable(path: Path, how: str) -> None:
    if how == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        path.write_bytes({"empty": b"", "blank": b"  \n\n\t\n", "binary": b"\x89PNG\x00\x00\x01\x02 zebra"}[how])


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("empty", "empty file"),
        ("blank", "empty file"),
        ("binary", "binary file (contains NUL bytes)"),
        ("fifo", "not a regular file"),
    ],
)
def test_ingest_file_that_lost_its_text_is_removed_and_no_longer_cited(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]], how: str, reason: str
) -> None:
    settings = _settings(tmp_path)
    notes(settings.corpus_dir, 3)
    (settings.corpus_dir / "zoo.md").write_text(ZOO, encoding="utf-8")
    Engine(settings, embedder).ingest()
    text, sources = _cited(settings, embedder, ZOO_QUESTION)
    assert "purple" in text and sources == ["zoo.md"]

    _make_unreadable(settings.corpus_dir / "zoo.md", how)
    report = Engine(settings, embedder).ingest()

    assert report.deleted == ["zoo.md"] and report.unchanged == ["note_00.txt", "note_01.txt", "note_02.txt"]
    assert [asdict(item) for item in report.skipped] == [{"path": "zoo.md", "reason": reason, "outcome": "removed"}]
    assert report.to_json()["skipped"] == [{"path": "zoo.md", "reason": reason, "outcome": "removed"}]
    assert "zoo.md" not in _sources(settings) and report.documents == 3
    assert "zoo.md" not in [doc.source for doc in Engine(settings, embedder).status().documents]
    text, sources = _cited(settings, embedder, ZOO_QUESTION)
    assert "zoo.md" not in sources and "purple" not in text


def test_ingest_keep_unreadable_keeps_the_indexed_version(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    settings = _settings(tmp_path)
    notes(settings.corpus_dir, 2)
    (settings.corpus_dir / "zoo.md").write_text(ZOO, encoding="utf-8")
    Engine(settings, embedder).ingest()
    before = Engine(settings, embedder).status().documents

    (settings.corpus_dir / "zoo.md").write_bytes(b"")
    report = Engine(settings, embedder).ingest(keep_unreadable=True)
    again = Engine(settings, embedder).ingest(keep_unreadable=True)

    assert report.deleted == [] and report.embedded_chunks == 0 and report.documents == 3
    assert [asdict(item) for item in report.skipped] == [{"path": "zoo.md", "reason": "empty file", "outcome": "kept"}]
    assert again.skipped == report.skipped and again.deleted == []
    assert Engine(settings, embedder).status().documents == before
    text, sources = _cited(settings, embedder, ZOO_QUESTION)
    assert "purple" in text and sources == ["zoo.md"]


# ---- two folders holding files of the same name ---------------------------------------------------------


def _project(folder: Path, readme: str, guide: str) -> Path:
    (folder / "docs").mkdir(parents=True)
    (folder / "README.md").write_text(readme, encoding="utf-8")
    (folder / "docs" / "guide.md").write_text(guide, encoding="utf-8")
    return folder


def test_ingest_two_folders_sharing_file_names_keeps_both_and_cites_each(tmp_path: Path, embedder: Embedder) -> None:
    settings = _settings(tmp_path)
    proj_a = _project(
        tmp_path / "projA",
        "# Lighthouse\n\nThe lighthouse keeper lights the lamp at nine every evening.\n",
        "# Guide\n\nThe lamp burns whale oil in winter.\n",
    )
    proj_b = _project(
        tmp_path / "projB",
        "# Bakery\n\nThe baker opens the bakery at five every morning.\n",
        "# Guide\n\nThe oven is fired with beech wood.\n",
    )

    first = Engine(settings, embedder).ingest([proj_a])
    second = Engine(settings, embedder).ingest([proj_b])
    again = Engine(settings, embedder).ingest([proj_a, proj_b])

    assert first.added == ["projA/README.md", "projA/docs/guide.md"]
    assert second.added == ["projB/README.md", "projB/docs/guide.md"] and second.deleted == []
    assert again.unchanged == first.added + second.added and again.embedded_chunks == 0
    status = Engine(settings, embedder).status()
    assert [doc.source for doc in status.documents] == first.added + second.added
    assert _cited(settings, embedder, "When does the lighthouse keeper light the lamp?")[1][0] == "projA/README.md"
    assert _cited(settings, embedder, "When does the baker open the bakery?")[1][0] == "projB/README.md"
    assert _cited(settings, embedder, "What is the oven fired with?")[1][0] == "projB/docs/guide.md"


def test_ingest_replaces_documents_stored_under_their_old_names(tmp_path: Path, embedder: Embedder) -> None:
    """An index written before folders were labelled (README.md, no manifest) is rebuilt under the new names."""
    settings = _settings(tmp_path)
    proj_a = _project(tmp_path / "projA", "# Lighthouse\n\nThe keeper lights the lamp.\n", "# Guide\n\nOil.\n")
    store = open_store(settings, create=True)
    data = (proj_a / "README.md").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    old = chunk_file(read_file(data, proj_a / "README.md", "README.md", 1 << 26), digest, settings.chunk_tokens)
    old_signature = f"{settings.embedding_model}|{settings.chunk_tokens}|chunker-3"
    store.write_document(old, _embed_sentences(embedder, old), old_signature, str(proj_a.resolve()))
    write_state(settings.index_dir, read_state(settings.index_dir) or _legacy_state(settings))

    report = Engine(settings, embedder).ingest([proj_a])

    assert report.added == ["projA/README.md", "projA/docs/guide.md"] and report.deleted == ["README.md"]
    assert _sources(settings) == {"projA/README.md", "projA/docs/guide.md"}
    assert [doc.source for doc in Engine(settings, embedder).status().documents] == report.added


def _legacy_state(settings: Settings):  # type: ignore[no-untyped-def]
    from ingest.state import IndexState

    return IndexState(generation=1, embedding_model=settings.embedding_model, chunk_tokens=settings.chunk_tokens)


# ---- a dry run predicts the real run -------------------------------------------------------------------


def _without_timing(report: IngestReport) -> dict[str, object]:
    data = asdict(report)
    for key in ("seconds", "dry_run", "embedded_chunks", "stages"):
        data.pop(key)
    return data


def test_ingest_dry_run_predicts_the_real_run_skips_included(
    tmp_path: Path, embedder: Embedder, notes: Callable[..., list[Path]]
) -> None:
    settings = _settings(tmp_path)
    paths = notes(settings.corpus_dir, 5)
    Engine(settings, embedder).ingest()
    paths[0].write_text("A changed note. It is about kites now.\n", encoding="utf-8")  # changed
    paths[1].unlink()  # deleted
    paths[2].write_bytes(b"")  # indexed, now empty: removed
    paths[3].write_bytes(b"\x00\x01\x02 binary now")  # indexed, now binary: removed
    (settings.corpus_dir / "new.md").write_text("# New\n\nA new file about clouds.\n", encoding="utf-8")  # new
    (settings.corpus_dir / "blank.txt").write_text("\n \n", encoding="utf-8")  # new but empty
    (settings.corpus_dir / "blob.txt").write_bytes(b"\x00" * 64)  # new but binary
    (settings.corpus_dir / "picture.png").write_bytes(b"\x89PNG")  # unsupported

    dry = Engine(settings, embedder).ingest(dry_run=True)
    real = Engine(settings, embedder).ingest()

    assert _without_timing(dry) == _without_timing(real)
    assert (real.added, real.updated, real.unchanged) == (["new.md"], ["note_00.txt"], ["note_04.txt"])
    assert real.deleted == ["note_01.txt", "note_02.txt", "note_03.txt"]
    assert {(item.path, item.outcome) for item in real.skipped} == {
        ("blank.txt", "not indexed"),
        ("blob.txt", "not indexed"),
        ("note_02.txt", "removed"),
        ("note_03.txt", "removed"),
        ("picture.png", "not indexed"),
    }
    assert (real.documents, real.chunks) == (3, Engine(settings, embedder).status().chunks)


def test_ingest_refuses_every_file_of_a_second_folder_with_the_same_name(tmp_path: Path, embedder: Embedder) -> None:
    """A second projB/ may not slip its other files in under the first one's name, in one run or in two."""
    settings = _settings(tmp_path)
    first = _project(tmp_path / "projB", "# Bakery\n\nThe baker opens at five.\n", "# Guide\n\nBeech wood.\n")
    second = _project(tmp_path / "other" / "projB", "# Mill\n\nThe miller grinds rye.\n", "# Guide\n\nRiver water.\n")
    (second / "docs" / "dams.md").write_text("# Dams\n\nThe miller built a dam of oak.\n", encoding="utf-8")

    Engine(settings, embedder).ingest([first])
    later = Engine(settings, embedder).ingest([second])
    together = Engine(settings, embedder).ingest([second, first])  # the indexed folder wins, whatever the order

    expected = {"projB/README.md", "projB/docs/guide.md"}
    assert later.added == [] and {s.path for s in later.skipped} == {
        str((second / name).resolve()) for name in ("README.md", "docs/guide.md", "docs/dams.md")
    }
    assert all("rename one of the two folders" in s.reason for s in later.skipped)
    assert together.unchanged == sorted(expected) and together.added == together.updated == []
    assert len(together.skipped) == 3 and _sources(settings) == expected


def test_ingest_in_one_run_keeps_two_same_named_folders_apart(tmp_path: Path, embedder: Embedder) -> None:
    settings = _settings(tmp_path)
    first = _project(tmp_path / "projB", "# Bakery\n\nThe baker opens at five.\n", "# Guide\n\nBeech wood.\n")
    second = _project(tmp_path / "other" / "projB", "# Mill\n\nThe miller grinds rye.\n", "# Guide\n\nRiver water.\n")
    (second / "docs" / "dams.md").write_text("# Dams\n\nThe miller built a dam of oak.\n", encoding="utf-8")

    report = Engine(settings, embedder).ingest([first, second])

    assert report.added == ["projB/README.md", "projB/docs/guide.md"] and len(report.skipped) == 3
    assert _cited(settings, embedder, "What did the miller build a dam of?")[1][:1] != ["projB/docs/dams.md"]
