"""The core stays pure (DESIGN.md): parsing, matching and text never reach Slack, HTTP or a server,
not even through another module of the bot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
CORE = ("text", "apikey", "command", "matching", "buttons")
EDGES = ("slack_bolt", "slack_sdk", "aiohttp", "httpx", "prometheus_client")
EDGE_MODULES = (
    "coveo",
    "slack",
    "server",
    "app",
    "socket_mode",
    "services",
    "listeners",
    "flow",
    "lifecycle",
)


def imports_of(module: str) -> set[str]:
    tree = ast.parse((BOT / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def reachable(module: str) -> set[str]:
    """Every module `module` imports, following the bot's own modules."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in imports_of(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("bot."):
                todo.append(name.removeprefix("bot."))
    return seen


@pytest.mark.parametrize("module", CORE)
def test_core_modules_import_nothing_from_slack_http_or_servers(module: str) -> None:
    for name in reachable(module):
        assert not name.startswith(EDGES), f"bot.{module} reaches {name}"
        assert name.removeprefix("bot.").split(".")[0] not in EDGE_MODULES, f"bot.{module} reaches {name}"
