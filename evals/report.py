"""Tables, results files, history and run-to-run comparison for `corpusqa eval`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.gate import Check
from evals.grader import QuestionResult, summarise

__all__ = ["build_report", "compare", "previous_run", "render_table", "save_run"]

_COLUMNS = (
    ("passed", "pass"),
    ("answer_accuracy", "acc"),
    ("correct_and_cited", "acc+cite"),
    ("citation_recall", "cite R"),
    ("citation_precision", "cite P"),
    ("abstention", "abstain"),
    ("false_abstention", "false abst"),
    ("hit_at_1", "hit@1"),
    ("hit_at_5", "hit@5"),
    ("mrr", "MRR"),
    ("latency_median_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
)


def build_report(
    results: list[QuestionResult], checks: list[Check], meta: dict[str, Any]
) -> dict[str, Any]:
    """The whole run as one JSON-able object: metrics overall and per type, checks, results."""
    per_type: dict[str, Any] = {}
    for kind in sorted({r.type for r in results}):
        per_type[kind] = summarise([r for r in results if r.type == kind])
    return {
        **meta,
        "metrics": summarise(results),
        "per_type": per_type,
        "thresholds": [check.__dict__ for check in checks],
        "passed": all(check.passed for check in checks),
        "results": [r.to_json() for r in results],
    }


def render_table(report: dict[str, Any]) -> str:
    """A fixed-width table: one row overall, one per question type, then failures and checks."""
    header = f"{'':14}{'n':>4}" + "".join(f"{label:>11}" for _, label in _COLUMNS)
    lines = [header]

    def row(name: str, metrics: dict[str, Any]) -> str:
        cells = []
        for key, _ in _COLUMNS:
            value = metrics.get(key, 0)
            cells.append(f"{value:>11.1f}" if key.endswith("_ms") else f"{value:>11.0%}")
        return f"{name:14}{metrics['questions']:>4}" + "".join(cells)

    lines.append(row("all", report["metrics"]))
    for kind, metrics in report["per_type"].items():
        lines.append(row(kind, metrics))
    failed = [r for r in report["results"] if not r["passed"]]
    if failed:
        lines.append("")
        lines.append(f"Failed questions ({len(failed)}):")
        for r in failed:
            why = r["error"] or (
                "abstained" if r["abstained"] else ("wrong answer" if not r["correct"] else "evidence not cited")
            )
            if r["type"] == "unanswerable":
                why = "answered an unanswerable question"
            lines.append(f"  {r['id']} [{r['type']}] {why}: {r['question']}")
            if r["answer"]:
                lines.append(f"      -> {r['answer'][:160]}")
    lines.append("")
    for check in report["thresholds"]:
        sign = ">=" if check["kind"] == "min" else "<="
        verdict = "ok  " if check["passed"] else "FAIL"
        lines.append(f"{verdict} {check['metric']} = {check['value']:.3f} (gate {sign} {check['bound']})")
    return "\n".join(lines)


def save_run(report: dict[str, Any], folder: Path) -> Path:
    """Write the full results to folder/run-<time>.json and append a line to folder/history.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"run-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    summary = {
        "file": path.name,
        "time": stamp,
        "split": report.get("split"),
        "questions_file": report.get("questions_file"),
        "backend": report.get("backend"),
        "metrics": report["metrics"],
    }
    with (folder / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps(summary) + "\n")
    return path


def previous_run(folder: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """The latest earlier run over the same questions, split and backend (None when there is none)."""
    history = folder / "history.jsonl"
    if not history.is_file():
        return None
    for line in reversed(history.read_text(encoding="utf-8").splitlines()):
        entry = json.loads(line)
        same = all(entry.get(key) == report.get(key) for key in ("split", "questions_file", "backend"))
        if same and (folder / entry["file"]).is_file():
            loaded: dict[str, Any] = json.loads((folder / entry["file"]).read_text(encoding="utf-8"))
            return loaded
    return None


def compare(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """Metric deltas and the questions that changed between pass and fail."""
    lines = ["Compared with the previous run:"]
    for key, label in _COLUMNS:
        before, after = previous["metrics"].get(key, 0), current["metrics"].get(key, 0)
        if before != after:
            lines.append(f"  {label}: {before} -> {after}")
    before_pass = {r["id"]: r["passed"] for r in previous["results"]}
    for r in current["results"]:
        was = before_pass.get(r["id"])
        if was is True and not r["passed"]:
            lines.append(f"  now FAILS: {r['id']} {r['question']}")
        elif was is False and r["passed"]:
            lines.append(f"  now passes: {r['id']} {r['question']}")
    if len(lines) == 1:
        lines.append("  no change")
    return "\n".join(lines)
