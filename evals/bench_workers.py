"""`corpusqa bench --workers N`: N ingest processes into one Chroma server against one, and the same answers.

The scale pages are dealt into N parts (page i goes to part i mod N), each a folder `python-docs-K`.
One worker ingests every part into server A; then N workers, each a process with its own index dir,
ingest one part each into a fresh server B at the same time. Each worker is a child process (wall
time, CPU time and peak memory of its own, evals/bench_child.py); the servers are real `chroma run`
processes on 127.0.0.1, and their own peak memory is reported beside the workers'. Finally a reader
with a fresh index dir answers the scale questions from each server (it derives its BM25 index from the
server's chunks, ingest/generation.py) and the answers are compared: text, abstention and cited sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from evals.bench_child import ChildRun, child_env, ingest_args, run_child
from evals.bench_scale import copy_pages, ensure_docs, select_pages
from evals.bench_types import Machine
from evals.questions import load_questions
from ingest.embedder import Embedder

__all__ = ["WorkerRun", "WorkersReport", "chroma_server", "render_workers", "run_workers", "save_workers"]

Say = Callable[[str], None]


@dataclass
class WorkerRun:
    """One ingest layout: `workers` processes into one server, started together."""

    workers: int
    wall_s: float  # first start to last exit
    cpu_s: float  # all workers together (the server's CPU is not in it)
    peak_rss_mib: list[float]  # per worker process
    ingest_s: list[float]  # per worker: Engine.ingest alone (its process start and model load left out)
    server_peak_rss_mib: float  # the `chroma run` process
    documents: int  # what the server's committed generation shows at the end
    chunks: int
    sentences: int
    pages_per_s: float = 0.0


@dataclass
class WorkersReport:
    """One worker against N into one Chroma server, and whether their answers agree."""

    run: str
    machine: Machine
    pages: int
    one: WorkerRun
    many: WorkerRun
    speedup: float  # one.wall_s / many.wall_s
    questions: int
    same_answers: int  # questions whose answer, abstention and cited sources are equal on both servers
    differences: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The whole run as plain JSON-able data."""
        return asdict(self)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chroma_server(folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run chromadb's own `chroma run` on a free 127.0.0.1 port, data in `folder`; yield (port, process)."""
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.is_file():
        raise CorpusQAError(f"No `chroma` command beside {sys.executable}; reinstall chromadb in this environment.")
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder.parent / f"{folder.name}.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise CorpusQAError(f"`chroma run` did not start; see {log.name}.")
            time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _peak_mib(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _together(argvs: list[list[str]], envs: list[dict[str, str]], what: str) -> tuple[float, list[ChildRun]]:
    """Start every child at once; (wall seconds until the last exits, each child's run)."""
    results: list[ChildRun | BaseException | None] = [None] * len(argvs)

    def one(index: int) -> None:
        try:
            results[index] = run_child(argvs[index], envs[index], f"{what} {index + 1}")
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(argvs))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return wall, [result for result in results if isinstance(result, ChildRun)]


def _run_layout(
    settings: Settings, parts: list[Path], workers: int, work: Path, port: int, server_pid: int, name: str, say: Say
) -> WorkerRun:
    """`workers` processes (own index dirs) ingest the parts, dealt round-robin, into the server on `port`."""
    groups = [parts[i::workers] for i in range(workers)]
    argvs, envs = [], []
    for number, group in enumerate(groups, start=1):
        index = work / f"{name}-worker-{number}"
        argvs.append(ingest_args(settings, index, group, preload=False, chroma=("127.0.0.1", port)))
        envs.append(child_env(index, settings))
    say(f"{workers} ingest worker{'s' if workers > 1 else ''} into one Chroma server ({name})...")
    wall, runs = _together(argvs, envs, f"ingest worker ({name})")
    documents, chunks, sentences = _server_holds(settings, port, work / f"{name}-count")
    run = WorkerRun(
        workers=workers,
        wall_s=round(wall, 2),
        cpu_s=round(sum(r.cpu_s for r in runs), 2),
        peak_rss_mib=[round(r.peak_rss_mib, 1) for r in runs],
        ingest_s=[round(float(r.output.get("ingest_s", 0.0)), 2) for r in runs],
        server_peak_rss_mib=round(_peak_mib(server_pid), 1),
        documents=documents,
        chunks=chunks,
        sentences=sentences,
    )
    run.pages_per_s = round(run.documents / run.wall_s, 3) if run.wall_s else 0.0
    say(f"  {run.wall_s:.1f} s, {run.documents} documents, {run.chunks} chunks, worker peaks "
        f"{', '.join(f'{p:.0f}' for p in run.peak_rss_mib)} MiB, server peak {run.server_peak_rss_mib:.0f} MiB")
    return run


def _server_holds(settings: Settings, port: int, index_dir: Path) -> tuple[int, int, int]:
    """(documents, chunks, sentences) of the server's committed generation."""
    from ingest.generation import committed_manifest
    from ingest.store import open_store

    server = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": port, "index_dir": index_dir})
    store = open_store(server, create=False)
    manifest = committed_manifest(server, store, None)
    return len(manifest), sum(entry.chunks for entry in manifest.values()), store.sentence_count()


def _answers(settings: Settings, embedder: Embedder, port: int, reader_dir: Path, questions: list[str]) -> list[dict[str, Any]]:
    """Each question's answer from the server on `port`, read by a process that never ingested (fresh index dir)."""
    from rag.engine import Engine

    reader = Engine(settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": port, "index_dir": reader_dir}),
                    embedder)
    out = []
    for question in questions:
        answer = reader.ask(question, backend="extractive")
        out.append({
            "question": question,
            "answer": answer.answer,
            "abstained": answer.abstained,
            "sources": [citation.source for citation in answer.citations],
        })
    return out


def run_workers(
    settings: Settings,
    *,
    workers: int,
    quick: bool,
    scale_root: Path,
    scale_questions: Path,
    pages: int = 0,
    install_docs: bool = True,
    keep: bool = False,
    say: Say = lambda _: None,
) -> WorkersReport:
    """Measure one ingest worker against `workers` into one Chroma server, on the scale pages."""
    from evals.bench import machine_info

    if workers < 2:
        raise CorpusQAError("--workers compares one worker with several; give 2 or more.")
    started = time.perf_counter()
    settings = settings.model_copy(update={"model_cache_dir": settings.models_dir.resolve(), "backend": "extractive"})
    embedder = Embedder.from_settings(settings)
    say(f"ONNX export of the embedding model ({settings.embedding_precision}) in {settings.models_dir}...")
    embedder.embed_query("warm up")  # a one-time export is part of no measured step
    root = ensure_docs(scale_root, install_docs, say)
    _, chosen = select_pages(root, quick, scale_questions, pages)
    machine = machine_info()
    work = settings.index_dir.resolve() / "bench" / f"workers-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    parts = [work / "pages" / f"python-docs-{k}" for k in range(1, workers + 1)]
    try:
        for k, part in enumerate(parts):
            copy_pages(root, chosen[k::workers], part)
        say(f"{len(chosen)} pages dealt into {workers} folders.")
        questions = [item.question for item in load_questions(scale_questions, "all")]
        runs, answers = [], []
        for count, name in ((1, "one"), (workers, "many")):
            with chroma_server(work / f"server-{name}") as (port, server):
                runs.append(_run_layout(settings, parts, count, work, port, server.pid, name, say))
                say(f"Answering {len(questions)} scale questions from the {name} server...")
                answers.append(_answers(settings, embedder, port, work / f"reader-{name}", questions))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    one, many = runs
    differences = [
        {"question": a["question"], "one": {k: a[k] for k in ("answer", "abstained", "sources")},
         "many": {k: b[k] for k in ("answer", "abstained", "sources")}}
        for a, b in zip(*answers)
        if (a["answer"], a["abstained"], a["sources"]) != (b["answer"], b["abstained"], b["sources"])
    ]
    machine.load_end = round(os.getloadavg()[0], 2)
    notes = [
        (f"Pages dealt round-robin into {workers} folders python-docs-1..{workers}; one worker ingests every folder in "
        "one run, so both servers hold the same documents under the same names."),
        ("Every worker embeds with ONNX Runtime on all cores, so on a machine with few cores the workers share them: "
        "the route pays off with one worker per machine."),
        "Peak memory is each worker process's VmHWM; the Chroma server's is reported beside it.",
    ]
    return WorkersReport(
        run=f"bench-workers-{workers}{'-quick' if quick else ''}",
        machine=machine,
        pages=len(chosen),
        one=one,
        many=many,
        speedup=round(one.wall_s / many.wall_s, 3) if many.wall_s else 0.0,
        questions=len(questions),
        same_answers=len(questions) - len(differences),
        differences=differences,
        notes=notes,
        seconds=round(time.perf_counter() - started, 1),
    )


def render_workers(report: WorkersReport) -> str:
    """The table `corpusqa bench --workers N` prints."""
    m = report.machine
    lines = [
        f"corpusqa {report.run}  {m.date}  ({report.seconds:.0f} s)",
        (f"machine: {m.cpu}, {m.cores} cores, {m.ram_gib} GiB RAM; load average {m.load_start} at start, "
        f"{m.load_end} at end"),
        "",
        f"{report.pages} Python-docs pages into one Chroma server",
    ]
    for run in (report.one, report.many):
        lines.append(
            f"  {run.workers} worker{'s' if run.workers > 1 else ' '}  {run.wall_s:.1f} s wall (ingest "
            f"{', '.join(f'{s:.1f}' for s in run.ingest_s)} s), {run.cpu_s:.0f} CPU s, "
            f"{run.pages_per_s:.2f} pages/s; worker peak {max(run.peak_rss_mib):.0f} MiB "
            f"({', '.join(f'{p:.0f}' for p in run.peak_rss_mib)}), server peak {run.server_peak_rss_mib:.0f} MiB; "
            f"{run.documents} documents, {run.chunks} chunks"
        )
    lines += [
        f"  speed-up {report.speedup:.2f}x (target >= 1.6x)",
        f"  same answers: {report.same_answers} of {report.questions} scale questions",
    ]
    lines += [f"  differs: {item['question']}" for item in report.differences]
    lines += ["", *[f"note: {note}" for note in report.notes]]
    return "\n".join(lines)


def save_workers(report: WorkersReport, folder: Path) -> Path:
    """Write folder/workers-<time>.json and append a summary line to folder/history.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"workers-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    summary = {
        "file": path.name, "run": report.run, "time": report.machine.date, "pages": report.pages,
        "one_wall_s": report.one.wall_s, "many_wall_s": report.many.wall_s, "speedup": report.speedup,
        "same_answers": report.same_answers, "questions": report.questions,
    }
    with (folder / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps(summary) + "\n")
    return path
