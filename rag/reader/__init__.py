"""The extractive reader: one room for reading a sentence, its modules in the order a question is answered.

`question` (what is asked) -> `sentences` (candidate sentences and their features) -> `ranking` (the
best sentence) -> `confidence` (how sure, and the band) -> `span` (the short answer). Below them,
`fitted` (the fitted parameters, applied with numpy) and `syntax` (the parse helpers they share).
Imports run one way, down this list (docs/architecture.md; tests/test_architecture.py checks it).
"""

__all__: list[str] = []
