"""Tables, results files, history and run-to-run comparison for `corpusqa eval`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.gate import Check
from evals.grader import BANDS, QuestionResult, summarise
from evals.suite import CorpusRun

__all__ = ["build_report", "build_suite_report", "compare", "previous_run", "render_suite", "render_table", "save_run"]

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
# The per-corpus summary: one row per corpus, then their macro average.
_SUMMARY = (
    ("correct_and_cited", "acc+cite"),
    ("answered_precision", "precision"),
    ("f1", "F1"),
    ("confidence_auroc", "AUROC"),
    ("abstention", "abstain"),
    ("abstention_out_of_scope", "abst OOS"),
    ("abstention_near_miss", "abst NM"),
    ("false_abstention", "false abst"),
    ("hit_at_5", "hit@5"),
    ("worst_wording_accuracy", "worst wd"),
    ("flip_rate", "flips"),
    ("latency_median_ms", "p50 ms"),
)
_FAILURES_SHOWN = 30


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
        for r in failed[:_FAILURES_SHOWN]:
            why = r["error"] or (
                "abstained" if r["abstained"] else ("wrong answer" if not r["correct"] else "evidence not cited")
            )
            if r["type"] == "unanswerable":
                why = "answered an unanswerable question"
            lines.append(f"  {r['id']} [{r['type']}] {why}: {r['question']}")
            if r["answer"]:
                lines.append(f"      -> {r['answer'][:160]}")
        if len(failed) > _FAILURES_SHOWN:
            lines.append(f"  ... and {len(failed) - _FAILURES_SHOWN} more (see the results file)")
    lines.append("")
    for check in report["thresholds"]:
        sign = ">=" if check["kind"] == "min" else "<="
        verdict = "ok  " if check["passed"] else "FAIL"
        lines.append(f"{verdict} {check['metric']} = {check['value']:.3f} (gate {sign} {check['bound']})")
    return "\n".join(lines)


def build_suite_report(runs: list[CorpusRun], meta: dict[str, Any]) -> dict[str, Any]:
    """Several corpora as one JSON-able object: the macro average on top, each corpus under "corpora"."""
    corpora: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for run in runs:
        name = run.corpus.name
        one = build_report(run.results, run.checks, {
            "questions_file": str(run.corpus.questions_file or run.corpus.folder / "questions.jsonl"),
            "documents": str(run.corpus.documents),
            "ingest": run.ingest,
        })
        if run.conversations is not None:
            one["conversations"] = run.conversations
        results.extend({"corpus": name, **r} for r in one.pop("results"))
        checks.extend({"corpus": name, **c} for c in one["thresholds"])
        if run.jitter is not None:
            one["jitter"] = run.jitter.to_json()
            one["passed"] = run.passed
        corpora[name] = one
    pooled = [r for run in runs for r in run.results]
    return {
        **meta,
        "corpus": ", ".join(corpora),
        "questions_file": ", ".join(c["questions_file"] for c in corpora.values()),
        "metrics": _macro([c["metrics"] for c in corpora.values()]),
        "per_type": {kind: summarise([r for r in pooled if r.type == kind]) for kind in sorted({r.type for r in pooled})},
        "thresholds": checks,
        "passed": all(c["passed"] for c in corpora.values()),
        "corpora": corpora,
        "results": results,
    }


# A rate is undefined on a corpus with none of its denominator (squad2-complexity has no out-of-scope
# questions): such a corpus is left out of that rate's macro average rather than counted as 0.
_DENOMINATORS = {
    "abstention": "unanswerable",
    "abstention_out_of_scope": "out_of_scope",
    "abstention_near_miss": "near_miss",
    "answered_precision": "answered",
    "f1": "answerable",
    "answer_accuracy": "answerable",
    "correct_and_cited": "answerable",
    "false_abstention": "answerable",
    "worst_wording_accuracy": "answerable",
    "flip_rate": "paraphrase_groups",
} | {f"band_{b}_right": f"band_{b}" for b in BANDS}
_COUNTS = (
    "questions", "answerable", "unanswerable", "errors", "out_of_scope", "near_miss", "answered", "paraphrase_groups",
    "wordings",
)


def _defined(key: str, m: dict[str, Any]) -> bool:
    if key not in m or (key == "confidence_auroc" and m[key] < 0):
        return False
    return key not in _DENOMINATORS or bool(m.get(_DENOMINATORS[key]))


def _macro(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    # The unweighted mean over corpora of each rate where it is defined; counts are summed.
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for m in metrics for k in m):
        if key in _COUNTS or (key.startswith("band_") and not key.endswith("_right")):
            out[key] = sum(m.get(key, 0) for m in metrics)
            continue
        values = [m[key] for m in metrics if _defined(key, m)]
        out[key] = round(sum(values) / len(values), 4) if values else (-1.0 if key == "confidence_auroc" else 0.0)
    out["corpora"] = len(metrics)
    return out


def render_suite(report: dict[str, Any]) -> str:
    """Each corpus's table (see render_table) with its abstention and band figures, then the macro summary."""
    blocks = []
    for name, one in report["corpora"].items():
        metrics = one["metrics"]
        title = f"== {name}: {metrics['questions']} questions ({report.get('split', 'all')} split), {one['documents']}"
        results = [r for r in report["results"] if r["corpus"] == name]
        lines = [title, render_table({**one, "results": results}), _extra_line(metrics)]
        if "conversations" in one:
            lines.append(_conversation_line(one["conversations"]["metrics"]))
        if "jitter" in one:
            lines.append(_jitter_lines(one["jitter"]))
        blocks.append("\n".join(lines))
    blocks.append(_summary_table(report))
    return "\n\n".join(blocks)


