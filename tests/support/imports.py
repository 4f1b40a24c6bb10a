"""A `python -c` program that runs one corpusqa command and prints which of some top-level modules it imported."""

from __future__ import annotations


def cli_listing_modules(names: tuple[str, ...]) -> str:
    """Source for `python -c SRC <corpusqa arguments>`: runs the command, then prints (to stderr) the JSON list
    of those of `names` that the process imported."""
    return f"""
import json, sys
from ui.cli import main
try:
    main()  # the corpusqa command: the arguments after -c
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & set({list(names)!r}))), file=sys.stderr)
"""
