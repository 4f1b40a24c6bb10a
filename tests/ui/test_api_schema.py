"""Schemathesis against the live API's own OpenAPI document: no 5xx, responses as documented."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from conftest import CORPUS_DIR
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from support.servers import serve_asgi

from corpusqa.settings import load_settings
from rag import Engine
from ui.api import create_api_app

# Bounded: 30 examples per operation and generation mode keeps the whole file well under two minutes.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Any]:
    """The schema loaded from a real server over a throwaway index (POST /v1/ingest writes to it).

    Module-scoped so the index is built once; the environment is scrubbed here because the
    function-scoped clean_environ fixture has not run yet when this one starts.
    """
    root = tmp_path_factory.mktemp("api_schema")
    shutil.copytree(CORPUS_DIR, root / "corpus")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key in [key for key in os.environ if key.startswith("CORPUSQA_")]:
            monkeypatch.delenv(key)
        config = load_settings(index_dir=root / "index", corpus_dir=root / "corpus")
    engine = Engine(config, embedder)
    engine.ingest()
    with serve_asgi(create_api_app(engine, config), lifespan="off") as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/ask"),
    ("POST", "/v1/search"),
    ("POST", "/v1/ingest"),
    ("GET", "/v1/status"),
]


def test_api_schema_lists_every_operation(api_schema: Any) -> None:
    """Every documented operation is fuzzed below."""
    documented = {
        (method.upper(), path)
        for path, methods in api_schema.raw_schema["paths"].items()
        for method in methods
    }
    assert documented == set(OPERATIONS)


# schemathesis.pytest.from_fixture() does not work with pytest 9 (it sets the private Function._nodeid),
# so each operation's Hypothesis strategy is driven here directly.
# Negative data needs something to break: only the POST operations take input.
CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE) for method, path in OPERATIONS if method == "POST"
]


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_api_schema_conformance(api_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    """Generated requests, valid and invalid, get a documented, non-5xx, schema-conformant answer."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        case.call_and_validate(timeout=60)

    run()
