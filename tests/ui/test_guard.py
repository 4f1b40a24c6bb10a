"""The server's one gate (ui/guard.py) on a real server: key or login on every route, hosts, origins, JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EXAMPLE_QUESTION
from starlette.routing import Mount, Route, WebSocketRoute
from support.documents import EXAMPLE_ANSWER
from support.servers import serve_asgi

from corpusqa.settings import Settings, load_settings
from rag import Engine
from ui.guard import PUBLIC_PATHS
from ui.server import build_app

KEY = "k3y-for-tests"
DOCUMENT = "afghan_prisoner_release_2020"
ERROR_KEYS = {"message", "type", "param", "code"}


def _error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The OpenAI-shaped error's one-sentence message (and its code, when given)."""
    assert response.status_code == status, (response.request.url, response.text)
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and (code is None or error["code"] == code), error
    assert error["message"].endswith(".") and "\n" not in error["message"]
    return str(error["message"])


@contextmanager
def _server(settings: Settings, embedder: Any, **changes: Any) -> Iterator[tuple[str, Any]]:
    settings = settings.model_copy(update=changes)
    app = build_app(Engine(settings, embedder), settings)
    with serve_asgi(app) as url:
        yield url, app


@contextmanager
def _gradio_client(url: str, **kwargs: Any) -> Iterator[Any]:
    from gradio_client import Client

    client = Client(url + "/", verbose=False, analytics_enabled=False, download_files=False, **kwargs)
    try:
        yield client
    finally:
        client.close()


