"""`render`: every answer (a lookup's outcome, help, a refusal, "looking up", an error) as the
Block Kit message the user sees, or plain text for a terminal.

Keys are put into words by `keys`, failures by `errors`, the structures come from `blocks`.
Anything from a user or from
Coveo goes through `inert` or `code` before it reaches mrkdwn (so it can never form a line,
emphasis, code span, link or mention of its own), and every
message stays inside Slack's limits (50 blocks, 3,000 characters a section).
"""

from __future__ import annotations

import math
from datetime import datetime

from bot.core.apikey import ApiKey, Care
from bot.core.buttons import KeyRef, PageRef
from bot.core.command import Help, Invalid, Problem
from bot.core.matching import MatchedBy
from bot.core.outcomes import Denied, Limited, Unexpected, Working
from bot.core.text import code, inert, shorten
from bot.coveo.results import Failed, Found, Listing, NotFound
from bot.replies.blocks import (
    DISMISS,
    MAX_BLOCKS,
    NO_BUTTONS,
    PAGE_NEXT,
    PAGE_PREVIOUS,
    SECTION_LIMIT,
    SHARE,
    Block,
    Controls,
    Reply,
    actions_block,
    button,
    context_block,
    new_reply,
    section,
)
from bot.replies.errors import failure_reply, invalid_reason, refusal_text
from bot.replies.keys import console_button, in_region, key_facts, key_name, warnings

MAX_KEYS_SHOWN = 10  # keys with their facts in one message; more are paged
LIST_PAGE = 100  # names and ids in one page of a listing
QUERY_ECHO = 120

USAGE = (
    "*Find the id of a Coveo API key*\n"
    "• `/apikeyid <org> <key name>`: the key(s) with that name (quotes optional; case and spacing "
    "don't matter; the description counts too)\n"
    "• `/apikeyid <org>`: every key of the organization, names and ids\n"
    "• `/apikeyid <org> …1b3e`: the key whose value ends with what the customer can see\n"
    "• `/apikeyid <org> <apiKeyId>`: the name and facts of a key you have the id of\n"
    "• `/apikeyid <org> is:exposed`: the keys that need care, most urgent first; also `is:disabled`, "
    "`is:expiring` (expired, or expiring within 30 days), `is:unused` (never used, or not for 90 days). "
    "Combine them, and with a name: `/apikeyid <org> is:exposed search`. "
    'To find a key named like one, quote it: `"is:exposed"`\n'
    "`<org>` is the organization id (lowercase letters and digits) or a pasted admin console URL. "
    "Only you see the answers; the key's secret value is never shown."
)


Answer = Help | Invalid | Found | NotFound | Listing | Failed | Denied | Limited | Working | Unexpected


def render(outcome: Answer, now: datetime, *, page: int = 0, controls: Controls = NO_BUTTONS) -> Reply:
    """The message for `outcome`; `page` picks which keys of a long answer it shows."""
    reply = _render(outcome, now, page, controls)
    if controls.dismiss and isinstance(outcome, Found | NotFound | Listing | Failed):
        reply = Reply(reply.text, [*reply.blocks, actions_block([_dismiss_button()])])
    return reply


def _render(outcome: Answer, now: datetime, page: int, controls: Controls) -> Reply:
    match outcome:
        case Help():
            return new_reply("How to use /apikeyid", [section(USAGE)])
        case Invalid(problem=Problem.UNKNOWN_QUALIFIER):
            return new_reply(invalid_reason(outcome), [])
        case Invalid():
            return new_reply(
                "That is not something I can look up.",
                [section(invalid_reason(outcome)), context_block("Type `/apikeyid help` for usage.")],
            )
        case Working(org=org, query=query, slack_slow=True):
            what = f"“{inert(shorten(query, QUERY_ECHO))}”" if query else "every API key"
            what = f"{what} in {code(org)}" if org else "your request"
            return new_reply(
                f"Looking up {what}… Slack is slow to confirm who you are; the answer follows here.", []
            )
        case Working(org=org, query=query):
            what = f"“{inert(shorten(query, QUERY_ECHO))}”" if query else "every API key"
            return new_reply(
                f"Looking up {what} in {code(org)}… Coveo is slow right now; the answer follows here.", []
            )
        case Found():
            return _found(outcome, now, page, controls)
        case NotFound():
            return _not_found(outcome)
        case Listing():
            return _listing(outcome, now, page, controls)
        case Failed():
            return failure_reply(outcome)
        case Denied():
            return new_reply(refusal_text(outcome), [])
        case Limited(retry_in=seconds):
            wait = max(1, math.ceil(seconds))
            return new_reply(f"You have asked a lot in a short time. Try again in {wait} seconds.", [])
        case Unexpected(reference=ref):
            return new_reply(
                "Something went wrong on my side and I could not finish this lookup. "
                f"Try again; if it keeps happening, give the bot's admin this reference: {code(ref)}.",
                [],
            )
    raise TypeError(f"no reply for {type(outcome).__name__}")


