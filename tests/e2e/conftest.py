"""The real page for browser tests: `corpusqa ui` in its own process over a private index (support/pages.py), and Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.pages import ARTIFACTS, LivePage, start_page

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "data" / "corpus"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def live_page(tmp_path_factory: pytest.TempPathFactory, embedder: Any, model_cache: Path) -> Iterator[LivePage]:
    """`corpusqa ui` on a free 127.0.0.1 port, as a user starts it, over an index of a private corpus copy."""
    root = tmp_path_factory.mktemp("live-page")
    corpus = root / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    with start_page(root, corpus, embedder, model_cache) as live:
        yield live


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
