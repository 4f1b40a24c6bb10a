"""The lock file pins every direct dependency at the version pyproject.toml names."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def test_lock_pins_every_direct_dependency_at_its_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = list(project["dependencies"]) + [
        dep for extra in project["optional-dependencies"].values() for dep in extra
    ]
    locked = _locked()
    assert len(locked) > len(direct)  # transitive packages are pinned too
    for spec in direct:
        name, version = spec.split("==")
        name = _canonical(name.split("[")[0])
        assert name in locked, f"{name} is missing from requirements.lock: run `make lock`"
        # a local build tag (torch's +cpu) is what the lock resolved the pin to
        assert locked[name].split("+")[0] == version, f"{name}: run `make lock`"
