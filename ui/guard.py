"""One gate in front of every route of the server: Host, Origin, content type, API key or page login, body size.

The rules (README, "Security"), checked in this order for every request, whatever route it is for:

1. `Host` must name this server: the address it listens on, a loopback name, or CORPUSQA_ALLOWED_HOSTS
   (DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends `Host: evil.example`).
2. A browser's `Origin` must be this server's own or one of CORPUSQA_ALLOWED_ORIGINS (cross-site requests).
3. With any credential configured (CORPUSQA_API_KEY or CORPUSQA_UI_AUTH), everything outside `PUBLIC_PATHS`
   needs one of: `Authorization: Bearer <key>`, HTTP Basic with the page's user and password (or any user
   and the key), or the page's login cookie. The page's login accepts the same two credentials.
4. A request that changes state (POST, PUT, PATCH, DELETE) must send `Content-Type: application/json`,
   except the page's login form and Gradio's file upload, which browsers send only with an Origin, and
   a DELETE without a body (an MCP client ending its session): no form can send one, and a cross-site
   script's DELETE meets rule 2.
5. Bodies under /v1/ and /mcp are capped at `max_body` bytes, every other request body but Gradio's file
   upload (capped by Gradio) at `PAGE_MAX_BODY`.

It is ASGI middleware rather than route dependencies so that one rule covers the mounted Gradio app too,
and so that refusals happen before a body is read.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpusqa.settings import Settings

__all__ = [
    "PAGE_MAX_BODY", "PUBLIC_PATHS", "Guard", "PageLogins", "error_body", "error_response", "http_error", "login_matches",
]

#: Reachable without credentials: the login page and its assets, health, and the API's description.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/login", "/login/", "/theme.css", "/favicon.ico", "/manifest.json",
                          "/openapi.json", "/docs", "/docs/openapi.json", "/gradio_api/login_check", "/gradio_api/login_check/"})
_PUBLIC_PREFIXES = ("/assets/", "/static/", "/docs/assets/", "/gradio_api/static/")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARD = frozenset({"0.0.0.0", "::", ""})
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CAPPED = ("/v1", "/mcp")  # bodies read by our own handlers (the API, the MCP transport)
#: The cap on any other request body (the page's calls carry a question and the chat so far): a long
#: chat stays far under it, a body meant to fill the server's memory does not.
PAGE_MAX_BODY = 16 * 1024 * 1024
#: Paths where Gradio renders the page (or, to a visitor who has not logged in, its login form).
_PAGE_PATHS = frozenset({"/", ""})
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_UPLOAD_PATHS = frozenset({"/gradio_api/upload", "/gradio_api/upload/"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
#: Paths that take a browser form instead of JSON: the page's login, Gradio's file upload.
_FORM_PATHS = {"/login": _FORMS, "/login/": _FORMS, "/gradio_api/upload": ("multipart/form-data",)}


def error_body(message: str, status: int, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    message: str,
    status: int,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape, as a response."""
    return JSONResponse(error_body(message, status, param=param, code=code), status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """404 and 405 (and other HTTP errors) in OpenAI's shape, pointing at the API's description."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"There is no {request.url.path[:200]}; see /openapi.json for the API's endpoints."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path[:200]}; see /openapi.json."
    else:
        message = f"{exc.detail}."
    return error_response(message, exc.status_code, headers=dict(exc.headers or {}))


class PageLogins:
    """Who is logged in to the page: reads Gradio's session cookie, and lets the API key stand for a login."""

    def __init__(self) -> None:
        self._tokens: MutableMapping[str, str] | None = None
        self._cookie = ""
        self._key_token = secrets.token_urlsafe(32)

    def attach(self, gradio_app: Any) -> None:
        """Use this Gradio app's login sessions (its `tokens` and cookie name)."""
        self._tokens = gradio_app.tokens
        self._cookie = f"access-token-unsecure-{gradio_app.cookie_id}"
        # A request with the right bearer key reaches Gradio as a session of this server-side token:
        # Gradio knows only its cookie, and this keeps one key working on every route.
        gradio_app.tokens[self._key_token] = "api-key"

    def user(self, cookie_header: str) -> str | None:
        """The logged-in user named by Gradio's session cookie, if any."""
        if self._tokens is None or not cookie_header:
            return None
        try:
            cookies = SimpleCookie(cookie_header)
        except CookieError:
            return None
        for name, morsel in cookies.items():
            if name.startswith("access-token-") and morsel.value in self._tokens:
                return self._tokens[morsel.value]
        return None

    def key_cookie(self) -> bytes | None:
        """A Cookie header value that makes Gradio treat a request as logged in (after the credentials were checked)."""
        if self._tokens is None:
            return None
        # Put back every time: Gradio's /logout deletes every token of the user it logs out, this one too.
        self._tokens[self._key_token] = "api-key"
        return f"{self._cookie}={self._key_token}".encode()


class Guard:
    """ASGI middleware applying the module's rules to every HTTP (and websocket) request."""

    def __init__(self, app: ASGIApp, settings: Settings, logins: PageLogins, max_body: int) -> None:
        self.app = app
        self.api_key = settings.api_key
        self.ui_auth = settings.ui_auth
        # One rule: any configured credential protects every route that reads or acts (the page's login
        # alone used to leave the API and MCP open).
        self.protected = bool(settings.api_key or settings.ui_auth)
        self.logins = logins
        self.max_body = max_body
        self.any_host = "*" in settings.host_names
        bound = settings.ui_host.strip("[]").lower()
        self.hosts = _LOOPBACK | set(settings.host_names) | ({bound} if bound not in _WILDCARD else set())
        self.origins = set(settings.origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # The first of repeated headers, as the app reads them (Starlette's Headers.get): checking the last
        # one let `Host: evil.example` then `Host: 127.0.0.1` through while the app saw evil.example.
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refusal(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.protected and self._header_credentials(headers.get("authorization", "")):
            scope = _with_cookie(scope, self.logins.key_cookie())
        elif self.protected and path in _PAGE_PATHS and self.logins.user(headers.get("cookie", "")) is None:
            # The login page is public; Gradio still writes the API's schema into it (window.gradio_api_info)
            # although /gradio_api/info is refused. Without it the page's script asks /gradio_api/info itself.
            await self.app(scope, receive, _without_api_info(send))
            return
        limit = self._body_limit(scope, path)
        if limit is not None:
            await self._capped(scope, receive, send, headers, limit)
            return
        await self.app(scope, receive, send)

    def _body_limit(self, scope: Scope, path: str) -> int | None:
        """The body cap of a request: `max_body` under /v1 and /mcp, PAGE_MAX_BODY for any other request
        with a body except Gradio's file upload (Gradio caps that at CORPUSQA_MAX_UPLOAD_MB)."""
        if scope["type"] != "http":
            return None
        if any(path == prefix or path.startswith(prefix + "/") for prefix in _CAPPED):
            return self.max_body
        if scope["method"] in _STATE_CHANGING and path not in _UPLOAD_PATHS:
            return max(self.max_body, PAGE_MAX_BODY)
        return None

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> JSONResponse | None:
        path: str = scope.get("path", "")
        host = headers.get("host", "")
        if not self.any_host and _host_name(host) not in self.hosts:
            return error_response(
                f"This server does not answer to the host {host[:100]!r}; "
                "add the name to CORPUSQA_ALLOWED_HOSTS if it is yours.",
                400,
                code="host_not_allowed",
            )
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, host):
            return error_response(
                f"Requests from the web page {origin[:100]!r} are not allowed; "
                "add its origin to CORPUSQA_ALLOWED_ORIGINS if you trust it.",
                403,
                code="origin_not_allowed",
            )
        if self.protected and not self._authorized(path, headers):
            return self._unauthorized()
        if scope["type"] == "http" and scope["method"] in _STATE_CHANGING and not _bodyless_delete(scope["method"], headers):
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/json" and media not in _FORM_PATHS.get(path, ()):
                return error_response(
                    f"Send the request body as JSON with `Content-Type: application/json` (got {media or 'none'!r}).",
                    415,
                    code="unsupported_media_type",
                )
        return None

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if "*" in self.origins or origin.rstrip("/") in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, file:// pages) and anything odd
        default = "443" if parts.scheme == "https" else "80"
        return _host_port(parts.netloc, default) == _host_port(host, default)

    def _authorized(self, path: str, headers: dict[str, str]) -> bool:
        if path in PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES):
            return True
        if self._header_credentials(headers.get("authorization", "")):
            return True
        return self.logins.user(headers.get("cookie", "")) is not None

    def _header_credentials(self, header: str) -> bool:
        """Whether the Authorization header carries the key (Bearer) or the page's login (HTTP Basic)."""
        if self.api_key and _bearer_matches(header, self.api_key):
            return True
        basic = _basic_credentials(header)
        return basic is not None and login_matches(basic[0], basic[1], self.ui_auth, self.api_key)

    def _unauthorized(self) -> JSONResponse:
        ways = []
        if self.api_key:
            ways.append("the header `Authorization: Bearer <CORPUSQA_API_KEY>`")
        if self.ui_auth:
            ways.append("HTTP Basic with the page's user and password (CORPUSQA_UI_AUTH)")
        what = "API key" if not self.ui_auth else "credentials"
        return error_response(
            f"Missing or wrong {what}; send {' or '.join(ways)}, or log in on the page.",
            401,
            code="invalid_api_key",
            # A Basic challenge would make browsers pop up their own password dialog over the page's login.
            headers={"WWW-Authenticate": "Bearer"} if self.api_key else None,
        )

    async def _capped(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], limit: int) -> None:
        too_big = error_response(
            f"The request body is larger than {limit:,} bytes; send less.", 413, code="body_too_large"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await too_big(scope, receive, send)
            return
        # Read the body here (it is small) so a chunked upload without Content-Length is capped too.
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def login_matches(username: str, password: str, ui_auth: str | None, api_key: str | None) -> bool:
    """The page's login rule, shared with HTTP Basic: CORPUSQA_UI_AUTH's user and password, or any user and the key."""
    if ui_auth:
        user, _, secret = ui_auth.partition(":")
        # both compared, always: no early exit telling which of the two was wrong
        same_user = secrets.compare_digest(username.encode(), user.encode())
        if secrets.compare_digest(password.encode(), secret.encode()) and same_user:
            return True
    return bool(api_key) and secrets.compare_digest(password.encode(), str(api_key).encode())


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic` header, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _bearer_matches(header: str, key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(), key.encode())


def _host_name(host: str) -> str:
    """The name part of a Host header: "[::1]:7860" -> "::1", "Example.org:80" -> "example.org"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _host_port(netloc: str, default_port: str) -> tuple[str, str]:
    name = _host_name(netloc)
    rest = netloc.strip().lower().rsplit("]", 1)[-1] if netloc.startswith("[") else netloc.strip().lower()
    port = rest.rsplit(":", 1)[1] if rest.count(":") == 1 else default_port
    return name, port


def _with_cookie(scope: Scope, cookie: bytes | None) -> Scope:
    if cookie is None:
        return scope
    headers = [(key, value) for key, value in scope["headers"] if key.lower() != b"cookie"]
    return {**scope, "headers": [*headers, (b"cookie", cookie)]}


def _without_api_info(send: Send) -> Send:
    """`send` for a page response, with the embedded API schema replaced by null (the body is a small HTML page)."""
    start: Message | None = None
    body = b""

    async def filtered(message: Message) -> None:
        nonlocal start, body
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        body += message.get("body", b"")
        if message.get("more_body", False):
            return
        encoded = any(key.lower() == b"content-encoding" for key, _ in start.get("headers", []))
        out = body if encoded else _API_INFO.sub(b"window.gradio_api_info = null;</script>", body)
        headers = [(key, value) for key, value in start.get("headers", []) if key.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out, "more_body": False})

    return filtered


def _bodyless_delete(method: str, headers: dict[str, str]) -> bool:
    """A DELETE that carries no body (nothing for a content type to describe)."""
    if method != "DELETE" or "transfer-encoding" in headers:
        return False
    return headers.get("content-length", "0").strip() in ("", "0")
