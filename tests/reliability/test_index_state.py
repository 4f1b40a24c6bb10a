"""A read-only index answers; a damaged state.json is reported and kept; search failures are not "no hits"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER
from support.servers import free_port

from corpusqa.errors import CorpusQAError, DamagedIndexError
from corpusqa.settings import Settings, load_settings
from rag import Engine
from ui.cli import cli

CORPUSQA = str(Path(sys.executable).parent / "corpusqa")
# Mount `src` read-only at `mnt` in a private mount namespace, then run the command: a real read-only file
# system (EROFS), which root cannot write either (chmod alone does not stop root).
_READ_ONLY_MOUNT = 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"'


def _read_only_runner(tmp_path: Path) -> list[str]:
    """The command prefix that runs a command with tmp_path/src mounted read-only at tmp_path/mnt."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux's unshare is not installed")
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    prefix = [unshare, "-m", "sh", "-c", _READ_ONLY_MOUNT, "sh", str(src), str(mnt)]
    probe = subprocess.run([*prefix, "sh", "-c", f"touch {mnt}/probe"], capture_output=True, text=True, check=False)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot make a read-only mount here ({probe.stderr.strip()[:200] or 'mount refused'})")
    return prefix


@pytest.fixture
def read_only_index(tmp_path: Path, bundled_index: Settings) -> tuple[list[str], Path]:
    """(command prefix, index dir as the command sees it): a copy of the bundled index, mounted read-only."""
    shutil.copytree(bundled_index.index_dir, tmp_path / "src")
    (tmp_path / "mnt").mkdir()
    return _read_only_runner(tmp_path), tmp_path / "mnt"