def _found(outcome: Found, now: datetime, page: int, controls: Controls) -> Reply:
    count = len(outcome.keys)
    asked = inert(shorten(outcome.query, QUERY_ECHO))
    if count == 1:
        key = outcome.keys[0]
        title = f"API key {code(key.id)} is “{key_name(key, 150)}”"
    else:
        title = f"{count} API keys match “{asked}” in {code(outcome.org)}"
    page, first, last = _page_bounds(page, count, MAX_KEYS_SHOWN)
    blocks: list[Block] = []
    if count > 1:
        blocks.append(section(f"*{title}*"))
    for key in outcome.keys[first:last]:
        share = KeyRef(outcome.org, outcome.region, key.id).encode() if controls.share else None
        blocks.append(_key_section(key, now, outcome.org, outcome.region, share))
    notes = []
    if count > MAX_KEYS_SHOWN:
        notes.append(f"Showing {first + 1}–{last} of {count}.")
        if not controls.paging:
            notes.append("Type a longer part of the name to narrow it down.")
    if outcome.how not in (MatchedBy.EXACT_NAME, MatchedBy.ID):
        notes.append(f"Matched by {MATCHED_BY_TEXT[outcome.how]}.")
    notes.append(
        f"Organization {code(outcome.org)}{in_region(outcome.region)}. The key's secret value is never shown."
    )
    blocks.append(context_block(" ".join(notes)))
    ref = PageRef(outcome.org, outcome.region, outcome.query, page)
    blocks += _paging(ref, first > 0 and controls.paging, last < count and controls.paging)
    return new_reply(title, blocks)


MATCHED_BY_TEXT = {
    MatchedBy.ID: "id",
    MatchedBy.VALUE_TAIL: "the end of the value",
    MatchedBy.EXACT_NAME: "exact name",
    MatchedBy.NAME_IGNORING_CASE: "name, ignoring case and spacing",
    MatchedBy.DESCRIPTION: "description",
    MatchedBy.CONTAINS: "name or description containing it",
}


def _key_section(key: ApiKey, now: datetime, org: str, region: str, share: str | None = None) -> Block:
    flags = warnings(key, now)
    head = f"*{key_name(key, 150)}*" + (f"   {' · '.join(flags)}" if flags else "")
    lines = _fit([head, f"*apiKeyId:* {code(key.id)}", *key_facts(key, now, org, region)])
    block = section("\n".join(lines))
    if share is not None:
        block = {"accessory": button("Share in channel", SHARE, value=share), **block}
    return block


# Lines given up first when a key's section would pass Slack's 3,000 characters (Coveo's text can
# be long): each becomes a short note, so no line (or link in it) is ever cut in the middle.
EXPENDABLE = ("*Description:*", "*IP ranges:*", "*Template:*", "*Privileges:*", "*Exposed:*", "*Status:*")


def _fit(lines: list[str]) -> list[str]:
    for label in EXPENDABLE:
        if len("\n".join(lines)) <= SECTION_LIMIT:
            break
        lines = [
            f"{label} too long to show here; see the API Keys page (Open in Coveo)."
            if line.startswith(label)
            else line
            for line in lines
        ]
    return lines


