"""The manifests in slack/ create an app that reaches every listener the code has, with only
the scopes those need."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.listeners.shortcuts import GLOBAL_SHORTCUT, MESSAGE_SHORTCUT

SLACK = Path(__file__).resolve().parent.parent / "slack"
MANIFESTS = {"http": SLACK / "manifest.yml", "socket": SLACK / "manifest.socket-mode.yml"}
SCOPES = {"commands", "users:read", "usergroups:read", "chat:write"}


def scopes(text: str) -> set[str]:
    block = text.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    return set(re.findall(r"^      - ([a-z:.]+)$", block, re.M))


@pytest.mark.parametrize("mode", MANIFESTS)
def test_every_surface_is_declared(mode: str) -> None:
    text = MANIFESTS[mode].read_text(encoding="utf-8")
    assert f"callback_id: {GLOBAL_SHORTCUT}\n" in text and f"callback_id: {MESSAGE_SHORTCUT}\n" in text
    assert "type: global" in text and "type: message" in text
    assert "home_tab_enabled: true" in text and "- app_home_opened" in text
    assert re.search(r"interactivity:\n(?:\s+#.*\n)?\s+is_enabled: true", text)
    assert scopes(text) == SCOPES
    urls = re.findall(r"(?:url|request_url): (\S+)", text)
    if mode == "http":
        assert "socket_mode_enabled: false" in text
        assert len(urls) == 3 and all(url.endswith("/slack/events") for url in urls)
    else:
        assert "socket_mode_enabled: true" in text and urls == []
