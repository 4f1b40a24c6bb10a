"""Source text for generated training data: Debian documentation packages that no eval corpus uses."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGES", "Package", "ensure_packages", "source_files", "wordnet_dir"]


@dataclass(frozen=True)
class Package:
    """A Debian package and the files of it that are read."""

    name: str
    root: str
    pattern: str


# The PostgreSQL manual and the GNU coding standards: technical prose like the docs users ask about, and
# in no eval corpus (those are a news file, SQLite's and Bash's manuals and a SQuAD article).
PACKAGES = (
    Package("postgresql-doc-15", "/usr/share/doc/postgresql-doc-15/html", "*.html"),
    Package("gnu-standards", "/usr/share/doc/gnu-standards", "*.html"),
)
# WordNet 3.0 for synonyms and hypernyms of question words.
WORDNET = "wordnet-base"


def _installed_version(name: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", name], capture_output=True, text=True, check=False
    )
    parts = done.stdout.split()
    return parts[-1] if done.returncode == 0 and "installed" in parts else None


def ensure_packages() -> dict[str, str]:
    """Install the source packages when missing (as root or through sudo); returns {package: version}."""
    names = [package.name for package in PACKAGES] + [WORDNET]
    missing = [name for name in names if _installed_version(name) is None]
    if missing:
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(prefix + ["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    versions = {name: _installed_version(name) for name in names}
    absent = [name for name, version in versions.items() if version is None]
    if absent:
        raise RuntimeError(f"Could not install {', '.join(absent)}; install them with apt-get and run again.")
    return {name: str(version) for name, version in versions.items()}


def source_files() -> list[Path]:
    """Every file of the source packages, in a stable order."""
    files: list[Path] = []
    for package in PACKAGES:
        files.extend(sorted(Path(package.root).glob(package.pattern)))
    return files


# WordNet 3.0's lexicographer file names, in their numbered order; Debian's wordnet-base leaves this file
# out, and nltk's reader needs it.
_LEXNAMES = (
    "adj.all 3,adj.pert 3,adv.all 4,noun.Tops 1,noun.act 1,noun.animal 1,noun.artifact 1,noun.attribute 1,"
    "noun.body 1,noun.cognition 1,noun.communication 1,noun.event 1,noun.feeling 1,noun.food 1,noun.group 1,"
    "noun.location 1,noun.motive 1,noun.object 1,noun.person 1,noun.phenomenon 1,noun.plant 1,"
    "noun.possession 1,noun.process 1,noun.quantity 1,noun.relation 1,noun.shape 1,noun.state 1,"
    "noun.substance 1,noun.time 1,verb.body 2,verb.change 2,verb.cognition 2,verb.communication 2,"
    "verb.competition 2,verb.consumption 2,verb.contact 2,verb.creation 2,verb.emotion 2,verb.motion 2,"
    "verb.perception 2,verb.possession 2,verb.social 2,verb.stative 2,verb.weather 2,adj.ppl 3"
)


def wordnet_dir(cache: Path) -> Path:
    """A folder nltk's WordNet reader accepts: Debian's database files plus the lexnames list."""
    target = cache / "wordnet"
    if not (target / "lexnames").exists():
        target.mkdir(parents=True, exist_ok=True)
        for path in Path("/usr/share/wordnet").iterdir():
            if path.is_file():
                shutil.copy2(path, target / path.name)
        lines = [f"{i:02d}\t{name.split()[0]}\t{name.split()[1]}" for i, name in enumerate(_LEXNAMES.split(","))]
        (target / "lexnames").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