def _routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, mounted apps included; path parameters filled in."""
    for route in app.routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:  # static files
                yield "GET", prefix + route.path + "/x"
            else:
                yield from _routes(route.app, prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI's include_router() keeps the router whole
            yield from _routes(route.original_router, prefix + route.include_context.prefix)
        elif isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "x", prefix + route.path)
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield method, path
        else:
            assert not isinstance(route, WebSocketRoute), f"a websocket route escapes the test: {route.path}"
            raise AssertionError(f"a route of an unknown kind escapes the test: {route!r}")


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(("/assets/", "/static/", "/docs/assets/", "/gradio_api/static/"))


@pytest.fixture(scope="module")
def keyed(bundled_index: Settings, embedder: Any) -> Iterator[tuple[str, Any]]:
    with _server(bundled_index, embedder, api_key=KEY) as served:
        yield served


# ---- item 7: one rule for every route ----------------------------------------------------------------


def test_every_route_needs_the_key_or_a_login(keyed: tuple[str, Any]) -> None:
    url, app = keyed
    routes = sorted(set(_routes(app)))
    paths = {path for _, path in routes}
    assert {"/v1/ask", "/gradio_api/upload", "/gradio_api/queue/join", "/gradio_api/call/x", "/config"} <= paths
    assert {"/source/file", "/source/view"} <= paths  # issue #26: a citation's link to its source
    checked = 0
    for method, path in routes:
        response = httpx.request(method, url + path, json={}, timeout=30)
        if _public(path):
            assert response.status_code != 500, (method, path, response.text)
            assert DOCUMENT not in response.text and EXAMPLE_ANSWER not in response.text, (method, path)
            continue
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        checked += 1
    assert checked > 40  # the Gradio app's routes are in the list, not only the API's


def test_the_page_shows_a_login_that_accepts_the_key(keyed: tuple[str, Any]) -> None:
    url, _ = keyed
    page = httpx.get(url + "/", timeout=30).text
    assert '"auth_required":true' in page and "the key as the password" in page and DOCUMENT not in page
    with pytest.raises(ValueError, match="Could not login"), _gradio_client(url, auth=("me", "wrong")):
        pass
    with _gradio_client(url, auth=("me", KEY)) as client:
        assert client.predict(api_name="/status")["document_count"] == 1
        _, details = client.predict(EXAMPLE_QUESTION, "extractive", 3, api_name="/ask")
    assert EXAMPLE_ANSWER in details["answer"]


def test_the_bearer_key_works_on_the_page_endpoints(keyed: tuple[str, Any]) -> None:
    url, _ = keyed
    with _gradio_client(url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        assert client.predict(api_name="/status")["document_count"] == 1
    bearer = {"Authorization": f"Bearer {KEY}"}
    event = httpx.post(url + "/gradio_api/call/status", json={"data": []}, headers=bearer, timeout=30)
    assert event.status_code == 200, event.text
    assert httpx.get(url + "/v1/status", headers=bearer, timeout=30).json()["document_count"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/gradio_api/call/ask", {"data": [EXAMPLE_QUESTION, "extractive", 3]}),
        ("POST", "/gradio_api/call/ingest", {"data": []}),
        ("POST", "/gradio_api/call/upload", {"data": [[], False]}),
        ("POST", "/gradio_api/call/status", {"data": []}),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "x"}),
        ("GET", "/gradio_api/file=/etc/hostname", None),
        ("GET", "/config", None),
        ("POST", "/v1/ingest", {}),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {KEY}"])
def test_page_endpoints_refuse_without_the_key(
    keyed: tuple[str, Any], method: str, path: str, body: Any, authorization: str | None
) -> None:
    url, _ = keyed
    headers = {"Authorization": authorization} if authorization else {}
    _error(httpx.request(method, url + path, json=body, headers=headers, timeout=30), 401, "invalid_api_key")


def test_gradio_upload_needs_the_key(keyed: tuple[str, Any]) -> None:
    url, _ = keyed
    files = {"files": ("evil.sh", b"#!/bin/sh\necho owned\n", "text/x-sh")}
    _error(httpx.post(url + "/gradio_api/upload", files=files, timeout=30), 401)
    done = httpx.post(url + "/gradio_api/upload", files=files, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert done.status_code == 200, done.text


# ---- issue #23: one rule for every credential (key alone, page login alone, both, none) ------------------

USER, PASSWORD = "reader", "s3cret-pw"
_CONFIGS = {
    "ui_auth": {"ui_auth": f"{USER}:{PASSWORD}"},
    "key": {"api_key": KEY},
    "both": {"ui_auth": f"{USER}:{PASSWORD}", "api_key": KEY},
    "none": {},
}


def _basic(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _good_credentials(config: str) -> list[dict[str, str]]:
    """Every Authorization header that configuration must accept."""
    good = []
    if config in ("key", "both"):
        good += [{"Authorization": f"Bearer {KEY}"}, _basic("anyone", KEY)]
    if config in ("ui_auth", "both"):
        good.append(_basic(USER, PASSWORD))
    return good


def _bad_credentials(config: str) -> list[dict[str, str]]:
    bad = [{}, {"Authorization": "Bearer wrong"}, _basic(USER, "wrong")]
    return bad


@pytest.fixture(scope="module", params=list(_CONFIGS))
def configured(request: pytest.FixtureRequest, bundled_index: Settings, embedder: Any) -> Iterator[tuple[str, str, Any]]:
    with _server(bundled_index, embedder, **_CONFIGS[request.param]) as (url, app):
        yield request.param, url, app


def test_every_route_follows_one_rule_for_every_credential(configured: tuple[str, str, Any], bundled_index: Settings) -> None:
    config, url, app = configured
    routes = sorted(set(_routes(app)))
    assert {"/v1/ask", "/v1/ingest", "/v1/search", "/mcp", "/gradio_api/upload", "/config"} <= {p for _, p in routes}
    before = (bundled_index.index_dir / "state.json").read_bytes()
    checked = 0
    for method, path in routes:
        # A JSON list is no valid body for any route: a request that gets through the gate acts on nothing.
        # Only a refusal's body is read: behind the gate some routes stream (event streams, heartbeats).
        def call(headers: dict[str, str], method: str = method, path: str = path) -> tuple[int, str]:
            with httpx.stream(method, url + path, json=[], headers=headers, timeout=30) as response:
                body = response.read().decode("utf-8", "replace") if response.status_code == 401 else ""
                return response.status_code, body

        if _public(path):
            response = httpx.request(method, url + path, json=[], timeout=30)  # (Gradio's login_check says 401 itself)
            assert response.status_code != 500 and DOCUMENT not in response.text, (config, method, path)
            continue
        if config == "none":
            assert call({})[0] != 401, (method, path)
            continue
        for headers in _bad_credentials(config):
            status, body = call(headers)
            assert status == 401, (config, method, path, headers, status)
            assert '"code":"invalid_api_key"' in body.replace(" ", ""), body
        for headers in _good_credentials(config):
            status, body = call(headers)
            assert status != 401, (config, method, path, headers, body[:200])
        checked += 1
    assert config == "none" or checked > 40  # the Gradio app's routes are in the list, not only the API's
    assert (bundled_index.index_dir / "state.json").read_bytes() == before  # nothing ingested


def test_the_page_login_alone_protects_the_api_and_mcp(configured: tuple[str, str, Any]) -> None:
    config, url, _ = configured
    if config != "ui_auth":
        pytest.skip("the finding of the probe: CORPUSQA_UI_AUTH alone")
    for wrong in (_basic("intruder", PASSWORD), {"Authorization": "Basic not-base64!"}, {"Authorization": f"Bearer {PASSWORD}"}):
        _error(httpx.get(url + "/v1/status", headers=wrong, timeout=30), 401)
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    message = _error(httpx.post(url + "/v1/ingest", json={}, timeout=30), 401, "invalid_api_key")
    assert "HTTP Basic" in message and "log in on the page" in message
    _error(httpx.get(url + "/v1/status", timeout=30), 401)
    _error(httpx.post(url + "/v1/search", json={"query": "prisoners"}, timeout=30), 401)
    _error(httpx.post(url + "/mcp", json=hello, headers=accept, timeout=30), 401)
    # the same user and password work everywhere: HTTP Basic, or the page's login session
    basic = _basic(USER, PASSWORD)
    assert httpx.get(url + "/v1/status", headers=basic, timeout=30).json()["document_count"] == 1
    assert httpx.post(url + "/mcp", json=hello, headers={**accept, **basic}, timeout=30).status_code == 200
    with httpx.Client(base_url=url, timeout=30) as browser:
        login = browser.post("/login", data={"username": USER, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert browser.get("/v1/status").json()["document_count"] == 1
        found = browser.post("/v1/search", json={"query": "prisoners released"})
        assert found.status_code == 200 and found.json()["results"], found.text
    with _gradio_client(url, auth=(USER, PASSWORD)) as client:
        assert client.predict(api_name="/status")["document_count"] == 1


def test_the_login_page_does_not_embed_the_api_schema(configured: tuple[str, str, Any]) -> None:
    config, url, _ = configured
    page = httpx.get(url + "/", timeout=30).text
    if config == "none":  # no login: the page is the app, schema and all
        assert "window.gradio_api_info = {" in page and '"named_endpoints"' in page
        return
    assert '"auth_required":true' in page
    assert "window.gradio_api_info = null;" in page and '"named_endpoints"' not in page and "/ask" not in page
    # once logged in, the page carries the schema again (its "Use via API" panel reads it)
    with httpx.Client(base_url=url, timeout=30) as browser:
        password = KEY if config == "key" else PASSWORD
        assert browser.post("/login", data={"username": USER, "password": password}).status_code == 200
        assert '"named_endpoints"' in browser.get("/").text


def test_gradio_login_internals_are_as_the_guard_reads_them(configured: tuple[str, str, Any]) -> None:
    """PageLogins (ui/guard.py) reads Gradio's session store and cookie name, which Gradio does not publish:
    this fails loudly, naming what changed, when a Gradio release renames them."""
    config, url, app = configured
    if config == "none":
        pytest.skip("no login without a credential")
    from starlette.routing import Mount

    gradio_app = next(route.app for route in app.routes if isinstance(route, Mount) and hasattr(route.app, "blocks"))
    assert isinstance(getattr(gradio_app, "tokens", None), dict), "gradio.routes.App.tokens is gone: fix ui/guard.PageLogins"
    assert isinstance(getattr(gradio_app, "cookie_id", None), str), "gradio.routes.App.cookie_id is gone: fix PageLogins"
    with httpx.Client(base_url=url, timeout=30) as browser:
        password = KEY if config == "key" else PASSWORD
        browser.post("/login", data={"username": USER, "password": password})
        names = set(browser.cookies.keys())
    expected = f"access-token-unsecure-{gradio_app.cookie_id}"
    assert expected in names, f"Gradio's login cookie is now one of {sorted(names)}, not {expected}: fix PageLogins"


# ---- item 8: cross-site requests and forged hosts (no key, the default) --------------------------------


@pytest.fixture(scope="module")
def open_server(bundled_index: Settings, embedder: Any) -> Iterator[tuple[str, Any]]:
    with _server(bundled_index, embedder) as served:
        yield served


@pytest.mark.parametrize(
    ("path", "headers", "content", "status", "code"),
    [
        ("/v1/ingest", {"Content-Type": "text/plain", "Origin": "http://evil.example"}, b"", 403, "origin_not_allowed"),
        ("/v1/ingest", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b", 415, "unsupported_media_type"),
        ("/v1/ingest", {"Content-Type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
        ("/v1/ingest", {}, b"", 415, "unsupported_media_type"),
        ("/v1/ask", {"Content-Type": "text/plain"}, b'{"question": "x"}', 415, "unsupported_media_type"),
        ("/gradio_api/call/ingest", {"Content-Type": "text/plain"}, b'{"data": []}', 415, "unsupported_media_type"),
        ("/gradio_api/call/ingest", {"Content-Type": "application/json", "Origin": "http://evil.example"},
         b'{"data": []}', 403, "origin_not_allowed"),
        ("/gradio_api/upload", {"Content-Type": "multipart/form-data; boundary=x", "Origin": "null"},
         b"--x--\r\n", 403, "origin_not_allowed"),
        ("/v1/ingest", {"Content-Type": "application/json", "Host": "evil.example"}, b"{}", 400, "host_not_allowed"),
        ("/v1/ingest", {"Content-Type": "application/json", "Host": "evil.example:80", "Origin": "http://evil.example"},
         b"{}", 400, "host_not_allowed"),
    ],
)
def test_cross_site_and_rebinding_requests_are_refused(
    open_server: tuple[str, Any], bundled_index: Settings, path: str, headers: dict[str, str],
    content: bytes, status: int, code: str,
) -> None:
    url, _ = open_server
    before = (bundled_index.index_dir / "state.json").read_bytes()
    _error(httpx.post(url + path, content=content, headers=headers, timeout=30), status, code)
    assert (bundled_index.index_dir / "state.json").read_bytes() == before  # no ingest started


def test_foreign_host_is_refused_on_the_page_too(open_server: tuple[str, Any]) -> None:
    url, _ = open_server
    _error(httpx.get(url + "/", headers={"Host": "rebind.evil.example:7860"}, timeout=30), 400, "host_not_allowed")
    port = url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1"):
        assert httpx.get(url + "/healthz", headers={"Host": host}, timeout=30).status_code == 200, host


def test_same_origin_requests_work(open_server: tuple[str, Any]) -> None:
    url, _ = open_server
    origin = {"Origin": url}
    assert httpx.post(url + "/v1/ask", json={"question": EXAMPLE_QUESTION}, headers=origin, timeout=60).status_code == 200
    assert httpx.get(url + "/config", headers=origin, timeout=30).status_code == 200


def test_gradio_no_longer_grants_localhost_origins_credentials(open_server: tuple[str, Any]) -> None:
    url, _ = open_server
    foreign = {"Origin": "http://localhost:9999", "Access-Control-Request-Method": "POST"}
    response = httpx.options(url + "/gradio_api/queue/join", headers=foreign, timeout=30)
    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers
    _error(httpx.get(url + "/config", headers={"Origin": "http://localhost:9999"}, timeout=30), 403)


def test_allowed_hosts_and_origins_from_settings(bundled_index: Settings, embedder: Any) -> None:
    trusted = "https://app.example.org"
    with _server(bundled_index, embedder, allowed_hosts="qa.example.org", allowed_origins=trusted) as (url, _):
        ok = httpx.get(url + "/v1/status", headers={"Host": "qa.example.org", "Origin": trusted}, timeout=30)
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == trusted
        _error(httpx.get(url + "/v1/status", headers={"Host": "other.example.org"}, timeout=30), 400)
        _error(httpx.get(url + "/v1/status", headers={"Origin": "https://evil.example.org"}, timeout=30), 403)


# ---- items 10 and 12: /docs offline, errors in one shape ----------------------------------------------


def test_docs_are_served_from_the_package(open_server: tuple[str, Any]) -> None:
    url, _ = open_server
    page = httpx.get(url + "/docs", timeout=30)
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text):
        assert httpx.get(url + asset, timeout=30).status_code == 200, asset
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    schema = httpx.get(url + "/docs/openapi.json", timeout=30).json()
    assert schema["openapi"].startswith("3.0") and "/v1/ask" in schema["paths"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/gradio_api/nope", 404), ("POST", "/config", 405), ("GET", "/v1/nope", 404),
     ("DELETE", "/v1/status", 405)],
)
def test_unknown_routes_and_methods_answer_in_the_openai_shape(
    open_server: tuple[str, Any], method: str, path: str, status: int
) -> None:
    url, _ = open_server
    response = httpx.request(method, url + path, headers={"Content-Type": "application/json"}, timeout=30)
    assert "/openapi.json" in _error(response, status)


def _raw_request(url: str, head: str) -> bytes:
    """Send a hand-written request (httpx sends one Host, one Origin); return the raw response."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        # the app reads the first of repeated headers (Starlette's Headers.get): the guard must check that one
        ("GET /healthz HTTP/1.1\nHost: evil.example\nHost: 127.0.0.1\nConnection: close\n", 400),
        (("POST /v1/ingest HTTP/1.1\nHost: 127.0.0.1\nOrigin: http://evil.example\nOrigin: http://127.0.0.1\n"
         "Content-Type: application/json\nContent-Length: 2\nConnection: close\n\n{}"), 403),
    ],
)
def test_repeated_host_or_origin_headers_are_checked_as_the_app_reads_them(
    open_server: tuple[str, Any], bundled_index: Settings, request_head: str, status: int
) -> None:
    url, _ = open_server
    before = (bundled_index.index_dir / "state.json").read_bytes()
    response = _raw_request(url, request_head if "\n\n" in request_head else request_head + "\n")
    assert int(response.split(b" ", 2)[1]) == status, response[:300]
    assert (bundled_index.index_dir / "state.json").read_bytes() == before


