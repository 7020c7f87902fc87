"""The Slack structures every reply is made of: a reply (text and Block Kit blocks), its buttons,
the ids of those buttons, and the limits Slack sets on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.text import shorten, unescape_slack

MAX_BLOCKS = 50


SECTION_LIMIT = 3000


# Action ids of the buttons, matched by the listeners.
SHARE = "apikeyid_share"


PAGE_NEXT = "apikeyid_page_next"


PAGE_PREVIOUS = "apikeyid_page_previous"


DISMISS = "apikeyid_dismiss"


OPEN_LOOKUP = "apikeyid_open_lookup"


OPEN_CONSOLE = "apikeyid_open_console"  # a link button: Slack still sends the click, which is acked


@dataclass(frozen=True)
class Controls:
    """Which buttons an answer carries: none in the terminal, no Share or Dismiss in a modal."""

    share: bool = False
    dismiss: bool = False
    paging: bool = False


NO_BUTTONS = Controls()


MESSAGE_BUTTONS = Controls(share=True, dismiss=True, paging=True)


MODAL_BUTTONS = Controls(paging=True)


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_slack(self) -> dict[str, Any]:
        message: dict[str, Any] = {"response_type": "ephemeral", "text": self.text}
        if self.blocks:
            message["blocks"] = self.blocks
        return message

    def to_plain(self) -> str:
        """The reply as a terminal shows it: text only, mrkdwn markers and Slack escapes removed."""
        parts = []
        for block in self.blocks or [{"type": "section", "text": {"text": self.text}}]:
            if block.get("type") == "section":
                parts.append(block["text"]["text"])
            elif block.get("type") == "context":
                parts.extend(element.get("text", "") for element in block["elements"])
            elif block.get("type") == "actions":
                parts.extend(
                    f"{element['text']['text']}: {element['url']}"
                    for element in block["elements"]
                    if element.get("url")
                )
        return plain("\n\n".join(parts))


def plain(text: str) -> str:
    """Answer text for a terminal or JSON: no mrkdwn emphasis, the bot's links as their URL, escapes
    undone, and no control character but the newline (an ESC or CR could rewrite the terminal)."""
    text = _LINK.sub(lambda m: m.group(1).replace("&amp;", "&"), text)
    return _CONTROL.sub("", unescape_slack(re.sub(r"\*([^*\n]+)\*", r"\1", text)))


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # C0 but the newline, DEL, C1


_LINK = re.compile(r"<(https?://[^|>\s]+)\|[^>]*>")  # only the bot forms these (`safe_link`)


def button(
    text: str, action_id: str, *, value: str | None = None, url: str | None = None, style: str | None = None
) -> Block:
    """A button: `value` comes back with the click; `url` makes it a link. Its text (at most 75
    characters), value (2,000) and URL (3,000) stay within Slack's limits by construction."""
    element: Block = {"action_id": action_id}
    if style:
        element["style"] = style
    if text:
        element["text"] = {"emoji": True, "text": text, "type": "plain_text"}
    element["type"] = "button"
    if url:
        element["url"] = url
    if value:
        element["value"] = value
    return element


def actions_block(elements: list[Block]) -> Block:
    return {"elements": elements, "type": "actions"} if elements else {"type": "actions"}


# Blocks are built as the JSON Slack reads, the dicts slack_sdk's block models would give from
# `to_dict()` (keys in its order, empty fields left out; tests/test_replies.py compares them).
# Those models cost two thirds of rendering an answer (validating and walking every attribute of
# every object on each `to_dict`), for limits the bot's own text and values are built within.
Block = dict[str, Any]


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not turn bare URLs, @here or #channel in Coveo's text into live links.
    return (
        {"text": text, "type": "mrkdwn", "verbatim": True} if text else {"type": "mrkdwn", "verbatim": True}
    )


def section(text: str) -> Block:
    return {"text": _mrkdwn(shorten(text, SECTION_LIMIT)), "type": "section"}


def context_block(text: str) -> Block:
    return {"elements": [_mrkdwn(shorten(text, 2000))], "type": "context"}


def new_reply(text: str, blocks: list[Block]) -> Reply:
    # `text` is the notification and screen-reader fallback; Slack caps it well above this. A
    # reply of one sentence still gets a (verbatim) block: a bare `text` is not verbatim, and
    # Slack would link a URL or @here in the user's own words it echoes.
    return Reply(text=shorten(text, 3000), blocks=(blocks or [section(text)])[:MAX_BLOCKS])
