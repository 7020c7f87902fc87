"""One request from Slack, read once at the boundary into a typed object.

Slack sends different shapes for a slash command (flat form fields), a button click or a
shortcut (`user`, `team`, `actions`… in a JSON payload), a modal submission (`view.state`)
and an event (`event`). Listeners get an `Interaction` instead of picking at dicts, and
every field is a string of the expected type or empty: a missing or odd field never raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.access import Requester


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
        return cls(
            user_id=_text(body.get("user_id")),
            team_id=_text(body.get("team_id")) or None,
            enterprise_id=_text(body.get("enterprise_id")) or None,
            channel_id=_text(body.get("channel_id")) or None,
            response_url=_text(body.get("response_url")),
            trigger_id=_text(body.get("trigger_id")),
            text=_text(body.get("text")),
            received_at=received_at or time.monotonic(),
        )

    @classmethod
    def from_payload(cls, body: dict[str, Any], received_at: float | None = None) -> Interaction:
        """A button click, a shortcut or a modal submission."""
        user = _dict(body.get("user"))
        action = _dict(next(iter(_list(body.get("actions"))), None))
        view = _dict(body.get("view"))
        message = _dict(body.get("message"))
        return cls(
            # Slack Connect: the person's own team, not the workspace the message lives in.
            user_id=_text(user.get("id")),
            team_id=_text(user.get("team_id")) or _text(_dict(body.get("team")).get("id")) or None,
            enterprise_id=_text(_dict(body.get("enterprise")).get("id")) or None,
            channel_id=_text(_dict(body.get("channel")).get("id")) or None,
            response_url=_text(body.get("response_url")),
            trigger_id=_text(body.get("trigger_id")),
            text=_text(message.get("text")),
            action_id=_text(action.get("action_id")),
            action_value=_text(action.get("value")),
            view_id=_text(view.get("id")),
            inputs=_inputs(view),
            received_at=received_at or time.monotonic(),
        )

    @classmethod
    def from_event(cls, body: dict[str, Any]) -> Interaction:
        event = _dict(body.get("event"))
        return cls(
            user_id=_text(event.get("user")),
            team_id=_text(body.get("team_id")) or None,
            enterprise_id=_text(body.get("enterprise_id")) or None,
        )


def _inputs(view: dict[str, Any]) -> dict[str, str]:
    """`view.state.values` → {block_id: the text typed}, for plain-text inputs."""
    found = {}
    for block_id, actions in _dict(_dict(view.get("state")).get("values")).items():
        for element in _dict(actions).values():
            value = _dict(element).get("value")
            if isinstance(block_id, str):
                found[block_id] = _text(value)
    return found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
