"""A real `corpusqa ui` in its own process, for the browser tests (tests/e2e)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings, load_settings
from support.openai_server import FakeOpenAIServer
from support.servers import free_port

__all__ = ["ARTIFACTS", "LivePage", "start_page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@dataclass
class LivePage:
    """A running `corpusqa ui`: its URL, its settings (corpus and index folders) and the fake LLM behind it."""

    url: str
    settings: Settings
    llm: FakeOpenAIServer
    log: Path
    process: subprocess.Popen[bytes]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`corpusqa ui` exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"`corpusqa ui` did not answer within {timeout:.0f} s:\n{log.read_text()}")


@contextmanager
def start_page(
    root: Path, corpus: Path, embedder: Any, model_cache: Path, *args: str, log_name: str = "corpusqa-ui.log"
) -> Iterator[LivePage]:
    """`corpusqa ui` (with `args`) on a free 127.0.0.1 port, as a user starts it, over `corpus` indexed in `root`."""
    from rag import Engine

    settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    port = free_port()
    log = root / log_name
    with FakeOpenAIServer(words_per_chunk=2) as llm:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CORPUSQA_", "OPENAI_"))}
        env.update(OFFLINE_ENV)
        env.update(
            CORPUSQA_INDEX_DIR=str(settings.index_dir),
            CORPUSQA_MODEL_CACHE_DIR=str(model_cache),  # reuse the session's ONNX export
            CORPUSQA_CORPUS_DIR=str(corpus),
            CORPUSQA_OPENAI_BASE_URL=llm.base_url,  # the fake answers whatever model is named
        )
        command = [str(Path(sys.executable).parent / "corpusqa"), "ui", "--port", str(port), *args]
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_until_up(url, process, log)
            yield LivePage(url, settings.model_copy(update={"ui_port": port}), llm, log, process)
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / log.name)
