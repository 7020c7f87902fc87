"""Every outcome of a lookup, as the Block Kit message the user sees (or plain text for a terminal).

This is the one place where errors become user text. Anything from a user or from
Coveo goes through `inert` or `code` before it reaches mrkdwn (so it can never form a line,
emphasis, code span, link or mention of its own), and every
message stays inside Slack's limits (50 blocks, 3,000 characters a section).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.access import Refusal
from bot.apikey import ApiKey
from bot.buttons import KeyRef, PageRef
from bot.command import Help, Invalid, Problem
from bot.coveo import (
    BadResponse,
    CoveoError,
    CoveoTimeout,
    CoveoUnavailable,
    NotAllowed,
    OrganizationNotFound,
    ResponseTooLarge,
    Throttled,
    TokenRejected,
)
from bot.lookup import Failed, Found, Listing, NotFound, RegionError
from bot.matching import MatchedBy
from bot.settings import REGIONS, SINGLE_TOKEN_VARIABLE
from bot.text import code, inert, shorten, unescape_slack

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
MAX_KEYS_SHOWN = 10  # keys with their facts in one message; more are paged
LIST_PAGE = 100  # names and ids in one page of a listing
# Action ids of the buttons, matched by the listeners.
SHARE = "apikeyid_share"
PAGE_NEXT = "apikeyid_page_next"
PAGE_PREVIOUS = "apikeyid_page_previous"
DISMISS = "apikeyid_dismiss"
OPEN_LOOKUP = "apikeyid_open_lookup"
MAX_PRIVILEGES_SHOWN = 8
QUERY_ECHO = 120

USAGE = (
    "*Find the id of a Coveo API key*\n"
    "• `/apikeyid <org> <key name>`: the key(s) with that name (quotes optional; case and spacing "
    "don't matter; the description counts too)\n"
    "• `/apikeyid <org>`: every key of the organization, names and ids\n"
    "• `/apikeyid <org> …1b3e`: the key whose value ends with what the customer can see\n"
    "• `/apikeyid <org> <apiKeyId>`: the name and facts of a key you have the id of\n"
    "`<org>` is the organization id (lowercase letters and digits) or a pasted admin console URL. "
    "Only you see the answers; the key's secret value is never shown."
)


@dataclass(frozen=True)
class Denied:
    reason: Refusal
    groups: frozenset[str] = frozenset()  # the allowed user groups, to say whom to ask


@dataclass(frozen=True)
class Limited:
    retry_in: float


@dataclass(frozen=True)
class Working:
    """The interim answer while Coveo is asked."""

    org: str
    query: str | None


@dataclass(frozen=True)
class Unexpected:
    """A bug on our side; the user still gets an answer, the details go to the log."""

    reference: str


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
        text = "\n\n".join(parts)
        return unescape_slack(re.sub(r"\*([^*\n]+)\*", r"\1", text))


Outcome = Help | Invalid | Found | NotFound | Listing | Failed | Denied | Limited | Working | Unexpected


def render(outcome: Outcome, now: datetime, *, page: int = 0, controls: Controls = NO_BUTTONS) -> Reply:
    """The message for `outcome`; `page` picks which keys of a long answer it shows."""
    reply = _render(outcome, now, page, controls)
    if controls.dismiss and isinstance(outcome, Found | NotFound | Listing | Failed):
        reply = Reply(reply.text, [*reply.blocks, actions_block([_dismiss_button()]).to_dict()])
    return reply


def _render(outcome: Outcome, now: datetime, page: int, controls: Controls) -> Reply:
    match outcome:
        case Help():
            return new_reply("How to use /apikeyid", [section(USAGE)])
        case Invalid():
            return new_reply(
                "That is not something I can look up.",
                [section(invalid_reason(outcome)), context_block("Type `/apikeyid help` for usage.")],
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
            return _listing(outcome, page, controls)
        case Failed():
            return _failed(outcome)
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


ORG_SHAPE = (
    "An organization id is lowercase letters and digits, like `mycoveoorganization8tp8wu3` "
    "(in the Coveo admin console: Settings → Organization → Information). "
    "You can also paste the admin console URL."
)


def invalid_reason(invalid: Invalid) -> str:
    shown = inert(shorten(invalid.token, 60))
    match invalid.problem:
        case Problem.UPPERCASE:
            return f"Organization ids are lowercase: did you mean {code(invalid.token.lower())}? {ORG_SHAPE}"
        case Problem.NO_ORG_IN_LINK:
            return f"I could not find an organization id in that link ({shown}). {ORG_SHAPE}"
        case Problem.NOT_AN_ORG:
            return f"“{shown}” is not a Coveo organization id. {ORG_SHAPE}"
    raise TypeError(f"no text for {invalid.problem}")


def refusal_text(denied: Denied) -> str:
    match denied.reason:
        case Refusal.NOT_LISTED:
            return f"You are not on the list of people who may use /apikeyid. {_who_to_ask(denied.groups)}"
        case Refusal.OTHER_WORKSPACE:
            return "/apikeyid answers only members of the workspace it is installed in; it cannot answer people from other workspaces."
        case Refusal.GUEST:
            return "Guests of this workspace cannot use /apikeyid; ask a full member of the support team."
        case Refusal.DEACTIVATED:
            return "Deactivated accounts cannot use /apikeyid."
        case Refusal.BOT_USER:
            return "Bots and apps cannot use /apikeyid."
        case Refusal.UNVERIFIED:
            return "I could not confirm with Slack who you are, so I cannot answer. Try again in a minute."
        case Refusal.BOT_IDENTITY_UNKNOWN:
            return (
                "I cannot answer anyone yet: Slack has not confirmed which workspace I belong to. "
                "Try again in a minute; if it keeps happening, tell the bot's admin."
            )
    raise TypeError(f"no text for {denied.reason}")


def _who_to_ask(groups: frozenset[str]) -> str:
    if groups:
        # Inside an ephemeral message a group mention shows its name and notifies nobody.
        names = ", ".join(f"<!subteam^{g}>" for g in sorted(groups))
        return (
            f"Members of {names} may use it: ask a lead of one of these groups or the bot's admin to add you."
        )
    return "Ask the bot's admin to add your Slack id to APIKEYID_ALLOWED_USERS."


def key_facts(key: ApiKey, now: datetime) -> list[str]:
    """One line per fact a support engineer acts on, as mrkdwn."""
    status = key.status or ("ENABLED" if key.enabled else "DISABLED" if key.enabled is False else "unknown")
    enabled = {True: "yes", False: "no", None: "unknown"}[key.enabled]
    lines = [
        f"*Status:* {inert(status)} · *Enabled:* {enabled}",
        f"*Created:* {_when(key.created, now)} · *Last used:* {_when(key.last_used, now, never='never')}"
        f" · *Expires:* {_when(key.expires, now, never='never')}",
        f"*Privileges:* {privilege_summary(key)}",
    ]
    restrictions = []
    if key.allowed_ips:
        restrictions.append(f"{key.allowed_ips} allowed IP range(s)")
    if key.denied_ips:
        restrictions.append(f"{key.denied_ips} denied IP range(s)")
    if key.template_id:
        restrictions.append(f"template {code(shorten(key.template_id, 80))}")
    if restrictions:
        lines.append("*Also:* " + ", ".join(restrictions))
    if key.description:
        lines.append(f"*Description:* {inert(shorten(key.description, 300))}")
    return lines


def warnings(key: ApiKey, now: datetime) -> list[str]:
    flags = []
    if key.exposed:
        flags.append("🚨 exposed: found in a public place, rotate it")
    if key.disabled:
        flags.append("⛔ disabled")
    if key.expired(now):
        flags.append("⌛ expired")
    return flags


def privilege_summary(key: ApiKey) -> str:
    if not key.privileges:
        return "none"
    shown = [inert(p.summary()) for p in key.privileges[:MAX_PRIVILEGES_SHOWN]]
    more = len(key.privileges) - len(shown)
    text = f"{len(key.privileges)}: " + "; ".join(shown) + (f"; +{more} more" if more else "")
    return shorten(text, 1200)


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
        blocks.append(_key_section(key, now, share))
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
    if controls.paging:
        blocks += _paging(PageRef(outcome.org, outcome.region, outcome.query, page), first > 0, last < count)
    return new_reply(title, blocks)


MATCHED_BY_TEXT = {
    MatchedBy.ID: "id",
    MatchedBy.VALUE_TAIL: "the end of the value",
    MatchedBy.EXACT_NAME: "exact name",
    MatchedBy.NAME_IGNORING_CASE: "name, ignoring case and spacing",
    MatchedBy.DESCRIPTION: "description",
    MatchedBy.CONTAINS: "name or description containing it",
}


def _key_section(key: ApiKey, now: datetime, share: str | None = None) -> SectionBlock:
    flags = warnings(key, now)
    head = f"*{key_name(key, 150)}*" + (f"   {' · '.join(flags)}" if flags else "")
    text = "\n".join([head, f"*apiKeyId:* {code(key.id)}", *key_facts(key, now)])
    block = section(text)
    if share is not None:
        block.accessory = ButtonElement(text="Share in channel", action_id=SHARE, value=share)
    return block


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


def _listing(outcome: Listing, page: int, controls: Controls) -> Reply:
    keys = sorted(outcome.keys, key=lambda k: (k.folded_name, k.id))
    total = len(keys)
    title = f"{total} API key{'s' if total != 1 else ''} in {code(outcome.org)}{in_region(outcome.region)}"
    if not keys:
        return new_reply(title, [section(f"*{title}*.")])
    page, first, last = _page_bounds(page, total, LIST_PAGE)
    blocks: list[Block] = [section(f"*{title}*")]
    chunk: list[str] = []
    size = 0
    shown = first
    for key in keys[first:last]:
        line = f"{code(key.id)}  {key_name(key, 100)}"
        if key.disabled:
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
    note = "⛔ marks disabled keys." if any(k.disabled for k in keys[first:shown]) else ""
    if first > 0 or shown < total:
        more = "" if controls.paging else " Add a name to narrow it down."
        note = f"Showing {first + 1}–{shown} of {total}, by name.{more} " + note
    if note:
        blocks.append(context_block(note.strip()))
    if controls.paging:
        blocks += _paging(PageRef(outcome.org, outcome.region, None, page), first > 0, shown < total)
    return new_reply(title, blocks)


def _page_bounds(page: int, total: int, size: int) -> tuple[int, int, int]:
    """The page actually shown (a page past the end shows the last one) and its slice."""
    last_page = max(0, (total - 1) // size)
    page = min(max(page, 0), last_page)
    return page, page * size, min(total, (page + 1) * size)


def _paging(ref: PageRef, previous: bool, following: bool) -> list[Block]:
    buttons = []
    if previous:
        value = PageRef(ref.org, ref.region, ref.query, ref.page - 1).encode()
        if value is not None:
            buttons.append(ButtonElement(text="‹ Previous", action_id=PAGE_PREVIOUS, value=value))
    if following:
        value = PageRef(ref.org, ref.region, ref.query, ref.page + 1).encode()
        if value is not None:
            buttons.append(ButtonElement(text="Next ›", action_id=PAGE_NEXT, value=value))
    return [actions_block(buttons)] if buttons else []


def _dismiss_button() -> ButtonElement:
    return ButtonElement(text="Dismiss", action_id=DISMISS, value="dismiss")


def actions_block(elements: list[ButtonElement]) -> ActionsBlock:
    return ActionsBlock(elements=elements)


def in_region(region: str) -> str:
    return f" ({region.upper()} region)" if region else ""


def _failed(outcome: Failed) -> Reply:
    if len(outcome.asked) > 1:
        text = _nowhere(outcome.org, outcome.asked)
    else:
        variable = outcome.asked[0].token_variable if outcome.asked else SINGLE_TOKEN_VARIABLE
        text = error_text(outcome.error, outcome.org, outcome.region, variable)
    if outcome.unserved_hint:
        hint = outcome.unserved_hint.upper()
        text += (
            f"\nThe link you pasted is for the *{hint}* region, which the bot has no token for: "
            f"the bot's admin can add one in `COVEO_ACCESS_TOKEN_{hint}`."
        )
    if outcome.similar_orgs:
        names = ", ".join(
            code(o.id)
            + " ("
            + (f"{inert(shorten(o.display_name, 60))}, " if o.display_name else "")
            + f"{o.region.upper() or '?'})"
            for o in outcome.similar_orgs
        )
        text += f"\nDid you mean {names}?"
    blocks: list[Block] = [section(text)]
    if outcome.error.request_id:
        blocks.append(
            context_block(
                f"Coveo request id {code(shorten(outcome.error.request_id, 100))} (for a support ticket)."
            )
        )
    return new_reply(text, blocks)


def _nowhere(org: str, asked: tuple[RegionError, ...]) -> str:
    """No region of several had the org: name each one, and why when it is not a plain "unknown"."""
    names = ", ".join(a.region.upper() for a in asked)
    unserved = [r.upper() for r in REGIONS if r not in {a.region for a in asked}]
    out_of_reach = (
        f" The bot has no token for {', '.join(unserved)}: organizations there are out of its reach."
        if unserved
        else ""
    )
    if all(a.plain_not_found for a in asked):
        return f"Coveo knows no organization {code(org)} in any region the bot serves ({names}). Check the id.{out_of_reach}"
    lines = [f"I could not get the API keys of {code(org)} from any region the bot serves ({names}):"]
    for a in asked:
        reason = (
            "no such organization."
            if a.plain_not_found
            else error_text(a.error, org, a.region, a.token_variable)
        )
        lines.append(f"• *{a.region.upper()}*: {reason}")
    return "\n".join(lines) + ("\n" + out_of_reach.strip() if out_of_reach else "")


def error_text(error: CoveoError, org: str, region: str, token_variable: str = SINGLE_TOKEN_VARIABLE) -> str:
    """What went wrong in `region` and what to do, for each kind of Coveo failure."""
    org_code = code(org)
    where = f"*{region.upper()}*"
    if isinstance(error, TokenRejected):
        return (
            f"Coveo rejected the bot's access token for the {where} region: it has expired or was revoked. "
            f"Ask the bot's admin to rotate `{token_variable}` (see the README, “Coveo token”)."
        )
    if isinstance(error, NotAllowed):
        return (
            f"The bot's Coveo service user may not view the API keys of {org_code} in the {where} region. "
            "Ask an administrator of that organization to grant it the API key *View* privilege "
            "(PLATFORM / API_KEY / VIEW), or check that the id is right."
        )
    if isinstance(error, OrganizationNotFound):
        return (
            f"Coveo knows no organization {org_code} in the {where} region. Check the id; if the organization "
            "lives in another region, the bot's admin must add that region's token (`COVEO_ACCESS_TOKEN_<REGION>`)."
        )
    if isinstance(error, Throttled):
        wait = max(5, math.ceil(error.retry_after or 30))
        return f"Coveo is throttling requests in the {where} region right now. Try again in {wait} seconds."
    if isinstance(error, CoveoTimeout):
        return f"Coveo's {where} region did not answer in time. Try again in 30 seconds; if it keeps happening, check status.cloud.coveo.com."
    if isinstance(error, CoveoUnavailable):
        status = f" (HTTP {error.status})" if error.status else ""
        return f"Coveo's {where} region is unavailable right now{status}. Try again in 30 seconds; if it keeps happening, check status.cloud.coveo.com."
    if isinstance(error, ResponseTooLarge):
        return (
            f"Coveo's list of the API keys of {org_code} is larger than the bot accepts, so I could not read it. "
            "Tell the bot's admin."
        )
    if isinstance(error, BadResponse):
        return "Coveo sent an answer I could not read. Try again in a minute; if it keeps happening, tell the bot's admin."
    return "The lookup failed. Try again in a minute; if it keeps happening, tell the bot's admin."


def _when(moment: datetime | None, now: datetime, never: str = "unknown") -> str:
    if moment is None:
        return never
    return moment.strftime("%Y-%m-%d %H:%M UTC") + f" ({_ago(moment, now)})"


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            n = int(seconds // size)
            span = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {span}" if future else f"{span} ago"
    return "just now"


def key_name(key: ApiKey, limit: int) -> str:
    return inert(shorten(key.display_name or "(no name)", limit))


def section(text: str) -> SectionBlock:
    # verbatim: Slack must not turn bare URLs, @here or #channel in Coveo's text into live links.
    return SectionBlock(text=MarkdownTextObject(text=shorten(text, SECTION_LIMIT), verbatim=True))


def context_block(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=shorten(text, 2000), verbatim=True)])


def new_reply(text: str, blocks: list[Block]) -> Reply:
    # `text` is the notification and screen-reader fallback; Slack caps it well above this. A
    # reply of one sentence still gets a (verbatim) block: a bare `text` is not verbatim, and
    # Slack would link a URL or @here in the user's own words it echoes.
    return Reply(
        text=shorten(text, 3000), blocks=[b.to_dict() for b in (blocks or [section(text)])[:MAX_BLOCKS]]
    )


def audit_channel_line(audit: dict[str, Any]) -> str:
    """One short line per command for the security team's channel: who, which org and name,
    what happened, which keys. Built from the audit record, which holds no secret."""
    parts = [f"/apikeyid by {code(str(audit.get('user_id') or '?'))}"]
    if audit.get("org"):
        parts.append(f"org {code(str(audit['org']))}")
    if audit.get("query"):
        parts.append(f"“{inert(shorten(str(audit['query']), QUERY_ECHO))}”")
    outcome = str(audit.get("outcome") or "unknown")
    detail = audit.get("refusal") or audit.get("error")
    parts.append(inert(f"{outcome} ({detail})" if detail else outcome))
    key_ids = audit.get("key_ids") or []
    if key_ids:
        shown = ", ".join(code(str(k)) for k in key_ids[:MAX_KEYS_SHOWN])
        more = len(key_ids) - MAX_KEYS_SHOWN
        parts.append(f"keys {shown}" + (f" +{more} more" if more > 0 else ""))
    return shorten(" · ".join(parts), SECTION_LIMIT)


def audit_channel_summary(user_id: str, counts: dict[str, int], seconds: float) -> str:
    """The audit channel's one line for a person's further refusals and limits over a minute."""
    total = sum(counts.values())
    each = ", ".join(f"{inert(what)} ×{n}" for what, n in sorted(counts.items(), key=lambda c: -c[1]))
    span = f"{round(seconds)} s"
    return shorten(
        f"/apikeyid by {code(user_id)} · {total} more refused or limited in {span}: {each}", SECTION_LIMIT
    )