def _extra_line(m: dict[str, Any]) -> str:
    auroc = f"{m['confidence_auroc']:.2f}" if m["confidence_auroc"] >= 0 else "n/a"
    parts = [
        f"AUROC {auroc}",
        f"abstained: out_of_scope {m['abstention_out_of_scope']:.0%} of {m['out_of_scope']}",
        f"near_miss {m['abstention_near_miss']:.0%} of {m['near_miss']}",
        f"wrongly abstained {m['false_abstention']:.0%}",
        f"precision of answers given {m['answered_precision']:.0%} of {m['answered']}",
        f"F1 {m['f1']:.0%}",
        f"flip rate {m['flip_rate']:.0%} of {m['paraphrase_groups']} reworded questions",
        f"worst-wording accuracy {m['worst_wording_accuracy']:.0%}",
    ]
    bands = [f"{b} {m[f'band_{b}_right']:.0%} right of {m[f'band_{b}']}" for b in BANDS if f"band_{b}" in m]
    if bands:
        parts.append("bands: " + ", ".join(bands))
    return "; ".join(parts)


def _conversation_line(m: dict[str, Any]) -> str:
    return (
        f"conversations ({m['conv_chains']} chains, {m['conv_followups']} follow-ups): follow-ups acc+cite "
        f"{m['conv_followups_correct_and_cited']:.0%}, their standalone rewordings alone "
        f"{m['conv_standalone_correct_and_cited']:.0%} (gap {m['conv_followup_gap'] * 100:+.0f} points); rewrite "
        f"entity recall {m['conv_entity_recall']:.0%}, topic switches clean {m['conv_switch_clean']:.0%} of "
        f"{m['conv_switches']}, first turns unchanged {m['conv_first_turns_unchanged']:.0%}, standalone questions "
        f"unchanged {m['conv_standalone_unchanged']:.0%}, rewrite p50 {m['conv_rewrite_p50_ms']:.1f} ms "
        f"(standalone questions {m['conv_rewrite_standalone_p50_ms']:.2f} ms)"
    )


def _jitter_lines(jitter: dict[str, Any]) -> str:
    """The jitter check of one corpus: flipped decisions, each gated metric's range, reruns off the gate."""
    lines = [
        f"jitter: {jitter['runs']} reruns, {jitter['flipped']} of {jitter['decisions']} decisions flipped"
        + (f" ({', '.join(jitter['flipped_ids'][:12])}{' ...' if jitter['flipped'] > 12 else ''})" if jitter["flipped"] else "")
    ]
    ranges = [f"{name} {m['min']:.3f}-{m['max']:.3f}" for name, m in jitter["metrics"].items() if m["max"] != m["min"]]
    lines.append("  spread: " + (", ".join(ranges) if ranges else "no gated metric moved"))
    if jitter["gate_failures"]:
        lines.append("  FAIL under jitter: " + ", ".join(jitter["gate_failures"]))
    return "\n".join(lines)


def _summary_table(report: dict[str, Any]) -> str:
    width = max([len(name) for name in report["corpora"]] + [14]) + 2
    lines = [f"{'corpus':{width}}{'n':>5}" + "".join(f"{label:>11}" for _, label in _SUMMARY)]

    def row(name: str, m: dict[str, Any]) -> str:
        cells = []
        for key, _ in _SUMMARY:
            value = m.get(key, 0)
            if key.endswith("_ms"):
                cells.append(f"{value:>11.1f}")
            elif not _defined(key, m):
                cells.append(f"{'n/a':>11}")
            elif key == "confidence_auroc":
                cells.append(f"{value:>11.2f}")
            else:
                cells.append(f"{value:>11.0%}")
        return f"{name:{width}}{m['questions']:>5}" + "".join(cells)

    lines += [row(name, one["metrics"]) for name, one in report["corpora"].items()]
    lines.append(row("macro average", report["metrics"]))
    verdicts = [f"{name} {'ok' if one['passed'] else 'FAIL'}" for name, one in report["corpora"].items()]
    lines.append("Gates: " + ", ".join(verdicts))
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
    if "corpora" in report:
        summary["corpora"] = {name: one["metrics"] for name, one in report["corpora"].items()}
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
    """Metric deltas (overall and per corpus) and the questions that changed between pass and fail."""
    lines = ["Compared with the previous run:"]
    sections = [("", previous["metrics"], current["metrics"])]
    for name, one in current.get("corpora", {}).items():
        if name in previous.get("corpora", {}):
            sections.append((f"{name} ", previous["corpora"][name]["metrics"], one["metrics"]))
    labels = dict(_COLUMNS) | dict(_SUMMARY)
    for prefix, before_metrics, after_metrics in sections:
        for key, label in labels.items():
            before, after = before_metrics.get(key, 0), after_metrics.get(key, 0)
            if before != after:
                lines.append(f"  {prefix}{label}: {before} -> {after}")
    before_pass = {(r.get("corpus"), r["id"]): r["passed"] for r in previous["results"]}
    for r in current["results"]:
        was = before_pass.get((r.get("corpus"), r["id"]))
        where = f"{r['corpus']}/" if r.get("corpus") else ""
        if was is True and not r["passed"]:
            lines.append(f"  now FAILS: {where}{r['id']} {r['question']}")
        elif was is False and r["passed"]:
            lines.append(f"  now passes: {where}{r['id']} {r['question']}")
    if len(lines) == 1:
        lines.append("  no change")
    return "\n".join(lines)