def test_an_mcp_client_can_end_its_session_with_a_bodyless_delete(open_server: tuple[str, Any]) -> None:
    url, _ = open_server
    accept = {"Accept": "application/json, text/event-stream"}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
    opened = httpx.post(url + "/mcp", json=hello, headers=accept, timeout=30)
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    ended = httpx.delete(url + "/mcp", headers={**accept, "mcp-session-id": session}, timeout=30)
    assert ended.status_code in (200, 204), ended.text  # the MCP app answers, not the guard's 415
    # a DELETE that carries a body still has to say it is JSON
    with_body = httpx.request("DELETE", url + "/mcp", content=b"a=b", timeout=30,
                              headers={"Content-Type": "application/x-www-form-urlencoded", "mcp-session-id": session})
    _error(with_body, 415, "unsupported_media_type")


def test_page_calls_have_a_body_cap_too(open_server: tuple[str, Any]) -> None:
    from ui.guard import PAGE_MAX_BODY

    url, _ = open_server

    def pieces() -> Iterator[bytes]:  # chunked, no Content-Length: the cap must count what arrives
        block = b"x" * (1024 * 1024)
        for _ in range(PAGE_MAX_BODY // len(block) + 2):
            yield block

    headers = {"Content-Type": "application/json"}
    _error(httpx.post(url + "/gradio_api/queue/join", content=pieces(), headers=headers, timeout=60), 413, "body_too_large")
    declared = {**headers, "Content-Length": str(PAGE_MAX_BODY + 1)}
    _error(httpx.post(url + "/gradio_api/call/ask", content=b"x" * (PAGE_MAX_BODY + 1), headers=declared, timeout=60),
           413, "body_too_large")
    # an ordinary page call still goes through
    assert httpx.get(url + "/config", timeout=30).status_code == 200


# ---- issue 26: the route a citation links to serves indexed files only, behind the same rules ----------------

SOURCE = f"{DOCUMENT}.txt"


def _source_url(engine_url: str, **query: str) -> str:
    return str(httpx.URL(engine_url + "/source/view", params=query))


def test_source_route_serves_the_indexed_document_with_the_key(keyed: tuple[str, Any]) -> None:
    url, _ = keyed
    bearer = {"Authorization": f"Bearer {KEY}"}
    answer = httpx.post(url + "/v1/ask", json={"question": EXAMPLE_QUESTION}, headers=bearer, timeout=60).json()
    link = answer["citations"][0]["url"]
    assert link.startswith("/source/view?doc=") and link.endswith("#cqa-mark")
    view = httpx.get(url + link.split("#")[0], headers=bearer, timeout=30)
    assert view.status_code == 200 and EXAMPLE_ANSWER in view.text
    assert "script-src" not in view.headers["content-security-policy"] and "default-src 'none'" in view.headers["content-security-policy"]
    marked = re.search(r'<mark id="cqa-mark">(.*?)</mark>', view.text, re.DOTALL)
    assert marked is not None and EXAMPLE_ANSWER in marked.group(1)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {KEY}"])
@pytest.mark.parametrize("route", ["/source/view", "/source/file"])
def test_source_route_refuses_without_the_key(keyed: tuple[str, Any], route: str, authorization: str | None) -> None:
    url, _ = keyed
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(url + route, params={"doc": SOURCE}, headers=headers, timeout=30)
    _error(response, 401, "invalid_api_key")
    assert EXAMPLE_ANSWER not in response.text


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Host": "evil.example"}, 400, "host_not_allowed"),
        ({"Host": "evil.example:80", "Origin": "http://evil.example"}, 400, "host_not_allowed"),
        ({"Origin": "http://evil.example"}, 403, "origin_not_allowed"),
    ],
)
@pytest.mark.parametrize("route", ["/source/view", "/source/file"])
def test_source_route_refuses_forged_hosts_and_foreign_origins(
    open_server: tuple[str, Any], route: str, headers: dict[str, str], status: int, code: str
) -> None:
    url, _ = open_server
    response = httpx.get(url + route, params={"doc": SOURCE}, headers=headers, timeout=30)
    _error(response, status, code)
    assert EXAMPLE_ANSWER not in response.text


