"""The MCP server driven by the official SDK's client: `corpusqa mcp` as a real subprocess over stdio on a real
index, and the streamable-HTTP transport at /mcp of the real one-port server (with the API key rule)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from conftest import EXAMPLE_QUESTION
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from support.documents import EXAMPLE_ANSWER
from support.servers import serve_asgi

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings
from rag import Engine
from ui.mcp_server import document_uri
from ui.server import build_app

ROOT = Path(__file__).resolve().parents[2]
CORPUSQA = Path(sys.executable).parent / "corpusqa"
SOURCE = "afghan_prisoner_release_2020.txt"
PASSAGE_KEYS = {"id", "source", "title", "kind", "start_line", "end_line", "text", "score", "page", "url", "ocr", "ocr_confidence", "table", "highlight", "uri"}
KEY = "mcp-s3cret"


def _stdio(index_dir: Path) -> StdioServerParameters:
    """`corpusqa mcp` of this tree, on the given index; the SDK passes only a few variables on, so name them."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env = {**OFFLINE_ENV, "CORPUSQA_INDEX_DIR": str(index_dir), "PYTHONPATH": pythonpath}
    env["CORPUSQA_MODEL_CACHE_DIR"] = os.environ["CORPUSQA_MODEL_CACHE_DIR"]  # the session's ONNX export
    return StdioServerParameters(command=str(CORPUSQA), args=["mcp"], env=env)


def _with_client(server: Any, session: Callable[[Client], Awaitable[Any]]) -> Any:
    """Open the SDK client on `server`, run `session` with it, close it (and so the server process)."""

    async def main() -> Any:
        async with Client(server, read_timeout_seconds=300) as client:
            return await session(client)

    return asyncio.run(main())


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


# ---- what any transport must do (run over stdio below, and over HTTP) ------------------------------