def _run(prefix: list[str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, CORPUSQA, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_a_read_only_index_answers_and_refuses_ingest_in_one_sentence(
    read_only_index: tuple[list[str], Path], bundled_index: Settings
) -> None:
    prefix, mnt = read_only_index
    asked = _run(prefix, "ask", EXAMPLE_QUESTION, "--index-dir", str(mnt), "--json")
    assert asked.returncode == 0, asked.stderr
    assert EXAMPLE_ANSWER in json.loads(asked.stdout)["answer"]
    status = _run(prefix, "status", "--index-dir", str(mnt), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["read_only"] is True and json.loads(status.stdout)["document_count"] == 1
    found = _run(prefix, "search", "prisoners released", "--index-dir", str(mnt), "--json")
    assert found.returncode == 0 and "prisoner" in found.stdout.lower(), found.stderr
    ingest = _run(prefix, "ingest", str(bundled_index.corpus_dir), "--index-dir", str(mnt))
    assert ingest.returncode == 1
    message = ingest.stderr.strip().splitlines()[-1]
    assert "read-only" in message and "Unexpected" not in ingest.stderr and "Traceback" not in ingest.stderr, ingest.stderr
    assert message.count(". ") == 0 and message.endswith("."), message  # one sentence


def test_a_read_only_index_serves_the_page_and_the_api(read_only_index: tuple[list[str], Path]) -> None:
    prefix, mnt = read_only_index
    port = free_port()
    server = subprocess.Popen(
        [*prefix, CORPUSQA, "ui", "--index-dir", str(mnt), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        answer = httpx.post(url + "/v1/ask", json={"question": EXAMPLE_QUESTION}, timeout=120)
        assert answer.status_code == 200 and EXAMPLE_ANSWER in answer.json()["answer"], answer.text
        assert httpx.get(url + "/v1/status", timeout=30).json()["read_only"] is True
        from gradio_client import Client

        client = Client(url + "/", verbose=False, analytics_enabled=False, download_files=False)
        try:
            _, details = client.predict(EXAMPLE_QUESTION, "extractive", 3, api_name="/ask")
        finally:
            client.close()
        assert EXAMPLE_ANSWER in details["answer"]
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---- state.json ----------------------------------------------------------------------------------------


@contextmanager
def _index(tmp_path: Path, corpus_copy: Path, embedder: Any) -> Iterator[tuple[Settings, Engine]]:
    settings = load_settings(index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    engine = Engine(settings, embedder)
    engine.ingest([corpus_copy])
    yield settings, engine


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"generation": "seven"}', b'{"documents": [[1]]}'])
def test_a_damaged_state_is_reported_and_kept_until_repair(
    tmp_path: Path, corpus_copy: Path, embedder: Any, damage: bytes
) -> None:
    with _index(tmp_path, corpus_copy, embedder) as (settings, _):
        state = settings.index_dir / "state.json"
        generation = json.loads(state.read_text())["generation"]
        state.write_bytes(damage)
        fresh = Engine(settings, embedder)
        for attempt in (fresh.status, lambda: fresh.ask(EXAMPLE_QUESTION), lambda: fresh.ingest([corpus_copy])):
            with pytest.raises(DamagedIndexError, match=r"cannot be read .*corpusqa ingest --repair"):
                attempt()
        assert state.read_bytes() == damage  # reported, never overwritten
        runner = CliRunner()
        refused = runner.invoke(cli, ["status", "--index-dir", str(settings.index_dir)])
        assert refused.exit_code == 1 and "--repair" in refused.output and "Traceback" not in refused.output
        repaired = runner.invoke(cli, ["ingest", str(corpus_copy), "--index-dir", str(settings.index_dir), "--repair"])
        assert repaired.exit_code == 0, repaired.output
        assert (settings.index_dir / "state.json.damaged").read_bytes() == damage
        assert json.loads(state.read_text())["generation"] > generation  # the counter goes on, not from 0
        assert EXAMPLE_ANSWER in Engine(settings, embedder).ask(EXAMPLE_QUESTION).answer


def test_repair_leaves_a_sound_state_alone(tmp_path: Path, corpus_copy: Path, embedder: Any) -> None:
    with _index(tmp_path, corpus_copy, embedder) as (settings, engine):
        before = json.loads((settings.index_dir / "state.json").read_text())
        engine.ingest([corpus_copy], repair=True)
        assert not (settings.index_dir / "state.json.damaged").exists()
        assert json.loads((settings.index_dir / "state.json").read_text())["documents"] == before["documents"]


# ---- the keyword index and the vector fallback --------------------------------------------------------


def test_keyword_search_finds_nothing_only_for_unknown_words(tmp_path: Path, bundled_index: Settings) -> None:
    from ingest.keyword import KeywordIndex
    from ingest.state import read_state

    state = read_state(bundled_index.index_dir)
    assert state is not None
    folder = tmp_path / "bm25"
    shutil.copytree(bundled_index.index_dir / state.bm25_dir, folder)
    keyword = KeywordIndex.load(folder)
    assert keyword.search("zyxwvut qqqq", 5) == []  # no word of the query is in the index: the one empty case
    assert keyword.search("prisoners", 5)
    # a folder out of step with itself (terms.json of a bigger corpus): bm25s refuses the search with a
    # ValueError, which used to read as "no hits"
    terms = json.loads((folder / "terms.json").read_text())
    (folder / "terms.json").write_text(json.dumps({**terms, "n": terms["n"] + 1000}))
    with pytest.raises(CorpusQAError, match="keyword index could not be searched"):
        KeywordIndex.load(folder).search("prisoners", 500)


def test_the_approximate_fallback_is_logged_once_and_shown_in_status(
    tmp_path: Path, corpus_copy: Path, embedder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The switch itself needs a sentence collection Chroma can query but not read back (chroma#7090); the
    damage that can be made by hand to chromadb 1.5.9's files breaks both, so this drives the note directly."""
    from chromadb.errors import InternalError

    with _index(tmp_path, corpus_copy, embedder) as (_, engine):
        assert engine.status().search_fallback is None and engine.status().to_json()["search_fallback"] is None
        store = engine._current().store
        with caplog.at_level("WARNING", logger="ingest.store"):
            for _ in range(3):
                store.matrix.note_fallback(InternalError("segment reader failed"))
        warnings = [r for r in caplog.records if "approximate" in r.getMessage()]
        assert len(warnings) == 1 and "segment reader failed" in warnings[0].getMessage()
        status = engine.status()
        assert status.search_fallback == "InternalError: segment reader failed"
        assert status.to_json()["search_fallback"] == status.search_fallback
        assert EXAMPLE_ANSWER in engine.ask(EXAMPLE_QUESTION).answer
