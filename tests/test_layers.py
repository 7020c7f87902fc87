"""The rooms of ARCHITECTURE.md and the one rule between them, checked transitively for every module.

Arrows run one way: serving → flow → replies, Slack, Coveo → core. A module may import (directly
or through any other module of the bot) only modules of its own room and of the rooms below it,
so the core stays pure and Coveo or Slack never reach up into the flow, the replies or serving.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"

# The room of each module, by the longest matching prefix.
ROOMS = {
    "bot.core": "core",
    "bot.coveo": "coveo",
    "bot.slack": "slack",
    "bot.replies": "replies",
    "bot.flow": "flow",
    "bot.serving": "serving",
    # Edges of the product, below everything but the core: read by every room that needs them.
    "bot": "base",  # the package itself (its version)
    "bot.settings": "base",
    "bot.logs": "base",
    "bot.outbound": "base",
    "bot.metrics": "metrics",  # hooks are handed to Coveo and Slack; only the flow and serving import it
    # Edges on top: the command line, the doctor and the entry point.
    "bot.cli": "front",
    "bot.doctor": "front",
    "bot.__main__": "front",
}
BELOW = {
    "core": {"core"},
    "base": {"base", "core"},
    "metrics": {"metrics", "base", "core"},
    "coveo": {"coveo", "base", "core"},
    "slack": {"slack", "base", "core"},
    "replies": {"replies", "coveo", "base", "core"},
    "flow": {"flow", "replies", "slack", "coveo", "metrics", "base", "core"},
    "serving": {"serving", "flow", "replies", "slack", "coveo", "metrics", "base", "core"},
    "front": {"front", "serving", "flow", "replies", "slack", "coveo", "metrics", "base", "core"},
}
# Libraries of the outside world, and the rooms that may reach them (even through another module).
LIBRARIES = {
    "slack_bolt": {"slack", "serving", "front", "flow"},
    "slack_sdk": {"slack", "replies", "serving", "front", "flow"},  # replies: its Block Kit models
    "aiohttp": {"base", "coveo", "slack", "serving", "flow", "front"},
    "httpx": {"coveo", "front", "flow", "serving"},
    "prometheus_client": {"metrics", "flow", "serving", "front"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in BOT.rglob("*.py")}


def room_of(module: str) -> str:
    for prefix in sorted(ROOMS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return ROOMS[prefix]
    raise AssertionError(f"{module} is in no room: add it to ARCHITECTURE.md and to ROOMS here")


def imports_of(module: str) -> set[str]:
    """Every module `module` imports, anywhere in it (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            found.add(node.module)
            # `from bot.coveo import client` imports the module bot.coveo.client
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return found


def reachable(module: str) -> dict[str, str]:
    """Every module `module` reaches, following the bot's own modules: {reached: through which}."""
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imports_of(current):
            if name in seen:
                continue
            seen[name] = current
            if name in MODULES:
                todo.append(name)
    return seen


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_reaches_only_its_own_room_and_the_rooms_below(module: str) -> None:
    room = room_of(module)
    for name, via in reachable(module).items():
        if name in MODULES:
            assert room_of(name) in BELOW[room], (
                f"{module} ({room}) reaches {name} ({room_of(name)}) via {via}"
            )
        else:
            library = name.split(".")[0]
            if library in LIBRARIES:
                assert room in LIBRARIES[library], f"{module} ({room}) reaches {name} via {via}"


def test_the_core_reaches_no_library_of_the_outside_world() -> None:
    for module in (m for m in MODULES if room_of(m) == "core"):
        reached = {n.split(".")[0] for n in reachable(module) if n not in MODULES}
        assert not reached & set(LIBRARIES), f"{module} reaches {reached & set(LIBRARIES)}"


def test_every_room_is_a_folder_or_an_edge_named_in_architecture_md() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for prefix in ROOMS:
        path = prefix.replace(".", "/")
        shown = f"{path}/" if (ROOT / path).is_dir() else f"{path}.py"
        assert f"`{shown}`" in text or prefix == "bot", f"ARCHITECTURE.md does not name {shown}"


def test_the_rule_catches_a_wrong_way_import(tmp_path: Path) -> None:
    """The checker itself: a core module that imports the flow is caught."""
    assert "bot.flow.pipeline" in MODULES
    MODULES["bot.core.wrong_way"] = tmp_path / "wrong_way.py"
    (tmp_path / "wrong_way.py").write_text("from bot.core import text\nimport bot.flow.pipeline\n")
    try:
        with pytest.raises(AssertionError, match=r"reaches bot\.flow"):
            test_every_module_reaches_only_its_own_room_and_the_rooms_below("bot.core.wrong_way")
    finally:
        del MODULES["bot.core.wrong_way"]
