"""Every user-facing sentence of the bot, and the Slack structures that carry them.

`messages`: each outcome of a lookup (and help, refusals, errors) as a Block Kit message, or as
plain text for the terminal. `surfaces`: clicks, the lookup modal, the Home tab and the public
copy Share posts. `admin`: what `python -m bot check` and `lookup` print for the bot's admin.
Anything from a user or from Coveo goes through `bot.text.inert` or `code` on its way in.
"""

from __future__ import annotations

from bot.core.outcomes import Denied, Limited, Unexpected, Working
from bot.replies.audit_lines import audit_channel_line
from bot.replies.messages import (
    DISMISS,
    MESSAGE_BUTTONS,
    MODAL_BUTTONS,
    NO_BUTTONS,
    OPEN_CONSOLE,
    OPEN_LOOKUP,
    PAGE_NEXT,
    PAGE_PREVIOUS,
    SHARE,
    Controls,
    Outcome,
    Reply,
    error_text,
    invalid_reason,
    render,
)
from bot.replies.surfaces import (
    LOOKUP_VIEW,
    NAME_BLOCK,
    ORG_BLOCK,
    RegionAccess,
    answer_modal,
    dismissed,
    home_view,
    key_gone,
    lookup_modal,
    modal_errors,
    modal_of,
    not_in_modal,
    replaced,
    share_confirmation,
    shared_copy,
    sharing_off,
    tampered_button,
)

__all__ = [
    "DISMISS",
    "LOOKUP_VIEW",
    "MESSAGE_BUTTONS",
    "MODAL_BUTTONS",
    "NAME_BLOCK",
    "NO_BUTTONS",
    "OPEN_CONSOLE",
    "OPEN_LOOKUP",
    "ORG_BLOCK",
    "PAGE_NEXT",
    "PAGE_PREVIOUS",
    "SHARE",
    "Controls",
    "Denied",
    "Limited",
    "Outcome",
    "RegionAccess",
    "Reply",
    "Unexpected",
    "Working",
    "answer_modal",
    "audit_channel_line",
    "dismissed",
    "error_text",
    "home_view",
    "invalid_reason",
    "key_gone",
    "lookup_modal",
    "modal_errors",
    "modal_of",
    "not_in_modal",
    "render",
    "replaced",
    "share_confirmation",
    "shared_copy",
    "sharing_off",
    "tampered_button",
]
