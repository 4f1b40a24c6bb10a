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


def test_eight_threads_ask_while_an_upload_ingests(tmp_path: Path, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """The shared spaCy pipeline (questions parse in page threads, the upload's ingest annotates) and the
    store's sentence matrix (swapped whole on reload) hold under load: every answer is whole and right."""
    import sys

    from support.documents import EXAMPLE_ANSWER, NEW_DOC, NEW_DOC_NAME, NEW_DOC_QUESTION

    from ui.web import ChatPage

    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # a long upload (300 sections), so that its annotation (spaCy at ingest) overlaps many questions
    filler = "\n\n".join(
        f"## Gauge {n}\n\nThe river gauge number {n} read {n % 7 + 1}.{n % 10} metres on day {n % 28 + 1} of the survey, "
        f"as the field team of district {n % 13} noted in their log."
        for n in range(300)
    )
    upload = inbox / NEW_DOC_NAME
    upload.write_text(NEW_DOC + "\n\n" + filler + "\n", encoding="utf-8")
    page = ChatPage(engine, settings, inbox=inbox)
    assert EXAMPLE_ANSWER in engine.ask(QUESTIONS[0]).answer  # the model and the pipeline are loaded

    uploading = threading.Event()
    done = threading.Event()
    during: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def ask_until_done(offset: int) -> None:
        n = offset
        uploading.wait(30)
        while not done.is_set() or n - offset < 2:
            question = QUESTIONS[n % 2]  # the two the bundled file answers
            try:
                html = ""
                for html, _ in page.ask(question, [], "extractive", 3):
                    pass
                during.append((question, html))
            except BaseException as exc:  # noqa: BLE001 - any failure is what the test looks for
                errors.append(exc)
            n += 1

    threads = [threading.Thread(target=ask_until_done, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    uploading.set()
    try:
        summary, _, _ = page.upload([str(upload)], progress=lambda *args, **kwargs: None)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=300)
    assert not errors, errors[:3]
    assert "cqa-error" not in summary, summary
    assert len(during) >= 16
    for question, html in during:
        assert "cqa-error" not in html, (question, html[:300])
    assert all(EXAMPLE_ANSWER in html for question, html in during if question == QUESTIONS[0])
    assert "Amina Juma" in engine.ask(NEW_DOC_QUESTION).answer  # the upload landed, and is answered from
    # spaCy was imported without leaving torch unimportable for the rest of the process
    assert sys.modules.get("torch", "absent") is not None
