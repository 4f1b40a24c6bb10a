"""The trained-reader comparison's own figures, and the trainer reading compressed pairs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from train.compare import choice_figures
from train.reader import _read_rows


def _result(group: str, right: bool, confidence: float, kind: str = "factoid") -> dict[str, object]:
    return {"id": group, "group": group, "type": kind, "right": right, "confidence": confidence, "error": ""}


def test_choice_figures_read_every_wording_and_ignore_abstention() -> None:
    results = [
        _result("a", True, 0.9), _result("a", True, 0.8),  # both wordings right: no flip
        _result("b", True, 0.7), _result("b", False, 0.2),  # one right, one wrong: a flip
        _result("c", False, 0.6),  # a single wording: not a group
        _result("u", False, 0.1, kind="unanswerable"),
    ]
    figures = choice_figures(results)
    assert figures["choice_right"] == 0.6  # 3 of the 5 answerable wordings
    assert figures["choice_flip"] == 0.5  # 1 of the 2 groups with rewordings
    # right answers (0.9, 0.8, 0.7) outrank every other row but one (0.6 < 0.7 ... 0.2, 0.1): AUROC 1.0
    assert figures["right_auroc"] == 1.0


def test_trainer_reads_gzip_and_plain_pairs(tmp_path: Path) -> None:
    rows = [{"question": "What runs?", "label": 1}, {"question": "Who?", "label": 0}]
    text = "\n".join(json.dumps(row) for row in rows) + "\n"
    plain, packed = tmp_path / "pairs.jsonl", tmp_path / "pairs.jsonl.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    assert _read_rows(str(plain)) == rows == _read_rows(str(packed))
