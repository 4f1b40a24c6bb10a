"""The scale corpus: the Python 3.11 documentation as HTML, from Debian's python3.11-doc package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from corpusqa.errors import CorpusQAError

__all__ = [
    "DOC_PACKAGE",
    "DOC_ROOT",
    "SCALE_QUESTIONS",
    "copy_pages",
    "doc_pages",
    "ensure_docs",
    "question_sources",
    "select_pages",
]

DOC_PACKAGE = "python3.11-doc"
DOC_ROOT = Path("/usr/share/doc/python3.11/html")
SCALE_QUESTIONS = Path(__file__).resolve().parent / "scale_questions.jsonl"

# --quick: the pages the scale questions cite, then related pages as distractors (same topics and
# vocabulary: randomness, hashing, sorting, colour, wildcards, terminals). The small size is the
# first half; the large size is all of them.
_QUICK_DISTRACTORS = (
    "library/hmac.html",
    "library/bisect.html",
    "library/glob.html",
    "library/tty.html",
    "library/crypt.html",
    "library/imghdr.html",
)
_QUICK_MIN_PAGES = 4


def ensure_docs(root: Path, install: bool, say: Callable[[str], None]) -> Path:
    """The documentation folder; installs Debian's package when it is missing (root, or sudo -n)."""
    if root.is_dir() and next(root.rglob("*.html"), None) is not None:
        return root
    if not install or root != DOC_ROOT:
        raise CorpusQAError(f"No HTML documentation in {root}; run `apt-get install {DOC_PACKAGE}` or pass --no-scale.")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_cmd = [*prefix, "apt-get", "install", "-y", "-q", DOC_PACKAGE]
    for attempt in ([install_cmd], [[*prefix, "apt-get", "update", "-q"], install_cmd]):
        say(f"Installing {DOC_PACKAGE} ({' '.join(attempt[-1])})...")
        ok = all(
            subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False).returncode == 0
            for cmd in attempt
        )
        if ok and root.is_dir():
            return root
    raise CorpusQAError(f"Could not install {DOC_PACKAGE}; install it with apt-get as root, or pass --no-scale.")


def doc_pages(root: Path) -> list[str]:
    """Every HTML page under the documentation root (relative paths, sorted; no _static or _sources)."""
    pages = []
    for path in root.rglob("*.html"):
        relative = path.relative_to(root)
        if not any(part.startswith(("_", ".")) for part in relative.parts) and path.is_file():
            pages.append(relative.as_posix())
    return sorted(pages)


def question_sources(questions: Path) -> list[str]:
    """The `source` page of each scale question, in file order, without repeats."""
    sources: list[str] = []
    for line in questions.read_text(encoding="utf-8").splitlines():
        if line.strip():
            source = json.loads(line).get("source")
            if source and source not in sources:
                sources.append(str(source))
    return sources


def select_pages(root: Path, quick: bool, questions: Path, cap: int = 0) -> tuple[list[str], list[str]]:
    """(small, large) page lists, deterministic: large is the whole set; small is half of it (quick) or a quarter."""
    available = set(doc_pages(root))
    if quick:
        chosen = [page for page in (*question_sources(questions), *_QUICK_DISTRACTORS) if page in available]
        # another folder of pages (the tests'): fill up with its first pages
        chosen += [page for page in sorted(available) if page not in chosen][: max(0, _QUICK_MIN_PAGES - len(chosen))]
        large = chosen
        small = chosen[: max(1, len(chosen) // 2)]
    else:
        large = sorted(available)
        if 0 < cap < len(large):  # evenly spaced, keeping the pages the questions cite
            keep = set(question_sources(questions))
            spaced = {large[i * len(large) // cap] for i in range(cap)}
            large = sorted(spaced | {page for page in large if page in keep})
        small = large[::4]
    if not large:
        raise CorpusQAError(f"No HTML pages under {root}; reinstall {DOC_PACKAGE} or pass --no-scale.")
    return small, large


def copy_pages(root: Path, pages: list[str], target: Path) -> float:
    """Copy pages (keeping their folders) into target; returns the megabytes copied."""
    total = 0
    for page in pages:
        destination = target / page
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / page, destination)
        total += destination.stat().st_size
    return total / (1024 * 1024)
