"""`corpusqa eval` on the real engine: table, JSON, gate exit codes, history and --compare."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from corpusqa.settings import Settings
from ui.cli import cli


def _write_questions(path: Path, wrong: bool = False) -> Path:
    rows = [
        {"id": "a1", "question": "How old is the U.S. government contractor Mark Frerichs?",
         "accept": ["a number nobody wrote"] if wrong else ["57"],
         "evidence": "a 57-year-old U.S. government contractor", "type": "numeric", "split": "test"},
        {"id": "u1", "question": "What is the boiling point of mercury in kelvin?", "accept": [], "evidence": None,
         "type": "unanswerable", "split": "test"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_eval_json_reports_metrics_and_passes_gate(bundled_index: Settings, tmp_path: Path) -> None:
    questions = _write_questions(tmp_path / "q.jsonl")
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["answer_accuracy"] == 1.0
    assert data["metrics"]["abstention"] == 1.0
    assert set(data["per_type"]) == {"numeric", "unanswerable"}
    assert data["passed"] is True and data["thresholds"]
    assert Path(data["results_file"]).is_file()


def test_eval_gate_fails_and_compare_names_the_regression(bundled_index: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    good = _write_questions(tmp_path / "q.jsonl")
    first = runner.invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(good)])
    assert first.exit_code == 0, first.output
    assert "acc" in first.stdout and "ok   answer_accuracy" in first.stdout
    _write_questions(good, wrong=True)
    second = runner.invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(good), "--compare"])
    assert second.exit_code == 1
    assert "Eval gate failed: " in second.output and "answer_accuracy" in second.output
    assert "now FAILS: a1" in second.stdout
    assert "Traceback" not in second.output


def test_eval_missing_question_file_is_one_sentence(bundled_index: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1
    assert "No question file" in result.output and "Traceback" not in result.output


def test_eval_on_another_corpus(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "zoo.md").write_text("# Zoo\n\nThe zebra Mortimer is purple with green stripes.\n", encoding="utf-8")
    questions = tmp_path / "zoo.jsonl"
    questions.write_text(json.dumps({"id": "z1", "question": "What colour is the zebra Mortimer?", "accept": ["purple"],
                                     "evidence": "Mortimer is purple", "type": "fact", "split": "test"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["eval", "--index-dir", str(tmp_path / "idx"), "--corpus", str(corpus), "--questions", str(questions), "--json", "--no-gate"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["answer_accuracy"] == 1.0