@pytest.mark.parametrize(
    "doc",
    [
        "/etc/passwd",
        "../../../../etc/passwd",
        "../index/state.json",
        "state.json",
        "afghan_prisoner_release_2020.txt/../../index/state.json",
        "not_indexed.md",
        "",
    ],
)
@pytest.mark.parametrize("route", ["/source/view", "/source/file"])
def test_source_route_serves_no_path_that_is_not_indexed(
    keyed: tuple[str, Any], bundled_index: Settings, route: str, doc: str
) -> None:
    url, _ = keyed
    (bundled_index.corpus_dir / "not_indexed.md").write_text("# Secret\n\nNot indexed yet.\n", encoding="utf-8")
    try:
        bearer = {"Authorization": f"Bearer {KEY}"}
        response = httpx.get(url + route, params={"doc": doc, "chunk": "x"}, headers=bearer, timeout=30)
        assert response.status_code in (404, 422), response.text[:300]
        assert "root:" not in response.text and "generation" not in response.text and "Not indexed yet" not in response.text
    finally:
        (bundled_index.corpus_dir / "not_indexed.md").unlink()


def test_source_route_refuses_a_file_changed_since_it_was_indexed(tmp_path: Path, embedder: Any) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# Note\n\nThe kettle boils in four minutes.\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    with _server(settings, embedder) as (url, _):
        assert httpx.get(url + "/source/view", params={"doc": "note.md"}, timeout=30).status_code == 200
        (corpus / "note.md").write_text("# Note\n\nSomething else entirely.\n", encoding="utf-8")
        changed = httpx.get(url + "/source/view", params={"doc": "note.md"}, timeout=30)
        assert "changed or moved since it was indexed" in _error(changed, 404, "source_not_found")
        (corpus / "note.md").unlink()
        (corpus / "note.md").symlink_to("/etc/hostname")  # a link leading out of the corpus folder
        _error(httpx.get(url + "/source/view", params={"doc": "note.md"}, timeout=30), 404, "source_not_found")
