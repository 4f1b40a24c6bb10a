"""`corpusqa ingest` and `corpusqa status`: CliRunner for output and flags, a real process for exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from support.servers import lock_held_elsewhere

from corpusqa.settings import Settings
from ui.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILE = ROOT / "data" / "corpus" / "afghan_prisoner_release_2020.txt"
CORPUSQA = Path(sys.executable).parent / "corpusqa"
# the contract of issue #13, plus the OCR counts of issue #26 (fields are only ever added)
INGEST_KEYS = {
    "added", "updated", "unchanged", "deleted", "skipped", "documents", "chunks", "seconds", "ocr_pages", "pages_skipped",
}
SUMMARY = r"{} added, {} updated, {} unchanged, {} deleted, {} skipped \((were|would be) processed\); index: {} documents, \d+ chunks; [\d.]+ s"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return folder


def _notes(folder: Path) -> Path:
    return _write(
        folder,
        alpha__txt="Alpha notes talk about apples. Apples grow on trees.\n",
        beta__md="# Beta\n\nBananas are yellow. They grow in bunches.\n",
        gamma__txt="Gamma covers cherries. Cherries are small and red.\n",
    )


def _status(index_dir: Path) -> dict[str, Any]:
    result = run("status", "--json", "--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def _summary(*counts: int) -> str:
    return SUMMARY.format(*counts)


# ---- ingest -------------------------------------------------------------------------------------------


def test_cli_ingest_defaults_to_data_corpus_and_prints_one_summary_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notes(tmp_path / "data" / "corpus")
    monkeypatch.chdir(tmp_path)

    result = run("ingest")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # progress and the summary are diagnostics: stderr
    assert len(result.stderr.splitlines()) == 1
    assert re.fullmatch(_summary(3, 0, 0, 0, 0, 3), result.stderr.strip()), result.stderr
    assert "━" not in result.output  # no progress bar when stderr is not a terminal
    status = _status(tmp_path / "index")  # CORPUSQA_INDEX_DIR from the test environment
    assert [d["source"] for d in status["documents"]] == ["alpha.txt", "beta.md", "gamma.txt"]


def test_cli_ingest_json_prints_exactly_one_object_with_the_contract_keys(tmp_path: Path) -> None:
    first, second = _notes(tmp_path / "first"), _write(tmp_path / "second", delta__txt="Delta is about dates. Dates are sweet.\n")
    (second / "empty.txt").write_bytes(b"")
    (second / "nul.txt").write_bytes(b"\x00\x01binary")
    run("ingest", str(first))

    result = run("ingest", "--json", str(second))

    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1 and result.stderr == ""
    summary = json.loads(result.stdout)
    assert set(summary) == INGEST_KEYS
    assert {k: summary[k] for k in ("added", "updated", "unchanged", "deleted", "documents")} == {
        "added": 1, "updated": 0, "unchanged": 0, "deleted": 0, "documents": 4
    }
    assert summary["skipped"] == [
        {"path": "second/empty.txt", "reason": "empty file", "outcome": "not indexed"},
        {"path": "second/nul.txt", "reason": "binary file (contains NUL bytes)", "outcome": "not indexed"},
    ]
    # counts are files, except chunks: every chunk in the index, the first folder's included
    assert summary["chunks"] == _status(tmp_path / "index")["chunks"] > 1
    assert isinstance(summary["seconds"], float) and summary["seconds"] >= 0


def test_cli_ingest_json_second_run_reports_unchanged(tmp_path: Path) -> None:
    corpus = _notes(tmp_path / "corpus")
    run("ingest", str(corpus))
    chunks = _status(tmp_path / "index")["chunks"]

    summary = json.loads(run("ingest", "--json", str(corpus)).stdout)

    assert {k: summary[k] for k in ("added", "updated", "unchanged", "deleted", "documents", "chunks")} == {
        "added": 0, "updated": 0, "unchanged": 3, "deleted": 0, "documents": 3, "chunks": chunks
    }


def test_cli_ingest_dry_run_lists_each_file_and_leaves_the_index_alone(tmp_path: Path) -> None:
    corpus = _notes(tmp_path / "corpus")
    run("ingest", str(corpus))
    before = _status(tmp_path / "index")
    (corpus / "alpha.txt").write_text("Alpha changed. Now it is about apricots.\n", encoding="utf-8")
    (corpus / "gamma.txt").unlink()
    _write(corpus, omega__txt="Omega is new. It talks about oranges.\n")

    result = run("ingest", "--dry-run", str(corpus))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:-1] == [
        "new       corpus/omega.txt", "changed   corpus/alpha.txt", "unchanged corpus/beta.md", "deleted   corpus/gamma.txt"
    ]
    assert re.fullmatch(_summary(1, 1, 1, 1, 0, 3), lines[-1]), lines[-1]
    assert "would be processed" in lines[-1]
    assert _status(tmp_path / "index") == before


def test_cli_ingest_no_delete_keeps_chunks_of_removed_files(tmp_path: Path) -> None:
    corpus = _notes(tmp_path / "corpus")
    run("ingest", str(corpus))
    before = _status(tmp_path / "index")
    (corpus / "gamma.txt").unlink()

    kept = json.loads(run("ingest", "--json", "--no-delete", str(corpus)).stdout)
    dropped = json.loads(run("ingest", "--json", str(corpus)).stdout)

    assert (kept["deleted"], kept["documents"], kept["chunks"]) == (0, 3, before["chunks"])
    assert _status(tmp_path / "index")["document_count"] == 2
    assert (dropped["deleted"], dropped["documents"]) == (1, 2)


@pytest.mark.parametrize(("flags", "outcome", "deleted", "line"), [
    ((), "removed", 1, "would skip corpus/gamma.txt: empty file; its indexed version would be removed"),
    (("--keep-unreadable",), "kept", 0, "would skip corpus/gamma.txt: empty file; its indexed version would be kept (--keep-unreadable)"),
])
def test_cli_ingest_says_what_became_of_a_file_that_lost_its_text(
    tmp_path: Path, flags: tuple[str, ...], outcome: str, deleted: int, line: str
) -> None:
    corpus = _notes(tmp_path / "corpus")
    run("ingest", str(corpus))
    (corpus / "gamma.txt").write_text("", encoding="utf-8")

    dry = run("ingest", "--dry-run", *flags, str(corpus))
    summary = json.loads(run("ingest", "--json", *flags, str(corpus)).stdout)

    assert dry.exit_code == 0, dry.output
    assert line in dry.stderr.splitlines()
    assert ("deleted   corpus/gamma.txt" in dry.stdout.splitlines()) == bool(deleted)
    assert summary["skipped"] == [{"path": "corpus/gamma.txt", "reason": "empty file", "outcome": outcome}]
    assert (summary["deleted"], summary["documents"]) == (deleted, 3 - deleted)
    assert [d["source"] for d in _status(tmp_path / "index")["documents"]][-1:] == (
        ["corpus/gamma.txt"] if outcome == "kept" else ["corpus/beta.md"]
    )


@pytest.mark.parametrize("how", ["env", "flag", "flag-over-env"])
def test_cli_index_dir_moves_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    corpus = _notes(tmp_path / "corpus")
    env_dir, flag_dir = tmp_path / "from-env", tmp_path / "from-flag"
    monkeypatch.setenv("CORPUSQA_INDEX_DIR", str(env_dir if how != "flag" else tmp_path / "unused"))
    args = ["--index-dir", str(flag_dir)] if how != "env" else []
    expected = env_dir if how == "env" else flag_dir

    ingest = run("ingest", "--json", *args, str(corpus))
    status = run("status", "--json", *args)

    assert ingest.exit_code == 0 and status.exit_code == 0, ingest.output + status.output
    assert json.loads(status.stdout)["index_dir"] == str(expected)
    assert (expected / "state.json").is_file() and (expected / "chroma").is_dir()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("from-", "unused", "index"))] == [expected.name]


# ---- status -------------------------------------------------------------------------------------------


def test_cli_status_json_has_documents_hashes_model_location_and_time(bundled_index: Settings) -> None:
    status = _status(bundled_index.index_dir)

    assert status["documents"] == [
        {"source": CORPUS_FILE.name, "hash": hashlib.sha256(CORPUS_FILE.read_bytes()).hexdigest(), "chunks": status["chunks"]}
    ]
    assert status["document_count"] == 1 and status["chunks"] > 10
    assert status["embedding_model"] == "all-MiniLM-L6-v2"
    assert status["index_dir"] == str(bundled_index.index_dir)
    assert status["location"] == str(bundled_index.index_dir / "chroma")
    assert status["last_ingest"] and status["generation"] >= 1


def test_cli_status_text_names_every_field(bundled_index: Settings) -> None:
    status = _status(bundled_index.index_dir)

    result = run("status", "--index-dir", str(bundled_index.index_dir))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Index: {bundled_index.index_dir / 'chroma'}",
        f"Embedding model: all-MiniLM-L6-v2 (chunks of ~{bundled_index.chunk_tokens} tokens)",
        f"Documents: 1, chunks: {status['chunks']}, generation {status['generation']}",
        f"Last ingest: {status['last_ingest']}",
        f"  {CORPUS_FILE.name}  {status['chunks']} chunks  sha256:{status['documents'][0]['hash'][:12]}",
    ]


# ---- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["ingest", "{tmp}/missing"], 1, "Error: No such file or folder: {tmp}/missing; check the path and try again."),
        (["ingest", "--dry-run", "{tmp}/missing"], 1, "Error: No such file or folder: {tmp}/missing; check the path and try again."),
        (["status", "--index-dir", "{tmp}/empty"], 1,
         "Error: No index in {tmp}/empty; run `corpusqa ingest` first (or set --index-dir)."),
        (["ingest", "--chunk-tokens", "5", "{tmp}"], 2, "Setting 'chunk_tokens' (env CORPUSQA_CHUNK_TOKENS) is invalid"),
        (["ingest", "--frobnicate"], 2, "Error: No such option '--frobnicate'."),
    ],
)
def test_cli_errors_are_one_line_with_an_exit_code(tmp_path: Path, args: list[str], exit_code: int, message: str) -> None:
    result = run(*[arg.format(tmp=tmp_path) for arg in args])

    assert result.exit_code == exit_code, result.output
    assert message.format(tmp=tmp_path) in result.output
    assert "Traceback" not in result.output
    if exit_code == 1:
        assert result.output == message.format(tmp=tmp_path) + "\n"


def test_cli_ingest_while_another_ingest_runs_refuses_with_index_busy(tmp_path: Path) -> None:
    corpus = _notes(tmp_path / "corpus")
    index_dir = tmp_path / "index"

    with lock_held_elsewhere(index_dir / "ingest.lock"):
        busy = run("ingest", str(corpus))
    after = run("ingest", "--json", str(corpus))

    assert busy.exit_code == 1
    assert busy.output == f"Error: Another ingest is writing {index_dir}; wait for it to finish and try again.\n"
    assert after.exit_code == 0 and json.loads(after.stdout)["added"] == 3


# ---- the installed command in a real process ----------------------------------------------------------


def test_corpusqa_ingest_missing_path_exits_1_with_one_sentence_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CORPUSQA), "ingest", str(tmp_path / "nope")], capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: No such file or folder: {tmp_path / 'nope'}; check the path and try again.\n"


def _without_file_read_override() -> list[str]:
    """As root, drop the capabilities that let root read a chmod-000 file (so it is unreadable here too)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to make a file unreadable for root"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_corpusqa_ingest_json_reports_unreadable_and_broken_files_and_goes_on(tmp_path: Path) -> None:
    corpus = _notes(tmp_path / "corpus")
    (corpus / "locked.txt").write_text("Nobody may read this.\n", encoding="utf-8")
    (corpus / "locked.txt").chmod(0)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\nnot a pdf")
    (corpus / "blank.md").write_text("\n\n", encoding="utf-8")
    (corpus / "raw.html").write_bytes(b"\x00\x00\x00binary")
    index_dir = tmp_path / "index"

    try:
        result = subprocess.run(
            [*_without_file_read_override(), str(CORPUSQA), "ingest", "--json", "--index-dir", str(index_dir), str(corpus)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
    finally:
        (corpus / "locked.txt").chmod(0o644)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stdout.splitlines()
    summary = json.loads(line)
    assert set(summary) == INGEST_KEYS
    assert (summary["added"], summary["documents"]) == (3, 3)
    reasons = {item["path"].removeprefix("corpus/"): item["reason"] for item in summary["skipped"]}
    assert reasons["locked.txt"] == "cannot read file (Permission denied)"
    assert reasons["broken.pdf"].startswith("PDF could not be parsed")
    assert reasons["blank.md"] == "empty file"
    assert reasons["raw.html"] == "binary file (contains NUL bytes)"
    assert len(reasons) == 4


def test_cli_ask_questions_file_reports_a_bad_line_and_goes_on(bundled_index: Settings, tmp_path: Path) -> None:
    """Issue #13 item 14: an empty or too long question used to stop the whole run."""
    questions = tmp_path / "questions.txt"
    good = "How many Taliban prisoners were held in total?"
    questions.write_text(f"{good}\n???\n{'x' * 5000}\n{good}\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["ask", "--json", "--index-dir", str(bundled_index.index_dir), "--questions-file", str(questions)]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [("error" in line) for line in lines] == [False, True, True, False]
    assert lines[1] == {"question": "???", "error": "The question is empty; type a question about your documents."}
    assert "characters long" in lines[2]["error"]
    assert "13,000 to 14,000" in lines[3]["answer"]
    assert "2 questions could not be answered" in result.stderr and "Traceback" not in result.output


def _broken_ask(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret internals at /srv/x")


def test_cli_unexpected_error_is_one_line_unless_debugging(
    bundled_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #13 item 16: the path users see is tested, without looking for pytest."""
    from rag import Engine

    monkeypatch.setattr(Engine, "ask", _broken_ask)
    args = ["ask", "--index-dir", str(bundled_index.index_dir), "anything at all?"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        "Error: Unexpected error (RuntimeError: secret internals at /srv/x); rerun with CORPUSQA_DEBUG=1 for the traceback."
    ]
    monkeypatch.setenv("CORPUSQA_DEBUG", "1")
    debugging = CliRunner().invoke(cli, args)
    assert isinstance(debugging.exception, RuntimeError)


@pytest.mark.parametrize(("flags", "outcome", "documents"), [((), "removed", 2), (("--keep-unreadable",), "kept", 3)])
def test_cli_ingest_treats_a_file_turned_broken_link_as_unreadable(
    tmp_path: Path, flags: tuple[str, ...], outcome: str, documents: int
) -> None:
    corpus = _notes(tmp_path / "corpus")
    run("ingest", str(corpus))
    (corpus / "gamma.txt").unlink()
    (corpus / "gamma.txt").symlink_to(tmp_path / "moved-away.txt")  # e.g. its target was moved

    summary = json.loads(run("ingest", "--json", *flags, str(corpus)).stdout)

    assert summary["skipped"] == [{"path": "corpus/gamma.txt", "reason": "broken symbolic link", "outcome": outcome}]
    assert summary["documents"] == documents
