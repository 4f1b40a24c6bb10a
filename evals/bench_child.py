"""Run a benchmark step in a child process (for per-run wall time, CPU time and peak memory).

Also the child side of our own ingest (`ingest_args`): ingest into a given index directory and print
one JSON line. Each measured step gets its own process so that its peak memory belongs to it alone.
Peak memory is the child's VmHWM, written by an exit hook: ru_maxrss cannot be used, because Linux
carries the parent's resident size across fork and exec into the child's ru_maxrss, and the bench
process holds torch and two models (~1 GiB) when it starts children.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings

__all__ = ["ChildRun", "child_env", "disk_mib", "ingest_args", "python_child", "run_child"]

#: Settings a measured ingest child takes from the bench (the rest come from its environment).
_INGEST_FIELDS = ("embedding_model", "embedding_precision", "embed_batch_size", "chunk_tokens", "max_file_mb")
_PEAK_MARK = "BENCH_PEAK_KIB"
# Runs first in every child, with nothing imported: at exit, write the process's peak RSS to stderr.
_PRELUDE = (
    "import atexit, sys\n"
    "def _bench_peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        for line in status:\n"
    "            if line.startswith('VmHWM:'):\n"
    f"                sys.stderr.write('\\n{_PEAK_MARK} ' + line.split()[1] + '\\n')\n"
    "atexit.register(_bench_peak)\n"
)


@dataclass
class ChildRun:
    """What one child process cost and printed."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    output: dict[str, Any]  # the last JSON object line on stdout ({} when none)


def child_env(index_dir: Path | None = None, settings: Settings | None = None) -> dict[str, str]:
    """The bench's environment for a child: offline, embedded Chroma, the given index directory.

    With `settings`, the child also uses their ONNX export folder and precision, so no measured step
    pays for a one-time export (the bench builds the export before it measures anything).
    """
    env = {key: value for key, value in os.environ.items() if key != "CORPUSQA_CHROMA_HOST"}
    env.update(OFFLINE_ENV)
    if index_dir is not None:
        env["CORPUSQA_INDEX_DIR"] = str(index_dir)
    if settings is not None:
        env["CORPUSQA_MODEL_CACHE_DIR"] = str(settings.models_dir.resolve())
        env["CORPUSQA_EMBEDDING_PRECISION"] = settings.embedding_precision
    return env


def run_child(argv: list[str], env: dict[str, str], what: str) -> ChildRun:
    """Run argv to completion; a non-zero exit is a real error (CorpusQAError naming `what`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        # wait4 rather than Popen.wait: it returns this child's own rusage (peak RSS, CPU time).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = " | ".join(line for line in stderr.strip().splitlines()[-3:] if not line.startswith(_PEAK_MARK))
        raise CorpusQAError(f"Benchmark step '{what}' failed (exit {proc.returncode}): {tail[-400:]}")
    output: dict[str, Any] = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            output = json.loads(line)
            break
    peak_kib = float(usage.ru_maxrss)  # an upper bound (see the module docstring) when the hook did not run
    for line in stderr.splitlines():
        if line.startswith(_PEAK_MARK):
            peak_kib = float(line.split()[1])
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024, output)


def python_child(code: str, args: list[str]) -> list[str]:
    """argv running `code` in a fresh interpreter (sys.argv[1:] = args) that reports its peak memory."""
    return [sys.executable, "-c", _PRELUDE + code, *args]


def ingest_args(
    settings: Settings, index_dir: Path, paths: list[Path], preload: bool, chroma: tuple[str, int] | None = None
) -> list[str]:
    """argv of a child that ingests `paths` into `index_dir` with the bench's settings (`chroma`: a server's
    host and port to write to instead of the embedded Chroma in index_dir)."""
    payload = {
        "settings": {key: getattr(settings, key) for key in _INGEST_FIELDS},
        "index_dir": str(index_dir),
        "paths": [str(path) for path in paths],
        "preload": preload,
        "chroma": list(chroma) if chroma else None,
    }
    code = "from evals.bench_child import _main\nsys.exit(_main(sys.argv[1:]))\n"
    return python_child(code, ["ingest", json.dumps(payload)])


def disk_mib(path: Path) -> float:
    """Disk space used under a folder (allocated blocks, as du counts them), in MiB."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total / (1024 * 1024)


def _ingest(payload: dict[str, Any]) -> dict[str, Any]:
    from corpusqa.settings import load_settings
    from rag.engine import Engine

    settings = load_settings(index_dir=Path(payload["index_dir"]), **payload["settings"])
    server = payload.get("chroma")  # a Chroma server when given, else always the embedded index in index_dir
    settings = settings.model_copy(
        update={"chroma_host": server[0], "chroma_port": int(server[1])} if server else {"chroma_host": None}
    )
    engine = Engine.from_settings(settings)
    load_s = 0.0
    if payload["preload"]:
        from ingest.chunker import split_sentences

        mark = time.perf_counter()
        engine.embedder.embed_texts(["warm up"])
        # Punkt, the sentence model, is a model load too: it imports nltk and llama-index (seconds),
        # which torch's embedder used to import before ingest; counted here so ingest_s is the work.
        split_sentences("Warm up. Ready.")
        load_s = time.perf_counter() - mark
    mark = time.perf_counter()
    cpu = time.process_time()
    report = engine.ingest([Path(path) for path in payload["paths"]])
    ingest_s = time.perf_counter() - mark
    return {
        "ingest_s": ingest_s,
        "ingest_cpu_s": time.process_time() - cpu,
        "model_load_s": load_s,
        "documents": report.documents,
        "chunks": report.chunks,
        "sentences": _sentences(settings),
        "embedded_chunks": report.embedded_chunks,
        "skipped": len(report.skipped),
        "stages": {stage: round(seconds, 3) for stage, seconds in report.stages.items()},
    }


def _sentences(settings: Settings) -> int:
    """Sentences in the index, from the generation's matrix when it has one: opening Chroma to count them
    would cost a no-change ingest, which does not open it, most of its time."""
    import numpy as np

    from ingest.reading import VECTORS
    from ingest.state import read_state
    from ingest.store import open_store

    state = read_state(settings.index_dir)
    matrix = settings.index_dir / state.bm25_dir / VECTORS if state is not None and state.bm25_dir else None
    if not settings.chroma_host and matrix is not None and matrix.is_file():
        return int(np.load(matrix, mmap_mode="r").shape[0])
    return open_store(settings, create=False).sentence_count()


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "ingest":
        print("usage: python -m evals.bench_child ingest '<json>'", file=sys.stderr)
        return 2
    print(json.dumps(_ingest(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
