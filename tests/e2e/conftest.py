"""The real page for browser tests: `corpusqa ui` in its own process over a private index, and Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.openai_server import FakeOpenAIServer
from support.servers import free_port

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "data" / "corpus"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


@pytest.fixture(scope="module")
def live_page(tmp_path_factory: pytest.TempPathFactory, embedder: Any, model_cache: Path) -> Iterator[LivePage]:
    """`corpusqa ui` on a free 127.0.0.1 port, as a user starts it, over an index of a private corpus copy."""
    from rag import Engine

    root = tmp_path_factory.mktemp("live-page")
    corpus = root / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    port = free_port()
    log = root / "corpusqa-ui.log"
    with FakeOpenAIServer(words_per_chunk=2) as llm:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CORPUSQA_", "OPENAI_"))}
        env.update(OFFLINE_ENV)
        env.update(
            CORPUSQA_INDEX_DIR=str(settings.index_dir),
            CORPUSQA_MODEL_CACHE_DIR=str(model_cache),  # reuse the session's ONNX export
            CORPUSQA_CORPUS_DIR=str(corpus),
            CORPUSQA_OPENAI_BASE_URL=llm.base_url,  # the fake answers whatever model is named
        )
        command = [str(Path(sys.executable).parent / "corpusqa"), "ui", "--port", str(port)]
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab; `page.offsite` lists every request that left 127.0.0.1 (there must be none)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    offsite: list[str] = []
    tab.on("request", lambda request: None if request.url.startswith(("http://127.0.0.1", "data:", "blob:")) else offsite.append(request.url))
    tab.offsite = offsite
    yield tab
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
