"""Questions keep being answered from whole index generations while a re-ingest rewrites the corpus."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from corpusqa.errors import IndexBusyError
from corpusqa.settings import load_settings
from corpusqa.types import Answer
from rag import Engine

QUESTIONS = [
    "How many Taliban prisoners were held in total?",
    "Who is the National Security Council spokesman?",
    "What colour is the zebra Mortimer?",
    "When did Ghani sign the decree?",
]


def _chunk_ids(engine: Engine) -> dict[str, str]:
    snapshot = engine._current()
    return {chunk_id: chunk.doc_hash for chunk_id, chunk in snapshot.chunks.items()}


def test_questions_during_reingest_never_mix_versions(tmp_path: Path, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    zoo = corpus_copy / "zoo.md"
    zoo.write_text("# Zoo news\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    extra = corpus_copy / "extra.md"
    extra.write_text("# Extra\n\nThis file is deleted during the re-ingest. It mentions Kabul once.\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    writer = Engine(settings, embedder)
    writer.ingest([corpus_copy])
    reader = Engine(settings, embedder)
    before = _chunk_ids(reader)

    answers: list[tuple[float, float, Answer]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_forever(offset: int) -> None:
        n = offset
        # keep asking until the re-ingest is over, and at least three questions each
        while not stop.is_set() or n - offset < 3:
            started = time.monotonic()
            try:
                answer = reader.ask(QUESTIONS[n % len(QUESTIONS)])
                answers.append((started, time.monotonic(), answer))
            except BaseException as exc:  # noqa: BLE001 - any failure is what the test looks for
                errors.append(exc)
            n += 1

    threads = [threading.Thread(target=ask_forever, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    # change one file, delete another, add a third, while questions run
    zoo.write_text("# Zoo news\n\nThe zebra Mortimer is now orange with blue stripes.\n", encoding="utf-8")
    extra.unlink()
    (corpus_copy / "new.md").write_text("# New\n\nA new file about the Doha talks.\n", encoding="utf-8")
    ingest_started = time.monotonic()
    report = writer.ingest([corpus_copy])
    ingest_ended = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    after = _chunk_ids(reader)

    assert report.to_json()["updated"] == 1 and report.to_json()["deleted"] == 1 and report.to_json()["added"] == 1
    assert not errors, errors[:3]
    during = [a for started, ended, a in answers if started < ingest_ended and ended > ingest_started]
    assert during, "some questions were answered while the re-ingest ran"
    for _, _, answer in answers:
        hashes: dict[str, set[str]] = {}
        for scored in answer.retrieved:
            chunk = scored.chunk
            assert chunk.id in before or chunk.id in after, "a chunk from neither generation"
            hashes.setdefault(chunk.source, set()).add(chunk.doc_hash)
        assert all(len(versions) == 1 for versions in hashes.values()), "a file's old and new chunks mixed"
    zebra = reader.ask("What colour is the zebra Mortimer?")
    assert "orange" in zebra.answer


def test_second_ingest_waits_its_turn(tmp_path: Path, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from filelock import FileLock

    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    settings.index_dir.mkdir(parents=True)
    with FileLock(str(settings.index_dir / "ingest.lock")):
        try:
            Engine(settings, embedder).ingest([corpus_copy])
        except IndexBusyError as exc:
            assert "Another ingest is writing" in str(exc) and "wait for it to finish" in str(exc)
        else:
            raise AssertionError("a second ingest must refuse while the lock is held")
    assert Engine(settings, embedder).ingest([corpus_copy]).to_json()["added"] == 1
