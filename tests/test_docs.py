"""README documents every setting with its environment variable and default."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpusqa.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_readme_documents_setting(name: str) -> None:
    field = Settings.model_fields[name]
    row = next((line for line in README.splitlines() if line.startswith(f"| `CORPUSQA_{name.upper()}`")), None)
    assert row is not None, f"CORPUSQA_{name.upper()} missing from README's settings table"
    default = field.default
    if default is None:
        assert "unset" in row
    elif isinstance(default, bool):
        assert f"`{str(default).lower()}`" in row
    else:
        assert f"`{default}`" in row or f"`{default:g}`" in row if isinstance(default, float) else f"`{default}`" in row


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:1500]
    assert "make run" in head and "make test" in head
