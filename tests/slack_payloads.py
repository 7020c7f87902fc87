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


# Enterprise Grid and Slack Connect, in the shapes of Slack's interactivity payload docs and of
# bolt-python's tests/scenario_tests_async/ (commit a2f21ae4): test_shortcut.py and
# test_view_submission.py put the org in `team.enterprise_id` with `enterprise_name`;
# test_view_submission.py's Slack Connect payload names the other side's team and org in `team`
# and `user.team_id`; Slack's docs add an `enterprise` object and let `user.team_id` be the org (E…).
GRID = "E0GRID"


def on_grid(
    payload: dict[str, Any], *, user_team_is_org: bool = True, enterprise_object: bool = False
) -> dict[str, Any]:
    """An interactivity payload as a member of the bot's Grid org sends it: the org in
    `team.enterprise_id` always (bolt-python's shape), `user.team_id` the org's id or not, and
    Slack's `enterprise` object only sometimes."""
    team = payload["team"] | {"enterprise_id": GRID, "enterprise_name": "Example Org"}
    person = payload["user"] | ({"team_id": GRID} if user_team_is_org else {})
    extra = {"enterprise": {"id": GRID, "name": "Example Org"}} if enterprise_object else {}
    return payload | {"team": team, "user": person, "is_enterprise_install": False} | extra


GRID_SHAPES = {
    "bolt-python: team.enterprise_id, user.team_id T…": {"user_team_is_org": False},
    "user.team_id E…": {"user_team_is_org": True},
    "user.team_id E… and an enterprise object": {"user_team_is_org": True, "enterprise_object": True},
}


def from_partner(payload: dict[str, Any], *, enterprise: str | None = None) -> dict[str, Any]:
    """The same payload from a Slack Connect partner: another team, another org or none."""
    team: dict[str, Any] = {"id": "T0PARTNER", "domain": "partner"}
    if enterprise:
        team |= {"enterprise_id": enterprise, "enterprise_name": "Partner Org"}
    return payload | {
        "team": team,
        "user": payload["user"] | {"team_id": "T0PARTNER"},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def grid_command_fields() -> dict[str, str]:
    """A slash command's extra form fields on Grid (Slack's slash command docs)."""
    return {"enterprise_id": GRID, "enterprise_name": "Example Org", "is_enterprise_install": "false"}


def grid_home_opened(user_id: str) -> dict[str, Any]:
    """app_home_opened on Grid: the envelope's team_id/enterprise_id and `authorizations`, as in
    bolt-python's tests/scenario_tests_async/test_events_org_apps.py."""
    return home_opened(user_id) | {
        "enterprise_id": GRID,
        "authorizations": [
            {
                "enterprise_id": GRID,
                "team_id": "T0001",
                "user_id": "U0BOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
