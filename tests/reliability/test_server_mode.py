"""Chroma server mode: ingest, re-ingest and ask through chromadb's HttpClient; machines share one index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS_DIR, EXAMPLE_QUESTION

from corpusqa.errors import CorpusQAError
from corpusqa.settings import load_settings
from ingest.store import ChunkStore
from rag import Engine


def _settings(tmp_path: Path, name: str, port: int, corpus: Path):  # type: ignore[no-untyped-def]
    return load_settings(index_dir=tmp_path / name, corpus_dir=corpus, chroma_host="127.0.0.1", chroma_port=port)


def test_server_mode_ingest_reingest_and_ask(tmp_path: Path, chroma_server: int, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(_settings(tmp_path, "machine-a", chroma_server, corpus_copy), embedder)
    first = engine.ingest([corpus_copy]).to_json()
    assert first["added"] == 1 and first["chunks"] > 20
    again = engine.ingest([corpus_copy]).to_json()
    assert again["unchanged"] == 1 and again["added"] == 0
    answer = engine.ask(EXAMPLE_QUESTION)
    assert "13,000 to 14,000" in answer.answer and answer.citations
    status = engine.status().to_json()
    assert status["location"] == f"chroma server 127.0.0.1:{chroma_server}"
    assert not (tmp_path / "machine-a" / "chroma").exists(), "no embedded Chroma in server mode"


def test_two_machines_share_one_server(tmp_path: Path, chroma_server: int, corpus_copy: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    writer = Engine(_settings(tmp_path, "machine-a", chroma_server, corpus_copy), embedder)
    writer.ingest([corpus_copy])
    # machine B has never ingested: it derives its BM25 index from the server's chunks
    reader = Engine(_settings(tmp_path, "machine-b", chroma_server, corpus_copy), embedder)
    assert "13,000 to 14,000" in reader.ask(EXAMPLE_QUESTION).answer
    assert reader.ask("What colour is the zebra Mortimer?").abstained
    (corpus_copy / "zoo.md").write_text("# Zoo news\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    writer.ingest([corpus_copy])
    answer = reader.ask("What colour is the zebra Mortimer?")
    assert not answer.abstained and "purple" in answer.answer


def test_several_processes_write_one_server_index(tmp_path: Path, chroma_server: int) -> None:
    folders = []
    for name in ("team-a", "team-b"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(CORPUS_DIR / "afghan_prisoner_release_2020.txt", folder / f"{name}.txt")
        (folder / f"{name}-notes.md").write_text(f"# Notes of {name}\n\nThe code word of {name} is marmalade.\n", encoding="utf-8")
        folders.append(folder)
    cli = Path(sys.executable).parent / "corpusqa"
    env = {**os.environ, "CORPUSQA_CHROMA_HOST": "127.0.0.1", "CORPUSQA_CHROMA_PORT": str(chroma_server)}
    runs = [
        subprocess.Popen([str(cli), "ingest", "--json", "--index-dir", str(tmp_path / f"idx-{folder.name}"), str(folder)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for folder in folders
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
        assert json.loads(out)["added"] == 2
    status = subprocess.run([str(cli), "status", "--json", "--index-dir", str(tmp_path / "idx-team-a")],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert status.returncode == 0, status.stderr
    sources = {doc["source"] for doc in json.loads(status.stdout)["documents"]}
    assert sources == {"team-a/team-a.txt", "team-a/team-a-notes.md", "team-b/team-b.txt", "team-b/team-b-notes.md"}


def test_overlapping_commits_keep_every_document(  # type: ignore[no-untyped-def]
    tmp_path: Path, chroma_server: int, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Machine A reads the index, then machine B ingests and commits whole, then A's record lands last:
    the order that dropped B's document from the server's record before each commit settled."""
    folders = {}
    for name, colour in (("team-a", "amber"), ("team-b", "teal")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}.md").write_text(f"# Notes of {name}\n\nThe door of {name} is painted {colour}.\n",
                                           encoding="utf-8")
        folders[name] = folder
    machine_a = Engine(_settings(tmp_path, "idx-a", chroma_server, folders["team-a"]), embedder)
    machine_b = Engine(_settings(tmp_path, "idx-b", chroma_server, folders["team-b"]), embedder)
    write_record = ChunkStore.write_generation
    interleaved: list[str] = []

    def b_commits_first(self: ChunkStore, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if not interleaved:  # A's first record write, with a manifest read before B's document existed
            interleaved.append("b")
            assert machine_b.ingest([folders["team-b"]]).to_json()["added"] == 1
        write_record(self, *args, **kwargs)

    monkeypatch.setattr(ChunkStore, "write_generation", b_commits_first)
    report = machine_a.ingest([folders["team-a"]]).to_json()
    assert interleaved == ["b"] and report["added"] == 1 and report["documents"] == 2
    for engine in (machine_a, machine_b):
        sources = {doc["source"] for doc in engine.status().to_json()["documents"]}
        assert sources == {"team-a.md", "team-b.md"}
        assert "teal" in engine.ask("What colour is the door of team-b painted?").answer
        assert "amber" in engine.ask("What colour is the door of team-a painted?").answer


def test_unreachable_server_is_one_sentence(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = Engine(_settings(tmp_path, "m", port, tmp_path), embedder)
    with pytest.raises(CorpusQAError, match="Could not open the index at the Chroma server"):
        engine.ask(EXAMPLE_QUESTION)
