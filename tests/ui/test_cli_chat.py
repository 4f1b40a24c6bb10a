"""`corpusqa chat`: piped stdin through CliRunner, and the interactive loop in a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings
from ui.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CORPUSQA = Path(sys.executable).parent / "corpusqa"


def test_cli_chat_json_keeps_history_until_new(bundled_index: Settings) -> None:
    lines = "Who is Mark Frerichs?\nWhere was he captured?\n/new\nWhere was he captured?\n"
    result = CliRunner().invoke(cli, ["chat", "--json", "--index-dir", str(bundled_index.index_dir)], input=lines)
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 3
    assert turns[0]["standalone_question"] == "Who is Mark Frerichs?"
    assert turns[1]["question"] == "Where was he captured?"
    assert turns[1]["standalone_question"] == "Where was Mark Frerichs captured?"
    assert "Khost" in turns[1]["answer"] and "Khost" in turns[1]["citations"][0]["text"]
    # after /new the same question has no one to lean on
    assert turns[2]["standalone_question"] == "Where was he captured?"


def test_cli_chat_renders_like_ask_and_shows_the_rewrite(bundled_index: Settings) -> None:
    lines = "Who is Mark Frerichs?\n   \nHow old is he?\n"
    result = CliRunner().invoke(cli, ["chat", "--index-dir", str(bundled_index.index_dir)], input=lines)
    assert result.exit_code == 0, result.output
    assert "Searched for: How old is Mark Frerichs?" in result.stdout
    assert result.stdout.count("Sources:") == 2
    asked = CliRunner().invoke(cli, ["ask", "--index-dir", str(bundled_index.index_dir), "How old is Mark Frerichs?"])
    # the same rendering as `ask`: the answer and its sources (timings differ)
    assert asked.stdout.split("\n(extractive")[0].split("Sources:")[1] in result.stdout


def test_cli_chat_reports_a_bad_turn_and_goes_on(bundled_index: Settings) -> None:
    lines = "???\nWho is Mark Frerichs?\n"
    result = CliRunner().invoke(cli, ["chat", "--json", "--index-dir", str(bundled_index.index_dir)], input=lines)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"question": "???", "error": "The question is empty; type a question about your documents."}
    assert second["abstained"] is False


def _read_until(fd: int, needle: bytes, seen: bytearray, start: int = 0, timeout: float = 240.0) -> int:
    """Read the terminal into `seen` until `needle` shows after `start`; return where it ends."""
    deadline = time.monotonic() + timeout
    # poll, not select: a long test session holds many open files (each Chroma client keeps its segment files
    # open), and select() refuses a descriptor numbered 1024 or more
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while needle not in seen[start:]:
        assert time.monotonic() < deadline, f"no {needle!r} in {seen.decode(errors='replace')[-2000:]}"
        if poller.poll(1000):
            try:
                seen.extend(os.read(fd, 65536))
            except OSError:  # the child closed the terminal
                break
    return seen.index(needle, start) + len(needle)


def test_cli_chat_in_a_terminal_prompts_and_quits_on_ctrl_d(bundled_index: Settings) -> None:
    env = {**os.environ, **OFFLINE_ENV, "CORPUSQA_INDEX_DIR": str(bundled_index.index_dir), "COLUMNS": "200"}
    main, child = pty.openpty()
    process = subprocess.Popen([str(CORPUSQA), "chat"], stdin=child, stdout=child, stderr=child, env=env, cwd=ROOT)
    os.close(child)
    seen = bytearray()
    try:
        at = _read_until(main, b"> ", seen)
        assert b"/new starts over" in seen
        os.write(main, b"Who is Mark Frerichs?\n")
        at = _read_until(main, b"> ", seen, _read_until(main, b"Sources:", seen, at))
        os.write(main, b"Where was he captured?\n")
        _read_until(main, b"Searched for: Where was Mark Frerichs captured?", seen, at)
        os.write(main, b"\x04")  # Ctrl-D
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert b"Khost" in seen
