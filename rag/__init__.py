"""The answer engine: hybrid retrieval and cited answers. `from rag import Engine` is the public API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.engine import Engine

__all__ = ["Engine"]


def __getattr__(name: str) -> Any:
    # Engine loads on first use, so that importing one part of the room (the trained reader's shared
    # constants, say) does not load the whole answer path.
    if name == "Engine":
        from rag.engine import Engine

        return Engine
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
