"""Fixtures for the ingest tests: generated corpora, hand-made PDFs, real subprocess runs of `corpusqa`."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILE = ROOT / "data" / "corpus" / "afghan_prisoner_release_2020.txt"
VENV_BIN = Path(sys.executable).parent
CORPUSQA = VENV_BIN / "corpusqa"

_SUBJECTS = ["The committee", "A local farmer", "The river authority", "Our reporter", "The city council", "A young engineer"]
_VERBS = ["described", "measured", "inspected", "repaired", "announced", "questioned", "photographed"]
_OBJECTS = ["the old bridge", "a flooded meadow", "the winter harvest", "three broken pumps", "the annual budget", "a rare orchid"]
_TAILS = ["before dawn", "after a long debate", "with great care", "despite the rain", "for the first time"]


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A minimal valid one-page PDF (Helvetica text, optional /Title), with a correct xref table."""
    content = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_notes(folder: Path, files: int, sentences: int = 3, paragraphs: int = 2, seed: int = 0) -> list[Path]:
    """`files` deterministic prose files note_NN.txt (distinct content, whole sentences) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number in range(files):
        rng = random.Random(seed * 1000 + number)
        paras = [
            " ".join(
                f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)} "
                f"in report {number}-{para}-{k}."
                for k in range(sentences)
            )
            for para in range(paragraphs)
        ]
        path = folder / f"note_{number:02d}.txt"
        path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        written.append(path)
    return written


@pytest.fixture(scope="session")
def notes() -> Callable[..., list[Path]]:
    """write_notes(folder, files, sentences=3, paragraphs=2, seed=0)."""
    return write_notes


@pytest.fixture(scope="session")
def pdf_bytes() -> Callable[..., bytes]:
    """make_pdf(lines, title=None)."""
    return make_pdf


def _network_isolation() -> list[str]:
    """A command prefix that runs its command without any network, or [] where that is impossible."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "-n", "--"], [unshare, "-rn", "--"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return []


@pytest.fixture(scope="session")
def no_network() -> list[str]:
    """Prefix for a subprocess with no network at all (`unshare -n`); [] when unavailable (proxies still block)."""
    return _network_isolation()


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """The subprocess environment of an offline machine: empty HF cache, dead proxies, no cache overrides."""
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA", "HF_HOME", "SENTENCE_TRANSFORMERS_HOME", "TRANSFORMERS_CACHE")
    }
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="1",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        ALL_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
    )
    return env
