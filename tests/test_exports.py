"""Every name a module lists in `__all__` exists (corpusqa, ingest, rag, evals; found by walking the packages)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["corpusqa", "ingest", "rag", "evals"]


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names.extend(info.name for info in pkgutil.walk_packages(path, prefix=f"{package}."))
    return names


def _with_all() -> list[str]:
    return [name for name in _modules() if hasattr(importlib.import_module(name), "__all__")]


def test_exports_are_declared_where_the_style_guide_expects_them() -> None:
    declared = set(_with_all())

    assert {"corpusqa", "rag"} <= declared  # the packages people import from
    assert {"ingest.loader", "ingest.chunker", "ingest.index", "ingest.store", "ingest.embedder"} <= declared


@pytest.mark.parametrize("module_name", _with_all())
def test_exports_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__

    assert isinstance(exported, (list, tuple)) and all(isinstance(name, str) for name in exported)
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ lists a name twice"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it does not define: {missing}"
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # noqa: S102 - the star import is what __all__ is for
    assert set(exported) <= namespace.keys()
