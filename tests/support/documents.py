"""Questions and a small new document shared by the page and browser tests."""

from __future__ import annotations

__all__ = ["EXAMPLE_ANSWER", "NEW_DOC", "NEW_DOC_NAME", "NEW_DOC_QUESTION", "UNANSWERABLE"]

EXAMPLE_ANSWER = "13,000 to 14,000"
UNANSWERABLE = "What is the capital of France?"
NEW_DOC_NAME = "kizimkazi_lighthouse.md"
NEW_DOC = """# The Kizimkazi lighthouse

The Kizimkazi lighthouse stands on the southern tip of Zanzibar island.
Its first keeper, Amina Juma, lit the lamp for the first time on 4 May 1931.
The tower is 23 metres tall and its light can be seen 18 nautical miles out to sea.
"""
NEW_DOC_QUESTION = "Who lit the Kizimkazi lighthouse lamp for the first time?"
