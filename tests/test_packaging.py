"""The lock files, the console script's entry and the pinned Python agree with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """Package → (the requirement as pinned, its hashes), from a `make lock` file."""
    text = (ROOT / name).read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash=")
        package = re.split(r"[=<>!~; ]", requirement, maxsplit=1)[0].lower()
        pins[package] = (requirement.strip(), [o.strip() for o in options])
    return pins


def test_every_locked_package_is_pinned_exactly_with_hashes() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        pins = locked(name)
        assert pins, name
        for package, (requirement, hashes) in pins.items():
            assert re.match(rf"^{re.escape(package)}==[^ ;]+( ;.*)?$", requirement, re.I), requirement
            assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), package


def test_dev_lock_holds_the_runtime_lock_at_the_same_versions() -> None:
    runtime, dev = locked("requirements.txt"), locked("requirements-dev.txt")
    for package, (requirement, _) in runtime.items():
        assert package in dev, f"{package} is in requirements.txt but not requirements-dev.txt"
        assert dev[package][0].split(";")[0].strip() == requirement.split(";")[0].strip()
    # What `make install` builds the project with is pinned there too.
    assert "setuptools" in dev and "uv" in dev


def test_every_declared_dependency_is_locked() -> None:
    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[=<>!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    project = PYPROJECT["project"]
    assert names(project["dependencies"]) <= set(locked("requirements.txt"))
    assert names(project["optional-dependencies"]["dev"]) <= set(locked("requirements-dev.txt"))


def test_console_script_and_pinned_python() -> None:
    assert PYPROJECT["project"]["scripts"] == {"apikeyid": "bot.__main__:main"}
    pinned = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert PYPROJECT["project"]["requires-python"] == f">={pinned}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == pinned
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + pinned.replace(".", "")
    assert f"--python-version {pinned}" in (ROOT / "Makefile").read_text(encoding="utf-8")
