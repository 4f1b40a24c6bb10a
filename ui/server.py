"""One ASGI app on one port: the HTTP API (/v1, /healthz), MCP (/mcp) and the chat page mounted at "/"."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from rag.engine import Engine

__all__ = ["bind", "build_app", "serve"]


def build_app(engine: Engine, settings: Settings) -> Any:
    """The FastAPI app of ui/api.py, MCP at /mcp (ui/mcp_server.py), sources (ui/sources.py), the page at "/"."""
    from ui.api import create_api_app
    from ui.mcp_server import mount_http
    from ui.sources import source_router
    from ui.web import mount_page

    app = create_api_app(engine, settings)
    mount_http(app, engine, settings)
    app.include_router(source_router(engine))  # before the page at "/", which catches every other path
    return mount_page(app, engine, settings)


def bind(settings: Settings) -> socket.socket:
    """Listen on ui_host:ui_port now, so that a busy port is one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in settings.ui_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.ui_host, settings.ui_port))
    except OSError as exc:
        sock.close()
        raise CorpusQAError(
            f"Cannot listen on {settings.ui_host}:{settings.ui_port} ({exc.strerror}); "
            "pass another --port (or --host) and try again."
        ) from exc
    sock.listen(128)
    return sock


class _QuietShutdown(logging.Filter):
    """An open page keeps an event stream that shutdown cancels; that is how it ends, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        cancelled = record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
        return not cancelled and "graceful shutdown exceeded" not in record.getMessage()


def serve(engine: Engine, settings: Settings, sock: socket.socket | None = None) -> None:
    """Run the app with uvicorn until Ctrl+C or SIGTERM (on `sock`, or a socket bound from the settings).

    Returns normally once the server has stopped, however the signal reached it.
    """
    import uvicorn

    sock = sock or bind(settings)
    logging.getLogger("uvicorn.error").addFilter(_QuietShutdown())
    config = uvicorn.Config(build_app(engine, settings), log_level="warning", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it handled, and asyncio turns it into KeyboardInterrupt only if
        # the main task has not finished yet: a race. Stopping is the normal way out, either way.
        pass
