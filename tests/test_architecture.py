"""The floors of the house (docs/architecture.md): imports run one way, no module imports in a circle, and
each module imports alone in a fresh interpreter."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The floors, lowest first: a module imports from its own floor or the ones below it. `train` (the
#: trained reader's data and training, issue #24) stands beside `evals`.
FLOOR = {"corpusqa": 0, "ingest": 1, "rag": 2, "evals": 3, "train": 3, "ui": 4}
FLOORS = tuple(FLOOR)
#: The reader's modules in the order a question is answered (after its two shared helpers): each
#: imports only the ones before it, and nothing of rag outside the reader.
READER = ("fitted", "syntax", "question", "sentences", "ranking", "confidence", "span")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for floor in FLOORS for p in sorted((ROOT / floor).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The project module an import names (`rag.reader.span.short_span` -> `rag.reader.span`), or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in _modules():
            return candidate
        parts.pop()
    return None


@lru_cache(maxsize=1)
def _imports() -> dict[str, set[str]]:
    """Every project module each module imports, at the top or inside a function (lazy imports count)."""
    out: dict[str, set[str]] = {}
    for name, path in _modules().items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found |= {target for target in map(_resolve, names) if target and target != name}
        out[name] = found
    return out


def _floor(module: str) -> int:
    return FLOOR[module.split(".")[0]]


def test_architecture_imports_run_down_the_floors() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in _imports().items()
        for target in targets
        if _floor(target) > _floor(module)
    ]
    assert upward == [], f"imports up the floors: {upward}"


def test_architecture_no_module_imports_in_a_circle() -> None:
    # a package imports its own modules to re-export them; only module-to-module edges form a circle
    graph = {m: {t for t in ts if not m.startswith(f"{t}.")} for m, ts in _imports().items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_architecture_reader_modules_follow_the_order_of_answering() -> None:
    wrong = []
    for module, targets in _imports().items():
        if not module.startswith("rag.reader."):
            continue
        step = READER.index(module.removeprefix("rag.reader."))
        for target in targets:
            if target.startswith("rag.reader."):
                if READER.index(target.removeprefix("rag.reader.")) >= step:
                    wrong.append(f"{module} -> {target}")
            elif target.split(".")[0] == "rag":
                wrong.append(f"{module} -> {target} (outside the reader)")
    assert wrong == [], f"the reader's imports must run one way, down {READER}: {wrong}"
    assert {f"rag.reader.{name}" for name in READER} == {m for m in _modules() if m.startswith("rag.reader.")}


_PROBE = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[2:])))"
)


def _import_alone(module: str) -> tuple[int, str, list[str]]:
    """Import one module in a fresh interpreter: (exit code, stderr, the project modules it loaded)."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *FLOORS], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    loaded = json.loads(result.stdout) if result.returncode == 0 else []
    return result.returncode, result.stderr[-2000:], loaded


def test_architecture_each_module_imports_alone_and_loads_nothing_above_its_floor() -> None:
    # ui's modules pull in gradio; the floors under it are where a circle or an upward import could hide
    modules = [m for m in _modules() if _floor(m) <= FLOOR["rag"] and not m.endswith("__main__")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(modules, pool.map(_import_alone, modules)))
    failed = {m: err for m, (code, err, _) in results.items() if code}
    assert failed == {}, f"modules that do not import alone: {failed}"
    above = {
        m: [x for x in loaded if x in _modules() and _floor(x) > _floor(m)]
        for m, (_, _, loaded) in results.items()
    }
    assert {m: xs for m, xs in above.items() if xs} == {}
