"""`corpusqa ingest --watch` as a user runs it: in its own process, picking up a change, stopped by Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from click.testing import CliRunner

from corpusqa.offline import OFFLINE_ENV
from ui.cli import cli


def _wait_for(log: Path, text: str, seconds: float, after: int = 0) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace")[after:]:
        assert time.monotonic() < deadline, f"{text!r} not printed within {seconds:.0f} s:\n{log.read_text()}"
        time.sleep(0.2)


def _start(command: list[str], env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start `command` with Ctrl+C as a terminal delivers it. A suite started in the background of a script
    (`make test &`) runs with SIGINT ignored, which children inherit, and Python then never turns SIGINT into
    KeyboardInterrupt; a handled signal is reset to the default in the child instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ingest_watch_picks_up_a_change_and_stops_cleanly_on_ctrl_c(tmp_path: Path, model_cache: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "pump.md").write_text("# Pump\n\nThe pump delivers nine litres a minute.\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORPUSQA_")}
    env.update(OFFLINE_ENV, CORPUSQA_INDEX_DIR=str(tmp_path / "index"), CORPUSQA_MODEL_CACHE_DIR=str(model_cache))
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT prints every thread's stack: where a stop that never came hangs
    log = tmp_path / "watch.log"
    command = [str(Path(sys.executable).parent / "corpusqa"), "ingest", "--watch", str(folder)]
    with log.open("wb") as out:
        process = _start(command, env, out)
    try:
        _wait_for(log, "1 added", 120)
        seen = len(log.read_text())
        (folder / "valve.txt").write_text("The valve closes at four bar.\n", encoding="utf-8")
        _wait_for(log, "1 added, 0 updated, 1 unchanged", 30, after=seen)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=30)
            raise AssertionError(f"not stopped 30 s after Ctrl+C; its output and stacks:\n{log.read_text()}") from None
        assert code == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert output.rstrip().endswith("Stopped.") and "Traceback" not in output, output


def test_ingest_watch_refuses_dry_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", "--watch", "--dry-run", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "drop --dry-run" in result.output
