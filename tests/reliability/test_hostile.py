"""Hostile and odd input ends in a clear message or a correct answer: never a traceback or a hang."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_QUESTION

from corpusqa.settings import Settings
from ui.cli import cli


def _ingest_json(folder: Path, index_dir: Path) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["ingest", "--json", "--index-dir", str(index_dir), str(folder)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_odd_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe otter Bartholomew collects smooth river stones.\n", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 64)
    with (folder / "huge.txt").open("wb") as handle:  # 50 MB: over the 20 MB default limit
        handle.truncate(50 * 1024 * 1024)
    (folder / "latin1.txt").write_bytes("The naïve waiter said the café in Kabul was très busy that day.".encode("latin-1"))
    (folder / "notes..\\..\\x.txt").write_text("An odd name with dots and backslashes mentions the heron Clementine.\n", encoding="utf-8")
    (folder / ".hidden.txt").write_text("Hidden files are not ingested.\n", encoding="utf-8")
    os.symlink(folder / "loop-b.txt", folder / "loop-a.txt")
    os.symlink(folder / "loop-a.txt", folder / "loop-b.txt")
    os.symlink(folder, folder / "self")  # a folder that contains itself
    report = _ingest_json(folder, tmp_path / "idx")
    reasons = {item["path"].removeprefix("odd/"): item["reason"] for item in report["skipped"]}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "larger than 20 MB" in reasons["huge.txt"]
    assert reasons["loop-a.txt"] == reasons["loop-b.txt"] == "broken symbolic link"
    assert report["added"] == 3  # good.md, latin1.txt and the oddly named one; hidden files are ignored
    assert ".hidden.txt" not in reasons
    answer = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(tmp_path / "idx"), "What did the naïve waiter say about the café?"])
    assert answer.exit_code == 0, answer.output
    assert "café" in json.loads(answer.stdout)["answer"]


def test_thousands_of_tiny_files(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for n in range(1500):
        (folder / f"note-{n:04d}.txt").write_text(f"Note {n}: the lighthouse keeper counted {n} gulls.\n", encoding="utf-8")
    report = _ingest_json(folder, tmp_path / "idx")
    assert report["added"] == 1500 and report["documents"] == 1500 and report["chunks"] == 1500
    again = _ingest_json(folder, tmp_path / "idx")
    assert again["unchanged"] == 1500 and again["added"] == 0


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "The question is empty"),
        ("\x00\x1b\x7f", "The question is empty"),
        ("x" * 100_000, "The question is 100,000 characters long"),
    ],
)
def test_bad_questions_end_in_one_sentence(bundled_index: Settings, question: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["ask", "--index-dir", str(bundled_index.index_dir), question])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_control_characters_inside_a_question_are_ignored(bundled_index: Settings) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(bundled_index.index_dir),
                                      EXAMPLE_QUESTION.replace(" ", " \x1b[31m ", 1)])
    assert result.exit_code == 0, result.output
    assert "13,000 to 14,000" in json.loads(result.stdout)["answer"]


@pytest.mark.parametrize("question", ["?", "🔥🔥🔥", "\u200b\u200b\u200b", "?!\u200d…", "\ufeff \u2060 ¿?"])
def test_questions_without_words_get_the_empty_question_message(bundled_index: Settings, question: str) -> None:
    """Issue #13 item 13: these used to get a confident, cited answer."""
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(bundled_index.index_dir), question])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == "Error: The question is empty; type a question about your documents."


@pytest.mark.parametrize("question", ["Wer?\u200b", "2020?", "Ποιος;", "誰が"])
def test_short_questions_with_a_word_or_number_are_answered(bundled_index: Settings, question: str) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(bundled_index.index_dir), question])
    assert result.exit_code == 0, result.output
    assert "\u200b" not in json.loads(result.stdout)["question"]