async def _lists_three_grounded_tools(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ask", "search", "status"}
    for tool in tools.values():
        assert tool.description and "indexed" in tool.description, tool.name
        assert tool.output_schema is not None, tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert "documents indexed on this machine" in (tools["ask"].description or "")
    assert tools["ask"].input_schema["required"] == ["question"]
    assert set(tools["ask"].input_schema["properties"]) == {"question", "top_k", "history"}
    assert set(tools["search"].input_schema["properties"]) == {"query", "top_k"}
    assert "only the documents indexed on this machine" in (client.instructions or "")


async def _asks_the_example_question(client: Client) -> dict[str, Any]:
    result = await client.call_tool("ask", {"question": EXAMPLE_QUESTION})
    assert result.is_error is False, _text(result)
    body = result.structured_content
    assert body is not None
    assert body["abstained"] is False and EXAMPLE_ANSWER in body["answer"]
    assert body["short_answer"] == "13,000 to 14,000"
    assert body["band"] in ("answer", "possibly") and 0.0 < body["confidence"] <= 1.0
    assert body["citations"] and set(body["citations"][0]) == PASSAGE_KEYS
    cited = body["citations"][0]
    assert EXAMPLE_ANSWER in cited["text"] and EXAMPLE_ANSWER in cited["highlight"]
    assert cited["uri"] == document_uri(SOURCE, cited["start_line"], cited["end_line"])
    assert EXAMPLE_ANSWER in _text(result)  # the JSON text block, for clients that ignore structured content
    # the cited lines, opened through the resource the citation names
    read = await client.read_resource(cited["uri"])
    lines = read.contents[0].text.splitlines()
    assert len(lines) == cited["end_line"] - cited["start_line"] + 1
    assert lines[0].lstrip().startswith(f"{cited['start_line']}  ") and EXAMPLE_ANSWER in read.contents[0].text
    return dict(body)


async def _searches(client: Client) -> dict[str, Any]:
    result = await client.call_tool("search", {"query": EXAMPLE_QUESTION, "top_k": 3})
    assert result.is_error is False, _text(result)
    body = result.structured_content
    assert body is not None and body["query"] == EXAMPLE_QUESTION
    assert [hit["id"] for hit in body["results"]] == [1, 2, 3]
    for hit in body["results"]:
        assert set(hit) == PASSAGE_KEYS and hit["highlight"] and hit["highlight"] in hit["text"]
    return dict(body)


async def _reports_errors_as_tool_errors(client: Client) -> None:
    empty = await client.call_tool("ask", {"question": "   "})
    assert empty.is_error is True
    assert _text(empty) == "The question is empty; type a question about your documents."
    empty_search = await client.call_tool("search", {"query": ""})
    assert empty_search.is_error is True and _text(empty_search).startswith("The question is empty")
    out_of_range = await client.call_tool("ask", {"question": EXAMPLE_QUESTION, "top_k": 0})
    assert out_of_range.is_error is True and "top_k" in _text(out_of_range)
    with pytest.raises(MCPError, match="No indexed document is named 'missing.txt'"):
        await client.read_resource(document_uri("missing.txt"))
    with pytest.raises(MCPError, match="not valid; write it as lines=10-20"):
        await client.read_resource(f"corpusqa://documents/{SOURCE}?lines=ten")
    # the server is still there
    status = await client.call_tool("status", {})
    assert status.is_error is False and status.structured_content is not None


# ---- stdio: `corpusqa mcp` as a subprocess ------------------------------------------------------------


def test_mcp_stdio_lists_tools_and_answers_the_example_with_its_passage(bundled_index: Settings, engine: Engine) -> None:
    async def session(client: Client) -> dict[str, Any]:
        assert client.server_info is not None and client.server_info.name == "corpusqa"
        await _lists_three_grounded_tools(client)
        return await _asks_the_example_question(client)

    body = _with_client(_stdio(bundled_index.index_dir), session)

    expected = engine.ask(EXAMPLE_QUESTION).to_json()
    assert body["answer"] == expected["answer"]
    assert [{k: c[k] for k in expected["citations"][0]} for c in body["citations"]] == expected["citations"]


def test_mcp_stdio_search_matches_corpusqa_search(bundled_index: Settings, engine: Engine) -> None:
    body = _with_client(_stdio(bundled_index.index_dir), _searches)

    expected = engine.search(EXAMPLE_QUESTION, 3).to_json()
    assert [{k: hit[k] for k in expected["results"][0]} for hit in body["results"]] == expected["results"]


def test_mcp_stdio_status_and_document_resources(bundled_index: Settings, engine: Engine) -> None:
    async def session(client: Client) -> tuple[Any, ...]:
        status = await client.call_tool("status", {})
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        whole = await client.read_resource(document_uri(SOURCE))
        one_line = await client.read_resource(document_uri(SOURCE, 8))
        return status, resources, templates, whole, one_line

    status, resources, templates, whole, one_line = _with_client(_stdio(bundled_index.index_dir), session)

    indexed = engine.status()
    assert status.structured_content["document_count"] == 1
    assert status.structured_content["chunks"] == indexed.chunks
    assert status.structured_content["documents"][0]["uri"] == f"corpusqa://documents/{SOURCE}"
    assert [str(resource.uri) for resource in resources] == [f"corpusqa://documents/{SOURCE}"]
    assert [template.uri_template for template in templates] == ["corpusqa://documents/{+source}{?lines}"]
    file_lines = (bundled_index.corpus_dir / SOURCE).read_text(encoding="utf-8").splitlines()
    assert len(whole.contents[0].text.splitlines()) == len(file_lines)
    assert one_line.contents[0].text == f"8  {file_lines[7].rstrip()}"


def test_mcp_stdio_errors_are_tool_errors_and_the_server_stays_up(bundled_index: Settings) -> None:
    _with_client(_stdio(bundled_index.index_dir), _reports_errors_as_tool_errors)


def test_mcp_stdio_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    async def session(client: Client) -> tuple[Any, ...]:
        asked = await client.call_tool("ask", {"question": EXAMPLE_QUESTION})
        searched = await client.call_tool("search", {"query": "prisoners"})
        status = await client.call_tool("status", {})
        resources = (await client.list_resources()).resources
        return asked, searched, status, resources

    asked, searched, status, resources = _with_client(_stdio(tmp_path / "none"), session)

    sentence = f"No index in {tmp_path / 'none'}; run `corpusqa ingest` first (or set --index-dir)."
    assert asked.is_error is True and _text(asked) == sentence
    assert searched.is_error is True and _text(searched) == sentence
    assert status.is_error is True and "corpusqa ingest" in _text(status)
    assert resources == []


# ---- streamable HTTP at /mcp of the one-port server ---------------------------------------------------


@pytest.fixture
def server_url(engine: Engine, bundled_index: Settings) -> Iterator[str]:
    with serve_asgi(build_app(engine, bundled_index)) as url:
        yield url


@pytest.fixture
def keyed_url(bundled_index: Settings, embedder: Any) -> Iterator[str]:
    settings = bundled_index.model_copy(update={"api_key": KEY})
    with serve_asgi(build_app(Engine(settings, embedder), settings)) as url:
        yield url


def _http(url: str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    return streamable_http_client(f"{url}/mcp", http_client=client)


def test_mcp_http_does_what_stdio_does(server_url: str) -> None:
    async def session(client: Client) -> None:
        await _lists_three_grounded_tools(client)
        await _asks_the_example_question(client)
        await _searches(client)
        await _reports_errors_as_tool_errors(client)

    _with_client(_http(server_url), session)
    assert httpx.get(server_url + "/", timeout=30).status_code == 200  # the page is still at "/"


def test_mcp_http_ask_follows_up_on_the_history_passed(server_url: str, engine: Engine) -> None:
    """A follow-up with `history` is searched as a standalone question, returned as `standalone_question`."""
    first = engine.ask("Who is Mark Frerichs?")

    async def session(client: Client) -> tuple[Any, Any]:
        history = [{"question": first.question, "answer": first.answer}]
        follow = await client.call_tool("ask", {"question": "Where was he captured?", "history": history})
        alone = await client.call_tool("ask", {"question": "Where was he captured?"})
        return follow, alone

    follow, alone = _with_client(_http(server_url), session)

    assert follow.is_error is False, _text(follow)
    body = follow.structured_content
    assert body["question"] == "Where was he captured?"
    assert body["standalone_question"] == "Where was Mark Frerichs captured?"
    assert "Khost" in body["answer"] and "Khost" in body["citations"][0]["text"]
    assert alone.structured_content["standalone_question"] == "Where was he captured?"


PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {KEY}", f"Bearer {KEY}x"])
def test_mcp_http_requires_the_api_key_when_set(keyed_url: str, authorization: str | None) -> None:
    headers = MCP_HEADERS | ({"Authorization": authorization} if authorization else {})
    response = httpx.post(f"{keyed_url}/mcp", json=PING, headers=headers, timeout=30)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(ExceptionGroup) as refused:  # the SDK client gives up on the 401 it got
        _with_client(_http(keyed_url, None), lambda client: client.list_tools())
    assert refused.group_contains(MCPError, match="error response")


def test_mcp_http_with_the_api_key_answers(keyed_url: str) -> None:
    async def session(client: Client) -> dict[str, Any]:
        return await _asks_the_example_question(client)

    body = _with_client(_http(keyed_url, KEY), session)
    assert body["citations"][0]["source"] == SOURCE


def test_build_server_leaves_the_root_logger_alone(engine: Engine, bundled_index: Settings) -> None:
    """The SDK configures logging when a server is built; `corpusqa ui` keeps its own (no debug records)."""
    import logging

    from ui.mcp_server import build_server

    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    build_server(engine, bundled_index)

    assert (root.handlers[:], root.level) == before


def test_mcp_http_caps_the_body_like_the_api(server_url: str) -> None:
    from ui.api import MAX_BODY_BYTES

    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    response = httpx.post(f"{server_url}/mcp", content=b" " * (MAX_BODY_BYTES + 1), headers=headers, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_mcp_results_carry_the_api_fields_typed_alike(engine: Engine, bundled_index: Settings) -> None:
    """Where an MCP tool result and the HTTP API return the same field, its type, title and default agree."""
    from ui.api import create_api_app
    from ui.mcp_server import build_server

    api = create_api_app(engine, bundled_index).openapi()["components"]["schemas"]

    async def session(client: Client) -> dict[str, Any]:
        return {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}

    tools = _with_client(build_server(engine, bundled_index), session)

    def fields(schema: dict[str, Any], names: set[str] | None = None) -> dict[str, Any]:
        properties = schema["properties"]
        # a nested model is referenced where each schema keeps its models: OpenAPI's components, MCP's $defs
        same_refs = json.loads(
            json.dumps({name: properties[name] for name in (names if names is not None else properties)})
            .replace("#/components/schemas/", "#/$defs/")
        )
        return {name: {key: value for key, value in field.items() if key != "description"} for name, field in same_refs.items()}

    citation = fields(api["CitationModel"])
    passage = fields(tools["ask"]["$defs"]["CitedPassage"])
    assert set(passage) == set(citation) | {"highlight", "uri"}
    assert fields(tools["ask"]["$defs"]["CitedPassage"], set(citation)) == citation
    assert fields(tools["search"]["$defs"]["CitedPassage"]) == passage
    shared = {"question", "answer", "abstained", "backend"}
    assert fields(tools["ask"], shared) == fields(api["AskResponse"], shared)
    assert fields(tools["search"], {"query", "seconds"}) == fields(api["SearchResponse"], {"query", "seconds"})
    shared = {"document_count", "chunks", "embedding_model", "last_ingest"}
    assert fields(tools["status"], shared) == fields(api["StatusResponse"], shared)
