"""The manifests in slack/ are accepted by Slack: held to Slack's published manifest schema, and
they create an app that reaches every listener the code has, with only the scopes those need.

The limits below are those of Slack's schema, slackapi/manifest-schema,
`schemas/manifest.schema.1.0.0.json` at commit c50cfa8508ff1017344550a5e5fb29a1416e5b98
(the file is not copied here; each rule names the schema definition it comes from). Only the parts
of the schema the manifests use are encoded; any other key is refused, as the schema's
`additionalProperties: false` does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.replies.surfaces import home_view
from bot.serving.listeners.shortcuts import GLOBAL_SHORTCUT, MESSAGE_SHORTCUT

SLACK = Path(__file__).resolve().parent.parent / "slack"
MANIFESTS = {"http": SLACK / "manifest.yml", "socket": SLACK / "manifest.socket-mode.yml"}
SCOPES = {"commands", "users:read", "usergroups:read", "chat:write"}

URL = {"type": str, "pattern": r"^https?:\/\/"}
# path (dot-separated, `[]` for every item of a list) → the schema's rule for it.
RULES: dict[str, dict[str, Any]] = {
    # definitions/app-manifests.v1.display_information.schema (required: name)
    "display_information": {"type": dict, "required": {"name"}},
    "display_information.name": {"type": str, "minLength": 1, "maxLength": 35},
    "display_information.description": {"type": str, "minLength": 1, "maxLength": 140},
    "display_information.background_color": {"type": str, "minLength": 4, "maxLength": 7},
    "display_information.long_description": {"type": str, "minLength": 175, "maxLength": 4000},
    # definitions/app-manifests.v1.features.schema
    "features": {"type": dict},
    # definitions/app-manifests.v1.features.app_home
    "features.app_home": {"type": dict},
    "features.app_home.home_tab_enabled": {"type": bool},
    "features.app_home.messages_tab_enabled": {"type": bool},
    "features.app_home.messages_tab_read_only_enabled": {"type": bool},
    # definitions/app-manifests.v1.features.bot_user (required: display_name)
    "features.bot_user": {"type": dict, "required": {"display_name"}},
    "features.bot_user.display_name": {"type": str, "minLength": 1, "maxLength": 80},
    "features.bot_user.always_online": {"type": bool},
    # definitions/app-manifests.v1.features.shortcuts: 1 to 10 items, each with all four fields
    "features.shortcuts": {"type": list, "minItems": 1, "maxItems": 10},
    "features.shortcuts[]": {"type": dict, "required": {"name", "type", "callback_id", "description"}},
    "features.shortcuts[].name": {"type": str, "minLength": 1, "maxLength": 24},
    "features.shortcuts[].type": {"type": str, "enum": {"message", "global"}},
    "features.shortcuts[].callback_id": {"type": str, "minLength": 1, "maxLength": 255},
    "features.shortcuts[].description": {"type": str, "minLength": 1, "maxLength": 150},
    # definitions/app-manifests.v1.features.slash_commands: 1 to 50 items
    "features.slash_commands": {"type": list, "minItems": 1, "maxItems": 50},
    "features.slash_commands[]": {"type": dict, "required": {"command", "description"}},
    "features.slash_commands[].command": {"type": str, "minLength": 2, "maxLength": 32, "pattern": r"^\/"},
    "features.slash_commands[].url": URL | {"maxLength": 3000},
    "features.slash_commands[].description": {"type": str, "minLength": 1, "maxLength": 2000},
    "features.slash_commands[].usage_hint": {"type": str, "minLength": 1, "maxLength": 1000},
    "features.slash_commands[].should_escape": {"type": bool},
    # definitions/app-manifests.v1.oauth_config.schema and .scopes: up to 255 scopes of ≤ 50 chars
    "oauth_config": {"type": dict},
    "oauth_config.scopes": {"type": dict},
    "oauth_config.scopes.bot": {"type": list, "maxItems": 255},
    "oauth_config.scopes.bot[]": {"type": str, "maxLength": 50},
    # definitions/app-manifests.v1.settings.schema
    "settings": {"type": dict},
    # definitions/app-manifests.v1.settings.interactivity (required: is_enabled)
    "settings.interactivity": {"type": dict, "required": {"is_enabled"}},
    "settings.interactivity.is_enabled": {"type": bool},
    "settings.interactivity.request_url": URL | {"maxLength": 3500},
    # definitions/app-manifests.v1.settings.event_subscriptions: up to 100 events of ≤ 50 chars
    "settings.event_subscriptions": {"type": dict},
    "settings.event_subscriptions.request_url": URL | {"maxLength": 3500},
    "settings.event_subscriptions.bot_events": {"type": list, "maxItems": 100},
    "settings.event_subscriptions.bot_events[]": {"type": str, "maxLength": 50},
    "settings.org_deploy_enabled": {"type": bool},
    "settings.socket_mode_enabled": {"type": bool},
    "settings.token_rotation_enabled": {"type": bool},
}
# The schema's root requires display_information only.
REQUIRED_AT_ROOT = {"display_information"}


def read_yaml(text: str) -> Any:
    """The YAML subset the manifests are written in (block mappings, block lists, plain and
    double-quoted scalars, comments), read strictly: anything else fails the test, rather than
    being read wrongly. (No YAML library is among the project's dependencies.)"""
    lines = [
        (len(line) - len(line.lstrip(" ")), line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    value, end = _block(lines, 0, 0)
    assert end == len(lines), f"cannot read line {lines[end][1]!r}"
    return value


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        assert text.endswith('"') and len(text) >= 2 and '\\"' not in text, text
        return text[1:-1]
    assert not text.startswith(("'", "{", "[", "&", "*", "!", "|", ">")), f"unsupported YAML: {text}"
    text = re.sub(r"\s+#.*$", "", text)
    return {"true": True, "false": False}.get(text, text)


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1].startswith("- "):
        items: list[Any] = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            rest = lines[i][1][2:]
            if re.match(r"[a-z_]+:(\s|$)", rest):
                # A mapping item: its first key sits after the dash, the others two columns in.
                item_lines = [(indent + 2, rest)]
                i += 1
                while i < len(lines) and lines[i][0] > indent:
                    item_lines.append(lines[i])
                    i += 1
                item, used = _block(item_lines, 0, indent + 2)
                assert used == len(item_lines)
                items.append(item)
            else:
                items.append(_scalar(rest))
                i += 1
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        key, sep, rest = lines[i][1].partition(":")
        assert sep and re.fullmatch(r"[a-z_]+", key), f"unsupported YAML: {lines[i][1]}"
        assert key not in mapping, f"duplicate key {key}"
        rest = rest.strip()
        if rest and not rest.startswith("#"):
            mapping[key] = _scalar(rest)
            i += 1
        else:
            assert i + 1 < len(lines) and lines[i + 1][0] >= indent, key
            child = lines[i + 1][0] if lines[i + 1][0] > indent else indent
            mapping[key], i = _block(lines, i + 1, child)
    assert i == len(lines) or lines[i][0] < indent, f"bad indentation at {lines[i][1]!r}"
    return mapping, i


def schema_problems(value: Any, path: str = "") -> list[str]:
    """Every way `value` breaks the schema's rules above (an unknown key is one)."""
    problems: list[str] = []
    rule = RULES.get(path) if path else {"type": dict, "required": REQUIRED_AT_ROOT}
    if rule is None:
        return [f"{path}: not a key the schema allows (or not encoded here)"]
    if not isinstance(value, rule["type"]):
        return [f"{path}: {type(value).__name__}, not {rule['type'].__name__}"]
    size = len(value) if isinstance(value, str | list) else None
    if size is not None and size < rule.get("minLength", rule.get("minItems", 0)):
        problems.append(f"{path}: {size} is under the minimum")
    if size is not None and size > rule.get("maxLength", rule.get("maxItems", size)):
        problems.append(f"{path}: {size} is over the maximum ({value!r})")
    if "pattern" in rule and not re.search(rule["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {rule['pattern']}")
    if "enum" in rule and value not in rule["enum"]:
        problems.append(f"{path}: {value!r} is not one of {sorted(rule['enum'])}")
    if isinstance(value, dict):
        missing = sorted(rule.get("required", set()) - set(value))
        problems += [f"{path}.{key}: required" if path else f"{key}: required" for key in missing]
        for key, item in value.items():
            problems += schema_problems(item, f"{path}.{key}" if path else key)
    if isinstance(value, list):
        for item in value:
            problems += schema_problems(item, f"{path}[]")
    return problems


def manifest(mode: str) -> dict[str, Any]:
    parsed = read_yaml(MANIFESTS[mode].read_text(encoding="utf-8"))
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("mode", MANIFESTS)
def test_manifest_is_within_slacks_schema(mode: str) -> None:
    assert schema_problems(manifest(mode)) == []


def test_schema_check_catches_what_slack_refuses() -> None:
    good = manifest("http")
    too_long = good | {"features": good["features"] | {"shortcuts": [good["features"]["shortcuts"][0]]}}
    too_long["features"]["shortcuts"] = [dict(too_long["features"]["shortcuts"][0], name="x" * 25)]
    assert schema_problems(too_long) == [
        "features.shortcuts[].name: 25 is over the maximum ('" + "x" * 25 + "')"
    ]
    assert schema_problems(good | {"surprise": True}) == [
        "surprise: not a key the schema allows (or not encoded here)"
    ]
    bad_command = dict(good["features"]["slash_commands"][0], command="apikeyid", url="ftp://x")
    assert len(schema_problems(bad_command, "features.slash_commands[]")) == 2
    assert schema_problems({"features": {}}) == ["display_information: required"]


def test_yaml_reader_reads_what_it_should() -> None:
    text = 'a:\n  b: "x: y"  \n  c:\n    - d: 1\n      e: true\n    - f\nz: false # no\n'
    assert read_yaml(text) == {"a": {"b": "x: y", "c": [{"d": "1", "e": True}, "f"]}, "z": False}
    with pytest.raises(AssertionError):
        read_yaml("a: {b: 1}\n")


@pytest.mark.parametrize("mode", MANIFESTS)
def test_every_surface_is_declared(mode: str) -> None:
    data = manifest(mode)
    shortcuts = {s["callback_id"]: s for s in data["features"]["shortcuts"]}
    assert set(shortcuts) == {GLOBAL_SHORTCUT, MESSAGE_SHORTCUT}
    assert shortcuts[GLOBAL_SHORTCUT]["type"] == "global" and shortcuts[MESSAGE_SHORTCUT]["type"] == "message"
    # The Home tab tells people the message shortcut's name: the one the manifest gives it.
    home = str(home_view(None))
    assert f"*{shortcuts[MESSAGE_SHORTCUT]['name']}*" in home
    assert [c["command"] for c in data["features"]["slash_commands"]] == ["/apikeyid"]
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert data["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert set(data["oauth_config"]["scopes"]["bot"]) == SCOPES
    urls = [
        data["features"]["slash_commands"][0].get("url"),
        data["settings"]["interactivity"].get("request_url"),
        data["settings"]["event_subscriptions"].get("request_url"),
    ]
    if mode == "http":
        assert data["settings"]["socket_mode_enabled"] is False
        assert all(url and url.startswith("https://") and url.endswith("/slack/events") for url in urls)
    else:
        assert data["settings"]["socket_mode_enabled"] is True and urls == [None, None, None]
