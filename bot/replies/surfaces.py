"""Replies to clicks, the lookup modal, the Home tab, and the public copy Share in channel posts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.apikey import ApiKey
from bot.core.command import Invalid, Problem, org_and_region
from bot.core.outcomes import Denied
from bot.core.text import code, inert, shorten
from bot.replies.blocks import (
    MAX_BLOCKS,
    NO_BUTTONS,
    OPEN_LOOKUP,
    Block,
    Controls,
    Reply,
    actions_block,
    button,
    context_block,
    new_reply,
    section,
)
from bot.replies.errors import invalid_reason, refusal_text
from bot.replies.keys import in_region, key_name
from bot.replies.messages import USAGE, Answer, render

LOOKUP_VIEW = "apikeyid_lookup"  # callback id of the lookup modal
ORG_BLOCK, ORG_INPUT = "org", "org_input"
NAME_BLOCK, NAME_INPUT = "name", "name_input"
MODAL_TITLE = "API key lookup"
MAX_INITIAL_ORG = 150


def shared_copy(key: ApiKey, org: str, region: str, user_id: str) -> dict[str, Any]:
    """The public copy of one key Share in channel posts: name, id, status and org, never more."""
    status = key.status or ("DISABLED" if key.disabled else "ENABLED" if key.enabled else "unknown")
    by = f"<@{user_id}>" if _SLACK_USER_ID.match(user_id) else "someone"
    text = "\n".join(
        [
            f"*{key_name(key, 150)}*",
            f"*apiKeyId:* {code(key.id)}",
            f"*Status:* {inert(status)} · *Organization:* {code(org)}{in_region(region)}",
        ]
    )
    reply = new_reply(
        f"API key {code(key.id)} is “{key_name(key, 150)}”",
        [
            section(text),
            context_block(f"Shared by {by} with /apikeyid. The key's secret value is never shown."),
        ],
    )
    return reply.to_slack() | {"response_type": "in_channel", "replace_original": False}


def share_confirmation(key: ApiKey) -> dict[str, Any]:
    text = f"Shared “{key_name(key, 150)}” ({code(key.id)}) in the channel."
    return new_reply(text, [section(text)]).to_slack() | {"replace_original": True}


def sharing_off() -> Reply:
    return _notice("Sharing answers in channels is turned off for this bot.")


def key_gone(key_id: str, org: str) -> Reply:
    return _notice(f"The key {code(key_id)} is no longer in {code(org)}, so there is nothing to share.")


def tampered_button() -> Reply:
    return _notice("That button's data is not valid, so I did nothing. Run the command again.")


def not_in_modal() -> Reply:
    return _notice("That button works only in a message.")


def dismissed() -> dict[str, Any]:
    return {"delete_original": True}


def _notice(text: str) -> Reply:
    """A short answer to a click, one section."""
    return new_reply(text, [section(text)])


def lookup_modal(org: str = "", name: str = "") -> dict[str, Any]:
    """The modal the shortcuts and the Home tab open: an organization and a key name."""
    org_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ORG_INPUT,
        "max_length": 2000,
        "placeholder": _plain("mycoveoorganization8tp8wu3 or an admin console URL"),
    }
    if org:
        # A console URL too long to show whole is replaced by the org id it holds: a URL cut
        # short may lose the id.
        org_input["initial_value"] = org if len(org) <= MAX_INITIAL_ORG else (org_and_region(org)[0] or "")
    name_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": NAME_INPUT,
        "max_length": 2000,
        "placeholder": _plain("Push source key, …1b3e, or an apiKeyId"),
    }
    if name:
        name_input["initial_value"] = shorten(name, 2000)
    return {
        "type": "modal",
        "callback_id": LOOKUP_VIEW,
        "title": _plain(MODAL_TITLE),
        "submit": _plain("Look up"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": ORG_BLOCK, "label": _plain("Organization"), "element": org_input},
            {
                "type": "input",
                "block_id": NAME_BLOCK,
                "optional": True,
                "label": _plain("API key name"),
                "hint": _plain(
                    "Leave empty to list every key of the organization. "
                    "is:exposed, is:disabled, is:expiring or is:unused list the keys that need care."
                ),
                "element": name_input,
            },
        ],
    }


def modal_errors(invalid: Invalid) -> dict[str, Any]:
    """`response_action: errors` for a lookup modal whose organization is not one."""
    block = NAME_BLOCK if invalid.problem is Problem.UNKNOWN_QUALIFIER else ORG_BLOCK
    return {
        "response_action": "errors",
        "errors": {block: shorten(Reply(invalid_reason(invalid)).to_plain(), 150)},
    }


def answer_modal(reply: Reply) -> dict[str, Any]:
    """A lookup modal updated with its answer (the same blocks a message shows)."""
    blocks = reply.blocks or [section(reply.text)]
    return {
        "type": "modal",
        "callback_id": LOOKUP_VIEW,
        "title": _plain(MODAL_TITLE),
        "close": _plain("Done"),
        "blocks": blocks[:MAX_BLOCKS],
    }


def modal_of(outcome: Answer, controls: Controls = NO_BUTTONS) -> dict[str, Any]:
    """The lookup modal showing `outcome`: an answer, a refusal, "looking up", an error."""
    return answer_modal(render(outcome, datetime.now(UTC), controls=controls))


@dataclass(frozen=True)
class RegionAccess:
    """The regions the bot serves, and those this person may not ask (their own user groups)."""

    served: tuple[str, ...]
    closed: frozenset[str]


def home_view(refusal: Denied | None, regions: RegionAccess | None = None) -> dict[str, Any]:
    """The Home tab: what the bot does, how to ask, whether this person may (and in which
    regions, when some have their own user groups), and a way in."""
    access = "✅ You may use it." if refusal is None else f"🚫 {refusal_text(refusal)}"
    if refusal is None and regions is not None:
        open_to = [r.upper() for r in regions.served if r not in regions.closed]
        shut = [r.upper() for r in regions.served if r in regions.closed]
        access += f" Regions you may ask: {', '.join(open_to) or 'none'}."
        if shut:
            access += (
                f" Not {', '.join(shut)}: only members of {'its' if len(shut) == 1 else 'their'} own "
                "Slack user groups may ask there."
            )
    blocks: list[Block] = [
        section(
            "*apikeyid* finds the id (the apiKeyId) of a Coveo API key by its name, with the facts "
            "you need to act on it, visible to you alone."
        ),
        section(USAGE),
        section(
            "*Which keys need care?* `/apikeyid <org> is:exposed` lists the keys Coveo found exposed "
            "(on GitHub, or reported), most severe first; `is:expiring` the expired ones and those expiring "
            "within 30 days; `is:disabled` and `is:unused` the rest of the clean-up. Each answer says what "
            "to do, links to the organization's API Keys page in its region, and gives the REST request "
            "that reads the key."
        ),
        section(
            "In a thread, use the message shortcut *Look up this org's key* (⋮ on a message): it "
            "picks up an organization id or admin console URL from the message."
        ),
        section(access),
    ]
    if refusal is None:
        blocks.append(
            actions_block([button("Look up an API key", OPEN_LOOKUP, value="open", style="primary")])
        )
    return {"type": "home", "blocks": blocks}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
