"""Passage search through every way in: `corpusqa search` (CliRunner), POST /v1/search (a real server), the page's tab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLE_QUESTION
from support.documents import EXAMPLE_ANSWER
from support.servers import serve_asgi

from corpusqa.settings import Settings, load_settings
from corpusqa.types import Citation, SearchResult
from rag import Engine
from ui.api import create_api_app
from ui.cli import cli
from ui.server import build_app
from ui.web_search import SearchPanel, render_hits

CITATION_KEYS = {"id", "source", "title", "kind", "start_line", "end_line", "text", "score", "page", "url", "ocr", "ocr_confidence", "table"}
HIT_KEYS = CITATION_KEYS | {"highlight"}
KEY = "s3arch-key"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _without_seconds(body: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(body.pop("seconds"), float)
    return body


# ---- the CLI ------------------------------------------------------------------------------------------


def test_cli_search_json_prints_one_object_with_the_contract_keys(bundled_index: Settings, engine: Engine) -> None:
    result = run("search", "--json", "--top-k", "3", "--index-dir", str(bundled_index.index_dir), EXAMPLE_QUESTION)

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"query", "seconds", "results"}
    assert len(body["results"]) == 3 and all(set(hit) == HIT_KEYS for hit in body["results"])
    assert _without_seconds(body) == _without_seconds(engine.search(EXAMPLE_QUESTION, 3).to_json())


def test_cli_search_default_top_k_finds_the_evidence_and_highlights_it(bundled_index: Settings) -> None:
    result = run("search", "--json", "--index-dir", str(bundled_index.index_dir), EXAMPLE_QUESTION)

    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["results"]
    assert len(hits) == 5
    evidence = [hit for hit in hits if EXAMPLE_ANSWER in hit["text"]]
    assert evidence and EXAMPLE_ANSWER in evidence[0]["highlight"]


def test_cli_search_human_output_names_source_lines_and_marks_the_sentence(bundled_index: Settings, engine: Engine) -> None:
    result = run("search", "--top-k", "2", "--index-dir", str(bundled_index.index_dir), "Taliban prisoners held in total")

    assert result.exit_code == 0, result.output
    hits = engine.search("Taliban prisoners held in total", 2).results
    lines = result.stdout.splitlines()
    for hit in hits:
        head = f"[{hit.id}] {hit.source}, lines {hit.start_line}-{hit.end_line} ({hit.kind}): {hit.title}"
        assert any(line.startswith(head) for line in lines), result.stdout
    flat = " ".join(result.stdout.split())
    assert all(f"»{' '.join(hit.highlight.split())}«" in flat for hit in hits), result.stdout
    assert "2 passages in" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes when stdout is not a terminal
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["   "], 1, "The question is empty"),
        (["--top-k", "0", "x"], 2, "--top-k"),
        (["--top-k", "51", "x"], 2, "--top-k"),
        ([], 2, "Missing argument 'QUERY'"),
    ],
)
def test_cli_search_errors_are_one_line(bundled_index: Settings, args: list[str], code: int, message: str) -> None:
    result = run("search", "--index-dir", str(bundled_index.index_dir), *args)

    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_cli_search_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    result = run("search", "--index-dir", str(tmp_path / "none"), "anything")

    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: No index in {tmp_path / 'none'}; run `corpusqa ingest` first (or set --index-dir)."


# ---- POST /v1/search ----------------------------------------------------------------------------------


@pytest.fixture
def api_url(engine: Engine, bundled_index: Settings) -> Iterator[str]:
    with serve_asgi(create_api_app(engine, bundled_index)) as url:
        yield url


def test_api_search_returns_what_the_cli_prints(api_url: str, engine: Engine) -> None:
    response = httpx.post(f"{api_url}/v1/search", json={"query": EXAMPLE_QUESTION, "top_k": 4}, timeout=60)

    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["results"]) == 4 and all(set(hit) == HIT_KEYS for hit in body["results"])
    assert _without_seconds(body) == _without_seconds(engine.search(EXAMPLE_QUESTION, 4).to_json())


def test_api_search_default_top_k_and_integral_float(api_url: str, engine: Engine) -> None:
    default = httpx.post(f"{api_url}/v1/search", json={"query": "prisoners"}, timeout=60).json()
    floated = httpx.post(f"{api_url}/v1/search", json={"query": "prisoners", "top_k": 2.0}, timeout=60).json()

    assert len(default["results"]) == engine.settings.top_k
    assert len(floated["results"]) == 2


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "query", "missing"),
        ({"query": "   "}, "query", "string_pattern_mismatch"),
        ({"query": 5}, "query", "string_type"),
        ({"query": "x", "top_k": 0}, "top_k", "greater_than_equal"),
        ({"query": "x", "top_k": 51}, "top_k", "less_than_equal"),
        ({"query": "x", "top_k": "3"}, "top_k", "int_type"),
        ({"query": "x", "backend": "extractive"}, "backend", "extra_forbidden"),
    ],
)
def test_api_search_bad_input_is_an_openai_shaped_400(api_url: str, body: dict[str, Any], param: str, code: str) -> None:
    response = httpx.post(f"{api_url}/v1/search", json=body, timeout=60)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["code"] == code and error["type"] == "invalid_request_error"
    assert error["message"].endswith(".") and "\n" not in error["message"]


def test_api_search_too_long_query_and_no_index(api_url: str, tmp_path: Path, embedder: Any) -> None:
    long = httpx.post(f"{api_url}/v1/search", json={"query": "x " * 5000}, timeout=60)
    assert long.status_code == 400 and long.json()["error"]["code"] == "invalid_question"

    settings = load_settings(index_dir=tmp_path / "none")
    with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
        missing = httpx.post(f"{url}/v1/search", json={"query": "anything"}, timeout=60)
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "index_not_found"


def test_api_search_obeys_the_key_and_is_in_openapi(bundled_index: Settings, embedder: Any) -> None:
    settings = bundled_index.model_copy(update={"api_key": KEY})
    with serve_asgi(create_api_app(Engine(settings, embedder), settings)) as url:
        refused = httpx.post(f"{url}/v1/search", json={"query": "prisoners"}, timeout=60)
        accepted = httpx.post(
            f"{url}/v1/search", json={"query": "prisoners"}, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        )
        spec = httpx.get(f"{url}/openapi.json").json()

    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert accepted.status_code == 200 and accepted.json()["results"]
    operation = spec["paths"]["/v1/search"]["post"]
    assert operation["security"] == [{"bearer": []}, {"basic": []}]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchResponse"
    }
    hit = spec["components"]["schemas"]["SearchHitModel"]
    assert set(hit["properties"]) == HIT_KEYS and all(p.get("description") for p in hit["properties"].values())


# ---- the page's Search tab ----------------------------------------------------------------------------


def test_search_panel_lists_passages_with_highlights(engine: Engine, bundled_index: Settings) -> None:
    html, details = SearchPanel(engine, bundled_index).search(EXAMPLE_QUESTION, 5)

    assert html.count('class="cqa-hit"') == 5
    assert "<mark>" in html and EXAMPLE_ANSWER in html
    assert _without_seconds(details) == _without_seconds(engine.search(EXAMPLE_QUESTION, 5).to_json())


@pytest.mark.parametrize(
    ("settings_of", "query", "message"),
    [
        (lambda tmp, bundled: bundled, "  ", "The question is empty"),
        (lambda tmp, bundled: load_settings(index_dir=tmp / "none"), "prisoners", "No index in"),
    ],
)
def test_search_panel_errors_are_one_message(
    tmp_path: Path, bundled_index: Settings, embedder: Any, settings_of: Any, query: str, message: str
) -> None:
    settings = settings_of(tmp_path, bundled_index)
    html, details = SearchPanel(Engine(settings, embedder), settings).search(query, 5)

    assert 'class="cqa-error"' in html and message in html
    assert set(details) == {"error"} and message in details["error"]


def test_page_has_a_search_tab_whose_api_returns_the_search_json(engine: Engine, bundled_index: Settings) -> None:
    from gradio_client import Client

    with serve_asgi(build_app(engine, bundled_index)) as url:
        page = httpx.get(url + "/", timeout=30).text
        client = Client(url + "/", verbose=False, analytics_enabled=False, download_files=False)
        try:
            html, details = client.predict(EXAMPLE_QUESTION, 3, api_name="/search")
            error_html, error = client.predict("", 3, api_name="/search")
        finally:
            client.close()

    assert '"label":"Search"' in page and '"search-results"' in page  # the tab and its results pane
    assert html.count('class="cqa-hit"') == 3 and "<mark>" in html
    assert _without_seconds(details) == _without_seconds(engine.search(EXAMPLE_QUESTION, 3).to_json())
    assert error == {"error": "The question is empty; type a question about your documents."}
    assert "cqa-error" in error_html


def test_render_hits_escapes_document_text_and_marks_the_sentence() -> None:
    hit = Citation(1, "a<b>.md", "T & <i>", "article", 3, 4, "Before <x>. The <best> one.\nAfter.", 0.5, "c", "The <best> one.")
    html = render_hits(SearchResult("q", [hit], 0.01))

    assert "<mark>The &lt;best&gt; one.</mark>" in html
    assert "a&lt;b&gt;.md" in html and "T &amp; &lt;i&gt;" in html and "Before &lt;x&gt;." in html
    assert "<x>" not in html and "<i>" not in html
    assert "lines 3–4" in html
    assert render_hits(SearchResult("q", [], 0.01)) == "<p>No passages found.</p>"
