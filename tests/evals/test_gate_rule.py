"""The gate rule: bounds are the jitter spread widened by a binomial margin, and gate.toml is rewritten in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.gate import load_thresholds
from evals.gate_rule import bounds, flip_share, main, margin, tightened


@pytest.mark.parametrize(("flipped", "trials", "share"), [(0, 100, 0.0), (3, 100, 0.03), (1, 0, 0.0)])
def test_flip_share_is_flips_per_trial(flipped: int, trials: int, share: float) -> None:
    assert flip_share(flipped, trials) == share


def test_margin_grows_with_the_flip_probability_and_keeps_one_question() -> None:
    assert margin(50, 0.0) == 1 / 50 and margin(0, 0.5) == 0.0
    assert 1 / 50 <= margin(50, 0.02) < margin(50, 0.1) <= 1.0


GATE = "# a comment that stays\n[min]\ncorrect_and_cited = 0.9\nflip_rate_unused = 0.5\n\n[max]\nflip_rate = 0.0\nerrors = 0\n"


def _corpus() -> dict[str, object]:
    spread = {
        "correct_and_cited": {"base": 0.8, "min": 0.78, "max": 0.8, "sd": 0.01},
        "flip_rate_unused": {"base": 0.5, "min": 0.5, "max": 0.5, "sd": 0.0},
        "flip_rate": {"base": 0.1, "min": 0.1, "max": 0.12, "sd": 0.01},
        "errors": {"base": 0, "min": 0, "max": 0, "sd": 0},
    }
    metrics = {"answerable": 50, "paraphrase_groups": 50, "questions": 80}
    return {"metrics": metrics, "jitter": {"runs": 3, "decisions": 200, "flipped": 4, "flipped_per_run": [2, 1, 3], "metrics": spread}}


def test_bounds_widen_the_spread_by_the_margin() -> None:
    gate = {"min": {"correct_and_cited": 0.9}, "max": {"flip_rate": 0.0, "errors": 0}}
    derived = bounds(_corpus(), gate)
    low = derived["min"]["correct_and_cited"]
    assert low["bound"] <= 0.78 - low["margin"] + 1e-9 and low["margin"] > 0
    high = derived["max"]["flip_rate"]
    assert high["bound"] >= 0.12 + high["margin"] - 1e-9
    assert derived["max"]["errors"]["bound"] == 0.0


def test_main_writes_the_bounds_and_keeps_the_comments(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "gate.toml").write_text(GATE, encoding="utf-8")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"split": "test", "corpora": {"demo": _corpus()}}), encoding="utf-8")

    assert main([str(run), "--write", "--root", str(tmp_path)]) == 0

    text = (tmp_path / "demo" / "gate.toml").read_text(encoding="utf-8")
    assert text.startswith("# a comment that stays") and "evals/gate_rule.py" in text
    gate = load_thresholds(tmp_path / "demo" / "gate.toml")
    assert gate["min"]["correct_and_cited"] < 0.78 and gate["max"]["flip_rate"] > 0.12 and gate["max"]["errors"] == 0


def test_tightened_keeps_the_stricter_bound() -> None:
    derived = {"min": {"f1": {"bound": 0.3}, "mrr": {"bound": 0.9}, "new": {"bound": 0.5}},
               "max": {"flip_rate": {"bound": 0.6}, "false_abstention": {"bound": 0.1}}}
    gate = {"min": {"f1": 0.4, "mrr": 0.8}, "max": {"flip_rate": 0.5, "false_abstention": 0.2}}
    out = tightened(derived, gate)
    assert {k: v["bound"] for k, v in out["min"].items()} == {"f1": 0.4, "mrr": 0.9, "new": 0.5}
    assert {k: v["bound"] for k, v in out["max"].items()} == {"flip_rate": 0.5, "false_abstention": 0.1}
