"""The answer engine: hybrid retrieval and cited answers. `from rag import Engine` is the public API."""

from rag.engine import Engine

__all__ = ["Engine"]
