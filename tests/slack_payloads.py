"""Interaction payloads shaped like Slack's (button clicks, shortcuts, modal submissions, events)."""

from __future__ import annotations

import uuid
from typing import Any

TEAM = {"id": "T0001", "domain": "example"}


def user(user_id: str, team_id: str = "T0001") -> dict[str, Any]:
    return {"id": user_id, "username": "someone", "name": "someone", "team_id": team_id}


def click(
    action_id: str,
    value: str,
    *,
    user_id: str,
    response_url: str = "",
    view_id: str | None = None,
    team_id: str = "T0001",
) -> dict[str, Any]:
    """A `block_actions` payload: a button in an ephemeral message, or in a modal when `view_id`."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": TEAM,
        "user": user(user_id, team_id),
        "api_app_id": "A0APP",
        "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.2"}
        ],
    }
    if view_id is None:
        payload |= {
            "container": {"type": "message", "is_ephemeral": True, "channel_id": "C0SUPPORT"},
            "channel": {"id": "C0SUPPORT", "name": "support"},
            "response_url": response_url,
        }
    else:
        payload |= {
            "container": {"type": "view", "view_id": view_id},
            "view": {"id": view_id, "type": "modal"},
        }
    return payload


def shortcut(callback_id: str, *, user_id: str, message_text: str | None = None) -> dict[str, Any]:
    """A global shortcut, or a message shortcut when `message_text` is given."""
    payload: dict[str, Any] = {
        "type": "shortcut" if message_text is None else "message_action",
        "callback_id": callback_id,
        "team": TEAM,
        "user": user(user_id),
        "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
    }
    if message_text is not None:
        payload |= {
            "channel": {"id": "C0SUPPORT", "name": "support"},
            "message": {"type": "message", "text": message_text, "ts": "1.2", "thread_ts": "1.1"},
            "message_ts": "1.2",
            "response_url": "",
        }
    return payload


def submission(org: str, name: str, *, user_id: str, view_id: str = "V0MODAL") -> dict[str, Any]:
    """The lookup modal's `view_submission`."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": user(user_id),
        "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": "apikeyid_lookup",
            "state": {
                "values": {
                    "org": {"org_input": {"type": "plain_text_input", "value": org}},
                    "name": {"name_input": {"type": "plain_text_input", "value": name or None}},
                }
            },
        },
    }


def home_opened(user_id: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "T0001",
        "api_app_id": "A0APP",
        "event": {"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home"},
        "event_id": f"Ev{uuid.uuid4().hex[:8]}",
        "event_time": 1,
    }
