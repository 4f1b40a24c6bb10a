"""Measure the folder watcher on the bundled corpus: edit-to-answerable time and idle CPU.

Run: `python -m evals.bench_watch [--edits 5] [--idle 60]`. It copies data/corpus to a temporary
folder, starts `corpusqa ingest --watch` on it in its own process (as a user would in a terminal),
then, from this process (as a user asking in another terminal):
- appends a new fact to the bundled document `--edits` times and asks about it every 0.25 s until the
  answer quotes it: the time from the write to the first such answer is the edit-to-answerable time;
- leaves the watcher alone for `--idle` seconds and reads its CPU time from /proc: the idle CPU share.
Prints one JSON line with the figures (targets, issue #26: <= 10 s and <= 1%).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpusqa.settings import load_settings
from rag import Engine

__all__ = ["main"]

_CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
# invented facts, one per edit: (sentence appended, question, the words the answer must quote)
_FACTS = [
    ("The night ferry to Pemba carried {n} bicycles in its busiest week.", "How many bicycles did the night ferry to Pemba carry?"),
    ("The hill observatory recorded {n} clear nights in its first decade.", "How many clear nights did the hill observatory record?"),
    ("The village library lent {n} atlases during the winter.", "How many atlases did the village library lend?"),
    ("The coastal bakery sold {n} rye loaves on the opening day.", "How many rye loaves did the coastal bakery sell?"),
    ("The old mill ground {n} sacks of barley before it closed.", "How many sacks of barley did the old mill grind?"),
]


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(log: Path, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise SystemExit(f"the watcher did not print {text!r} within {seconds:.0f} s:\n{log.read_text()}")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    """Run the measurement and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--edits", type=int, default=5, help="edits to time (at most 5)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle watching to measure CPU over")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        shutil.copytree(_CORPUS, corpus)
        settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
        engine = Engine.from_settings(settings)
        engine.ingest([corpus])
        engine.warm_up()
        env = {**os.environ, "CORPUSQA_INDEX_DIR": str(settings.index_dir), "CORPUSQA_CORPUS_DIR": str(corpus)}
        log = root / "watch.log"
        command = [str(Path(sys.executable).parent / "corpusqa"), "ingest", "--watch", str(corpus)]
        with log.open("wb") as out:
            watcher = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(log, "index:", 180)  # the catch-up ingest (nothing to do) has run
            document = next(path for path in sorted(corpus.iterdir()) if path.is_file())
            times = []
            for number, (sentence, question) in enumerate(_FACTS[: args.edits]):
                count = str(4100 + 37 * number)
                with document.open("a", encoding="utf-8") as handle:
                    handle.write("\n\n" + sentence.format(n=count) + "\n")
                written = time.monotonic()
                while count not in engine.ask(question).answer:
                    if time.monotonic() - written > 60:
                        raise SystemExit(f"edit {number} not answerable within 60 s:\n{log.read_text()}")
                    time.sleep(0.25)
                times.append(time.monotonic() - written)
            time.sleep(3)  # let the last ingest's output settle
            before, started = _cpu_seconds(watcher.pid), time.monotonic()
            time.sleep(args.idle)
            idle = (_cpu_seconds(watcher.pid) - before) / (time.monotonic() - started)
            watcher.send_signal(signal.SIGINT)  # Ctrl+C
            code = watcher.wait(timeout=30)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
        print(
            json.dumps(
                {
                    "bench": "watch",
                    "edits": len(times),
                    "edit_to_answerable_s": [round(t, 2) for t in times],
                    "edit_to_answerable_median_s": round(statistics.median(times), 2),
                    "edit_to_answerable_max_s": round(max(times), 2),
                    "idle_seconds": args.idle,
                    "idle_cpu_percent": round(100 * idle, 3),
                    "exit_code_after_ctrl_c": code,
                    "stopped_cleanly": code == 0 and "Stopped." in log.read_text(),
                }
            )
        )


if __name__ == "__main__":
    main()
