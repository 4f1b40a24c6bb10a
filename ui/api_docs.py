"""The HTTP API's description: /openapi.json as the API really behaves, and /docs served offline.

/docs is Swagger UI from the swagger-ui-bundle package (no CDN); the OpenAPI document says 400 where
FastAPI would say 422, names the bearer key when one is set, and describes the SSE chunks.
"""

from __future__ import annotations

from typing import Any

import fastapi
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from corpusqa.settings import Settings
from ui.api_openai_models import ChatCompletionChunk

__all__ = ["describe_api"]

_DESCRIPTION = """\
Ask questions about your documents; every answer cites the passages it comes from.

* `POST /v1/chat/completions` speaks OpenAI's chat-completions protocol (streaming or not), so OpenAI
  client libraries work unchanged. The last user message is the question. Besides OpenAI's fields the
  completion (and, when streaming, the final chunk) carries **`citations`** — the passages the answer's
  `[n]` markers point at, as in `corpusqa ask --json` — and **`abstained`**.
* `POST /v1/ask`, `POST /v1/ingest` and `GET /v1/status` return what
  `corpusqa ask|ingest|status --json` print.
* When `CORPUSQA_API_KEY` is set every endpoint (but `/healthz` and this description) requires
  `Authorization: Bearer <key>`. `POST` bodies are JSON with `Content-Type: application/json`.
* Errors use OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""


def describe_api(app: fastapi.FastAPI, settings: Settings) -> None:
    """Serve /docs from the packaged Swagger UI and make `app.openapi()` the adjusted document."""
    _serve_docs(app)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]


def _serve_docs(app: fastapi.FastAPI) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle package, so it works offline and calls no CDN."""
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs/openapi.json", include_in_schema=False)
    def docs_schema() -> dict[str, Any]:
        # The packaged Swagger UI (4.15) refuses to render an "openapi": "3.1.0" document; the 3.0
        # label is enough for it to show this one (its nullable fields display as plain types).
        return {**app.openapi(), "openapi": "3.0.3"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/docs/openapi.json",
            title="corpusqa API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def _openapi(app: fastapi.FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, adjusted to what the API really does: 400 (not 422), the bearer key, SSE chunks."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=_DESCRIPTION, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    chunk = ChatCompletionChunk.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(chunk.pop("$defs", {}))
    schemas["ChatCompletionChunk"] = chunk
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemes: dict[str, Any] = {}
    if settings.api_key:
        schemes["bearer"] = {"type": "http", "scheme": "bearer", "description": "The key in CORPUSQA_API_KEY."}
    if settings.ui_auth or settings.api_key:
        schemes["basic"] = {
            "type": "http", "scheme": "basic",
            "description": "The page's login: CORPUSQA_UI_AUTH's user and password, or any user and the API key.",
        }
    if schemes:
        components["securitySchemes"] = schemes
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            if schemes and path.startswith("/v1/"):
                operation["security"] = [{name: []} for name in schemes]
    app.openapi_schema = schema
    return schema
