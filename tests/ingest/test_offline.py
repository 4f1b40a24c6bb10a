"""No code path needs the network: the model, tiktoken's encoding and NLTK's punkt all load from local files."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from corpusqa.settings import load_settings
from ingest.embedder import Embedder
from rag import Engine

CORPUSQA = Path(sys.executable).parent / "corpusqa"
CORPUS_FILE = Path(__file__).resolve().parents[2] / "data" / "corpus" / "afghan_prisoner_release_2020.txt"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

EMBED_SCRIPT = """
import json, sys
from pathlib import Path
from ingest.embedder import Embedder
embedder = Embedder("all-MiniLM-L6-v2", 64, Path(sys.argv[1]))
texts = embedder.embed_texts(["Taliban prisoners were released in batches.", "Café owners stayed naïve."])
query = embedder.embed_query("How were the prisoners released?")
heavy = sorted(name for name in ("torch", "transformers", "sentence_transformers", "llama_index") if name in sys.modules)
print(json.dumps({"texts": texts.tolist(), "query": query.tolist(), "heavy": heavy}))
"""


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


CONNECT_SCRIPT = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=5)"


def test_offline_sandbox_really_has_no_network(no_network: list[str]) -> None:
    if not no_network:  # no way to cut the network here: the tests below rely on dead proxies alone
        assert shutil.which("unshare") is None or os.geteuid() != 0
        return
    result = subprocess.run(
        [*no_network, sys.executable, "-c", CONNECT_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0
    assert "OSError" in result.stderr or "unreachable" in result.stderr


def test_embedder_loads_offline_with_an_empty_hf_cache(
    tmp_path: Path, offline_env: dict[str, str], no_network: list[str], embedder: Embedder
) -> None:
    embedder.embed_query("warm up")  # the session's export is in place
    result = subprocess.run(
        [*no_network, sys.executable, "-c", EMBED_SCRIPT, str(embedder.cache_dir)],
        env=offline_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Building" not in result.stderr  # the export was reused, not rebuilt
    vectors = json.loads(result.stdout)
    assert vectors["heavy"] == []  # with the export in place, neither torch nor transformers is imported
    texts = np.asarray(vectors["texts"], dtype=np.float32)
    assert texts.shape == (2, 384)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-4)
    # the very same model as the one the suite loads in-process
    expected = embedder.embed_texts(["Taliban prisoners were released in batches.", "Café owners stayed naïve."])
    assert np.allclose(texts, expected, atol=1e-5)
    assert np.allclose(vectors["query"], embedder.embed_query("How were the prisoners released?"), atol=1e-5)
    assert _files_under(Path(offline_env["HF_HOME"])) == []  # nothing was fetched or cached


def test_cli_ingest_runs_without_network_and_draws_progress_on_a_terminal(
    tmp_path: Path,
    offline_env: dict[str, str],
    no_network: list[str],
    pdf_bytes: Callable[..., bytes],
    embedder: Embedder,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # every reader and the tokenizers: tiktoken (budgets), punkt (sentences), bs4, pypdf, charset-normalizer
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    (corpus / "news.txt").write_text("".join(lines[32:60]), encoding="utf-8")
    (corpus / "guide.md").write_text("# Guide\n\nRead the manual first. Then ask.\n", encoding="utf-8")
    (corpus / "page.html").write_text("<title>Page</title><h1>Heading</h1><p>Some words here.</p>", encoding="utf-8")
    (corpus / "paper.pdf").write_bytes(pdf_bytes(["A short paper about rivers."], "Rivers"))
    (corpus / "cafe.txt").write_bytes("Le café était naïf.\n".encode("cp1252"))
    index_dir = tmp_path / "index"
    env = dict(offline_env, TERM="xterm-256color", COLUMNS="120")

    leader, follower = pty.openpty()
    try:
        ingest = subprocess.Popen(
            [*no_network, str(CORPUSQA), "ingest", str(corpus), "--index-dir", str(index_dir)],
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env,
            cwd=tmp_path,
        )
        os.close(follower)
        terminal = b""
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not data:
                break
            terminal += data
        stdout, _ = ingest.communicate(timeout=300)
    finally:
        os.close(leader)

    screen = _ANSI.sub("", terminal.decode("utf-8", "replace"))
    assert ingest.returncode == 0, screen
    assert stdout == b""
    assert re.search(r"documents\s.*5/5", screen), screen  # rich's bar: stage, bar, done/total
    summary = [line for line in screen.splitlines() if line.strip()][-1]
    assert re.fullmatch(
        r"5 added, 0 updated, 0 unchanged, 0 deleted, 0 skipped \(were processed\); index: 5 documents, \d+ chunks; [\d.]+ s",
        summary.strip(),
    ), summary
    assert "Traceback" not in screen
    status = Engine(load_settings(index_dir=index_dir), embedder).status()
    names = ["cafe.txt", "guide.md", "news.txt", "page.html", "paper.pdf"]
    assert [d.source for d in status.documents] == [f"{corpus.name}/{name}" for name in names]
    assert _files_under(Path(offline_env["HF_HOME"])) == []


def test_cli_exports_the_model_under_the_index_dir_once_then_answers_offline(
    tmp_path: Path, offline_env: dict[str, str], no_network: list[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    (corpus / "news.txt").write_text("".join(lines[32:60]), encoding="utf-8")
    index_dir = tmp_path / "index"
    env = {key: value for key, value in offline_env.items() if key != "CORPUSQA_MODEL_CACHE_DIR"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*no_network, str(CORPUSQA), *args, "--index-dir", str(index_dir)]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)

    ingest = run("ingest", str(corpus))
    ask = run("ask", "How were the prisoners released?")

    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stderr.count("Building the ONNX export") == 1, ingest.stderr
    assert "Traceback" not in ingest.stderr
    # the fp32 export, its int8 quantisation, and the int8 graph as optimised by ONNX Runtime
    names = sorted(p.name.rsplit("-", 1)[-1] for p in (index_dir / "models").iterdir())
    assert names == ["fp32.onnx", "int8.onnx", "int8.opt.onnx"], names
    assert ask.returncode == 0, ask.stderr
    assert "Building" not in ask.stderr and "Traceback" not in ask.stderr
    assert ask.stdout.strip()
    assert _files_under(Path(offline_env["HF_HOME"])) == []