def _not_found(outcome: NotFound) -> Reply:
    asked = inert(shorten(outcome.query, QUERY_ECHO))
    title = f"No API key in {code(outcome.org)} is named “{asked}”."
    lines = [
        title,
        f"I looked at all {outcome.total} keys{in_region(outcome.region)}: names, descriptions, ids and value endings.",
    ]
    if outcome.suggestions:
        lines.append(
            "Did you mean: " + ", ".join(f"“{inert(shorten(s, 80))}”" for s in outcome.suggestions) + "?"
        )
    lines.append(f"`/apikeyid {inert(outcome.org)}` lists every key.")
    return new_reply(title, [section("\n".join(lines))])


CARE_WORDS = {
    Care.EXPOSED: "exposed",
    Care.DISABLED: "disabled",
    Care.EXPIRING: "expired or expiring within 30 days",
    Care.UNUSED: "unused (never, or not for 90 days)",
}


def _listing(outcome: Listing, now: datetime, page: int, controls: Controls) -> Reply:
    total = len(outcome.keys)
    where = f"{code(outcome.org)}{in_region(outcome.region)}"
    if outcome.care:
        keys = outcome.keys  # already most urgent first
        named = f" matching “{inert(shorten(outcome.name, QUERY_ECHO))}”" if outcome.name else ""
        what = " and ".join(CARE_WORDS[c] for c in outcome.care)
        title = (
            f"{total} of {outcome.total} API key{'s' if outcome.total != 1 else ''} in {where}{named} "
            f"{'is' if total == 1 else 'are'} {what}"
        )
    else:
        keys = sorted(outcome.keys, key=lambda k: (k.folded_name, k.id))
        title = f"{total} API key{'s' if total != 1 else ''} in {where}"
    ref = PageRef(outcome.org, outcome.region, outcome.query, page)
    if not keys:
        return new_reply(title, [section(f"*{title}*."), *_paging(ref, False, False)])
    page, first, last = _page_bounds(page, total, LIST_PAGE)
    blocks: list[Block] = [section(f"*{title}*")]
    chunk: list[str] = []
    size = 0
    shown = first
    for key in keys[first:last]:
        line = f"{code(key.id)}  {key_name(key, 100)}"
        if outcome.care:
            line += "  " + " · ".join(warnings(key, now))
        elif key.disabled:
            line += " ⛔"
        if size + len(line) + 1 > SECTION_LIMIT - 100:
            if len(blocks) >= MAX_BLOCKS - 4:
                break
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
        shown += 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    order = "most urgent first" if outcome.care else "by name"
    note = (
        ""
        if outcome.care
        else ("⛔ marks disabled keys." if any(k.disabled for k in keys[first:shown]) else "")
    )
    if first > 0 or shown < total:
        more = "" if controls.paging else " Add a name to narrow it down."
        note = f"Showing {first + 1}–{shown} of {total}, {order}.{more} " + note
    elif outcome.care:
        note = "Most urgent first. Type `/apikeyid <org> <name>` for a key's details."
    if note:
        blocks.append(context_block(note.strip()))
    page_ref = PageRef(ref.org, ref.region, ref.query, page)
    blocks += _paging(page_ref, first > 0 and controls.paging, shown < total and controls.paging)
    return new_reply(title, blocks)


def _page_bounds(page: int, total: int, size: int) -> tuple[int, int, int]:
    """The page actually shown (a page past the end shows the last one) and its slice."""
    last_page = max(0, (total - 1) // size)
    page = min(max(page, 0), last_page)
    return page, page * size, min(total, (page + 1) * size)


def _paging(ref: PageRef, previous: bool, following: bool) -> list[Block]:
    """The answer's last actions: Open in Coveo (a link, always), then ‹ Previous and Next ›."""
    buttons = [console_button(ref.region, ref.org)]
    if previous:
        value = PageRef(ref.org, ref.region, ref.query, ref.page - 1).encode()
        if value is not None:
            buttons.append(button("‹ Previous", PAGE_PREVIOUS, value=value))
    if following:
        value = PageRef(ref.org, ref.region, ref.query, ref.page + 1).encode()
        if value is not None:
            buttons.append(button("Next ›", PAGE_NEXT, value=value))
    return [actions_block(buttons)]


def _dismiss_button() -> Block:
    return button("Dismiss", DISMISS, value="dismiss")
