"""`corpusqa eval` on the real engine: per-corpus tables and macro average, JSON, gates, history, --compare."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from corpusqa.settings import Settings
from ui.cli import cli

GATE = "[min]\nanswer_accuracy = 0.5\nabstention = 0.5\n[max]\nerrors = 0\n"


def _write_questions(path: Path, wrong: bool = False, gate: str | None = GATE) -> Path:
    rows = [
        {"id": "a1", "question": "How old is the U.S. government contractor Mark Frerichs?",
         "accept": ["a number nobody wrote"] if wrong else ["57"],
         "evidence": "a 57-year-old U.S. government contractor", "type": "numeric", "split": "test"},
        {"id": "u1", "question": "What is the boiling point of mercury in kelvin?", "accept": [], "evidence": None,
         "type": "unanswerable", "split": "test", "unanswerable": "out_of_scope"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    if gate is not None:
        (path.parent / "gate.toml").write_text(gate, encoding="utf-8")
    return path


def _corpus(root: Path, name: str, sentence: str, question: str, accept: str, evidence: str) -> Path:
    folder = root / name
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / f"{name}.md").write_text(f"# {name}\n\n{sentence}\n", encoding="utf-8")
    rows = [
        {"id": f"{name}1", "question": question, "accept": [accept], "evidence": evidence, "type": "fact", "split": "test"},
        {"id": f"{name}2", "question": "Who won the 1930 football world cup?", "accept": [], "evidence": None,
         "type": "unanswerable", "split": "test", "unanswerable": "out_of_scope"},
    ]
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "gate.toml").write_text("[min]\nanswer_accuracy = 1.0\n", encoding="utf-8")
    return folder


def test_eval_question_file_json_reports_metrics_and_passes_its_gate(bundled_index: Settings, tmp_path: Path) -> None:
    questions = _write_questions(tmp_path / "q.jsonl")
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["answer_accuracy"] == 1.0
    assert data["metrics"]["abstention"] == 1.0 and data["metrics"]["abstention_out_of_scope"] == 1.0
    assert -1.0 <= data["metrics"]["confidence_auroc"] <= 1.0 and "f1" in data["metrics"]
    assert set(data["per_type"]) == {"numeric", "unanswerable"}
    assert list(data["corpora"]) == ["q"] and data["questions_file"] == str(questions)
    assert data["passed"] is True
    assert {c["metric"] for c in data["thresholds"]} == {"answer_accuracy", "abstention", "errors"}
    assert Path(data["results_file"]).is_file()


def test_eval_gate_fails_and_compare_names_the_regression(bundled_index: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    good = _write_questions(tmp_path / "q.jsonl")
    first = runner.invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(good)])
    assert first.exit_code == 0, first.output
    assert "acc" in first.stdout and "ok   answer_accuracy" in first.stdout and "macro average" in first.stdout
    _write_questions(good, wrong=True)
    second = runner.invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(good), "--compare"])
    assert second.exit_code == 1
    assert "Eval gate failed: q answer_accuracy" in second.output
    assert "now FAILS: q/a1" in second.stdout
    assert "Traceback" not in second.output


def test_eval_question_file_without_gate_only_reports(bundled_index: Settings, tmp_path: Path) -> None:
    questions = _write_questions(tmp_path / "q.jsonl", wrong=True, gate=None)
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"]["answer_accuracy"] == 0.0 and data["thresholds"] == [] and data["passed"] is True


def test_eval_missing_question_file_is_one_sentence(bundled_index: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1
    assert "No question file" in result.output and "Traceback" not in result.output


def test_eval_unknown_corpus_name_lists_the_corpora(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--index-dir", str(tmp_path / "idx"), "--corpus", "nope"])
    assert result.exit_code == 1
    assert "No eval corpus named 'nope'; choose one of:" in result.output and "sqlite-docs" in result.output
    assert "Traceback" not in result.output


def test_eval_question_file_on_another_documents_folder(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
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


def test_eval_runs_several_corpora_each_in_its_own_index(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    zoo = _corpus(tmp_path, "zoo", "The zebra Mortimer is purple with green stripes.",
                  "What colour is the zebra Mortimer?", "purple", "The zebra Mortimer is purple")
    port = _corpus(tmp_path, "port", "The harbour crane Bertha lifts 40 tonnes at most.",
                   "How many tonnes can the crane Bertha lift?", "40 tonnes", "Bertha lifts 40 tonnes at most")
    index = tmp_path / "idx"
    args = ["eval", "--index-dir", str(index), "--corpus", str(zoo), "--corpus", str(port)]
    runner = CliRunner()
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "== zoo: 2 questions" in table.stdout and "== port: 2 questions" in table.stdout
    assert "macro average" in table.stdout and "Gates: zoo ok, port ok" in table.stdout
    assert (index / "evals" / "zoo").is_dir() and (index / "evals" / "port").is_dir()
    again = runner.invoke(cli, [*args, "--json", "--compare"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert list(data["corpora"]) == ["zoo", "port"] and data["metrics"]["corpora"] == 2
    assert data["metrics"]["questions"] == 4 and data["metrics"]["answer_accuracy"] == 1.0
    assert all(c["ingest"]["unchanged"] == 1 and c["ingest"]["added"] == 0 for c in data["corpora"].values())
    history = (index / "evals" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(history) == 2 and set(json.loads(history[-1])["corpora"]) == {"zoo", "port"}


def test_eval_jitter_reruns_report_flips_spread_and_every_wording(bundled_index: Settings, tmp_path: Path) -> None:
    questions = _write_questions(tmp_path / "q.jsonl")
    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()]
    rows[0]["paraphrases"] = ["What age is Mark Frerichs, the government contractor?", "Mark Frerichs is how old?"]
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = ["eval", "--index-dir", str(bundled_index.index_dir), "--questions", str(questions), "--no-gate"]

    result = CliRunner().invoke(cli, [*args, "--jitter", "2", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jitter = data["corpora"]["q"]["jitter"]
    assert jitter["runs"] == 2 and jitter["decisions"] == 4  # three wordings and one unanswerable question
    assert set(jitter["metrics"]) == {"answer_accuracy", "abstention", "errors"}
    assert all(m["min"] <= m["base"] <= m["max"] for m in jitter["metrics"].values())
    assert data["metrics"]["paraphrase_groups"] == 1 and data["metrics"]["wordings"] == 3
    assert 0.0 <= data["metrics"]["flip_rate"] <= 1.0 and data["jitter"] == 2
    text = CliRunner().invoke(cli, [*args, "--jitter", "1"])
    assert text.exit_code == 0, text.output
    assert "jitter: 1 reruns" in text.output and "flip rate" in text.output


def test_eval_jitter_size_must_be_a_name_or_a_number(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--jitter", "1", "--jitter-size", "huge"])
    assert result.exit_code == 2 and "--jitter-size" in result.output
