"""One request from Slack, read once at the boundary into a typed object.

Slack sends different shapes for a slash command (flat form fields), a button click or a
shortcut (`user`, `team`, `actions`… in a JSON payload), a modal submission (`view.state`)
and an event (`event`). Listeners get an `Interaction` instead of picking at dicts, and
every field is a string of the expected type or empty: a missing or odd field never raises.

What people type (a command's text, a modal's inputs, a message a shortcut was used on) is read
with every pasted Coveo API key value cut to its visible end (`bot.logs.hide_key_values`), so the
secret reaches no log, audit line, audit channel or echo, and the lookup still finds the key by
the end of its value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.logs import hide_key_values
from bot.slack.access import Requester, is_enterprise_id


@dataclass(frozen=True)
class Interaction:
    user_id: str
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None
    response_url: str = ""
    trigger_id: str = ""
    text: str = ""  # a command's text, or the text of the message a shortcut was used on
    action_id: str = ""
    action_value: str = ""
    view_id: str = ""  # the modal a click or submission came from
    inputs: dict[str, str] = field(default_factory=dict)  # a submitted modal's values, by block id
    received_at: float = field(default_factory=time.monotonic)

    @property
    def requester(self) -> Requester:
        return Requester(self.user_id, self.team_id, self.enterprise_id)

    @property
    def in_modal(self) -> bool:
        return bool(self.view_id)

    @classmethod
    def from_command(cls, body: dict[str, Any], received_at: float | None = None) -> Interaction:
        """A slash command's form fields: `team_id`, and on Grid `enterprise_id` (Slack's slash
        command docs; bolt-python's tests/scenario_tests_async/test_slash_command.py)."""
        return cls(
            user_id=_text(body.get("user_id")),
            team_id=_text(body.get("team_id")) or None,
            enterprise_id=_text(body.get("enterprise_id")) or None,
            channel_id=_text(body.get("channel_id")) or None,
            response_url=_text(body.get("response_url")),
            trigger_id=_text(body.get("trigger_id")),
            text=hide_key_values(_text(body.get("text"))),
            received_at=received_at or time.monotonic(),
        )

    @classmethod
    def from_payload(cls, body: dict[str, Any], received_at: float | None = None) -> Interaction:
        """A button click, a shortcut or a modal submission."""
        user = _dict(body.get("user"))
        action = _dict(next(iter(_list(body.get("actions"))), None))
        view = _dict(body.get("view"))
        message = _dict(body.get("message"))
        team_id, enterprise_id = _actor(body)
        return cls(
            user_id=_text(user.get("id")),
            team_id=team_id,
            enterprise_id=enterprise_id,
            channel_id=_text(_dict(body.get("channel")).get("id")) or None,
            response_url=_text(body.get("response_url")),
            trigger_id=_text(body.get("trigger_id")),
            text=hide_key_values(_text(message.get("text"))),
            action_id=_text(action.get("action_id")),
            action_value=_text(action.get("value")),
            view_id=_text(view.get("id")),
            inputs=_inputs(view),
            received_at=received_at or time.monotonic(),
        )

    @classmethod
    def from_event(cls, body: dict[str, Any]) -> Interaction:
        """An Events API envelope (app_home_opened): `team_id` and `enterprise_id` at the top, as in
        bolt-python's tests/scenario_tests_async/test_events_org_apps.py; `authorizations[0]` (the
        installation the event was delivered for) when the top gives none."""
        event = _dict(body.get("event"))
        authorization = _dict(next(iter(_list(body.get("authorizations"))), None))
        team_id = _text(body.get("team_id")) or _text(authorization.get("team_id"))
        enterprise_id = _text(body.get("enterprise_id")) or _text(authorization.get("enterprise_id"))
        if is_enterprise_id(team_id):  # an org-wide installation names the org where a team would be
            enterprise_id, team_id = enterprise_id or team_id, ""
        return cls(
            user_id=_text(event.get("user")),
            team_id=team_id or None,
            enterprise_id=enterprise_id or None,
        )


def _actor(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The workspace and Enterprise Grid org of the person who clicked, shortcut or submitted.

    The shapes (Slack's interactivity payload docs; bolt-python's tests/scenario_tests_async/
    test_block_actions.py, test_view_submission.py, test_shortcut.py):
    - `team`: {"id": "T…", "domain": …}, and on Grid also "enterprise_id": "E…", "enterprise_name";
      on an org-wide installation `team` can be null.
    - `user`: {"id", "username", "team_id"}; on Grid `user.team_id` can be the org's id (E…).
    - `enterprise`: {"id": "E…", "name": …} or null.
    Slack Connect: `team` and `user.team_id` are the person's own (a partner's) team and org, not
    the workspace the message lives in, so a partner stays another workspace. The `enterprise`
    object counts only when `team` names no team (org-wide installations), since it describes the
    installation rather than the person.
    """
    team = _dict(body.get("team"))
    user_team = _text(_dict(body.get("user")).get("team_id"))
    enterprise = body.get("enterprise")
    enterprise_id = _text(team.get("enterprise_id")) or (user_team if is_enterprise_id(user_team) else "")
    if not enterprise_id and not _text(team.get("id")):
        enterprise_id = _text(enterprise) or _text(_dict(enterprise).get("id"))
    team_id = user_team if user_team and not is_enterprise_id(user_team) else _text(team.get("id"))
    return team_id or None, enterprise_id or None


def _inputs(view: dict[str, Any]) -> dict[str, str]:
    """`view.state.values` → {block_id: the text typed}, for plain-text inputs."""
    found = {}
    for block_id, actions in _dict(_dict(view.get("state")).get("values")).items():
        for element in _dict(actions).values():
            value = _dict(element).get("value")
            if isinstance(block_id, str):
                found[block_id] = hide_key_values(_text(value))
    return found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
