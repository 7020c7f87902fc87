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
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.apikey import EXPIRING_WITHIN, ApiKey, Care, ExposureReason, Privilege, Status
from bot.core.buttons import KeyRef, PageRef
from bot.core.command import QUALIFIERS, Help, Invalid, Problem
from bot.core.matching import MatchedBy
from bot.core.outcomes import Denied, Limited, Refusal, Unexpected, Working
from bot.core.regions import REGION_URLS, REGIONS, SINGLE_TOKEN_VARIABLE
from bot.core.text import code, inert, shorten, unescape_slack
from bot.coveo.errors import (
    BadGateway,
    BadResponse,
    Blocked,
    ClientFailure,
    CoveoError,
    CoveoTimeout,
    CoveoUnavailable,
    ErrorPage,
    NotAllowed,
    OrganizationNotFound,
    RegionClosed,
    ResponseTooLarge,
    Throttled,
    TokenRejected,
)
from bot.coveo.results import Failed, Found, Listing, NotFound, RegionError

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
OPEN_CONSOLE = "apikeyid_open_console"  # a link button: Slack still sends the click, which is acked
MAX_PRIVILEGES_SHOWN = 8
MAX_IPS_SHOWN = 5  # per list (allowed, denied); the rest are counted
MAX_REASONS_SHOWN = 3  # places an exposed key was found
QUERY_ECHO = 120
CONSOLE_LABEL = "Open in Coveo"

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


Answer = Help | Invalid | Found | NotFound | Listing | Failed | Denied | Limited | Working | Unexpected


def render(outcome: Answer, now: datetime, *, page: int = 0, controls: Controls = NO_BUTTONS) -> Reply:
    """The message for `outcome`; `page` picks which keys of a long answer it shows."""
    reply = _render(outcome, now, page, controls)
    if controls.dismiss and isinstance(outcome, Found | NotFound | Listing | Failed):
        reply = Reply(reply.text, [*reply.blocks, actions_block([_dismiss_button()]).to_dict()])
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
        case Problem.UNKNOWN_QUALIFIER:
            valid = ", ".join(f"`{q}`" for q in QUALIFIERS)
            return (
                f"{code(shorten(invalid.token, 40))} is not a filter I know; use {valid} "
                f"(to find a key with that name, put it in quotes)."
            )
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


def key_facts(key: ApiKey, now: datetime, org: str = "", region: str = "") -> list[str]:
    """One line per fact a support engineer acts on, as mrkdwn: the state and what to do first."""
    # `enabled` is optional in Coveo's model: when it is missing the status line says it all.
    enabled = "" if key.enabled is None else f" · *Enabled:* {'yes' if key.enabled else 'no'}"
    lines = [f"*Status:* {status_line(key, now)}"]
    exposure = exposure_line(key, now)
    if exposure:
        lines.append(f"*Exposed:* {exposure}")
    lines.append(
        f"*Created:* {_when(key.created, now)} · *Last used:* {usage_text(key, now)}"
        f" · *Expires:* {expiry_text(key, now)}{enabled}"
    )
    lines.append(f"*Privileges:* {privilege_summary(key)}")
    if key.template_id:
        lines.append(f"*Template:* made from the API key template {code(shorten(key.template_id, 80))}")
    ips = ip_text(key)
    if ips:
        lines.append(f"*IP ranges:* {ips}")
    if key.description:
        lines.append(f"*Description:* {inert(shorten(key.description, 300))}")
    if org:
        lines.append(f"*Follow-up:* {code(follow_up_request(region, org, key.id))}")
    return lines


def status_line(key: ApiKey, now: datetime) -> str:
    """The key's status in plain words, with what to do about it (every `ApiKeyStatus`)."""
    since = f" since {_day(key.disabled_since)}" if key.disabled_since else ""
    last_used = usage_text(key, now)
    match key.known_status:
        case Status.ENABLED:
            text = "enabled: the key works."
        case Status.DISABLED:
            text = (
                f"disabled{since} by an administrator: calls with it fail. "
                "An administrator can re-enable it on the API Keys page."
            )
        case Status.DISABLED_FOR_INACTIVITY:
            text = (
                f"disabled for inactivity{since} (last used: {last_used}): calls with it fail. "
                "An administrator can re-activate it on the API Keys page."
            )
        case Status.EXPIRED:
            text = (
                f"expired{f' on {_day(key.expires)}' if key.expires else ''}: calls with it fail. "
                "It cannot be re-enabled: create a new key (or duplicate this one) and use that instead."
            )
        case Status.SOON_TO_BE_EXPIRED:
            when = _when(key.expires, now) if key.expires is not None else NO_EXPIRY_DATE
            text = f"expires soon ({when}). Replace or extend it before it stops working."
        case Status.SOON_TO_BE_DISABLED:
            text = (
                f"about to be disabled for inactivity (last used: {last_used}). "
                "If something still needs it, an administrator can extend it; otherwise let it go."
            )
        case Status.DISABLED_EXPOSED:
            text = (
                f"disabled{since} because it was exposed: calls with it fail. Replace it (create a new key, "
                "update what used this one, delete it); do not re-enable it."
            )
        case None if key.status:
            text = f"{inert(shorten(key.status, 60))} (a status this bot does not know yet; see the API Keys page)."
        case _:
            text = {
                True: "enabled (Coveo sent no status).",
                False: "disabled (Coveo sent no status): calls with it fail.",
                None: "unknown: Coveo sent neither a status nor whether it is enabled.",
            }[key.enabled]
    expires = key.expires
    if (
        key.known_status not in (Status.EXPIRED, Status.SOON_TO_BE_EXPIRED)
        and expires is not None
        and now < expires <= now + EXPIRING_WITHIN
    ):
        text += f" ⚠ It expires {_ago(expires, now)} ({_day(expires)}): replace or extend it before then."
    elif key.known_status is not Status.EXPIRED and key.expired(now):
        text += " ⚠ Its expiration date has passed: calls with it fail."
    return text


SEVERITY_WORDS = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "WARN": "a warning",
}
SOURCE_WORDS = {"GITHUB": "on GitHub", "MANUAL": "reported by a person"}


def exposure_line(key: ApiKey, now: datetime) -> str:
    """Where and when Coveo found the key exposed, how severe, and that it must be replaced."""
    if not key.exposed:
        return ""
    report = key.exposure
    if report is None:  # DISABLED_EXPOSED without a report in the answer
        return "🚨 Coveo found this key exposed. Replace it: create a new key, update what used this one, delete it."
    severity = SEVERITY_WORDS.get(report.severity) or inert(shorten(report.severity or "unknown", 30))
    parts = [f"🚨 severity {severity}"]
    places = [_reason_text(reason, now) for reason in report.reasons[:MAX_REASONS_SHOWN]]
    if places:
        more = len(report.reasons) - len(places)
        parts.append("found " + "; ".join(places) + (f"; +{more} more" if more > 0 else ""))
    if report.creation_type == "MANUAL":
        by = f" by {inert(shorten(report.reported_by, 60))}" if report.reported_by else ""
        parts.append(f"reported manually{by}")
    if report.deactivation is not None:
        verb = "was disabled" if report.deactivation <= now else "will be disabled"
        parts.append(f"it {verb} {_day(report.deactivation)} ({_ago(report.deactivation, now)})")
    return (
        ", ".join(parts) + ". Replace the key (create a new one, update what used this one, delete it): "
        "re-enabling it does not make it safe."
    )


def _reason_text(reason: ExposureReason, now: datetime) -> str:
    source = SOURCE_WORDS.get(reason.source) or (
        f"by {inert(shorten(reason.source.lower(), 30))}" if reason.source else ""
    )
    link = safe_link(reason.url)
    where = " ".join(part for part in (source, f"at {link}" if link else "") if part) or "somewhere"
    when = f" on {_day(reason.found)}" if reason.found else ""
    why = f" ({inert(shorten(reason.reason, 120))})" if reason.reason else ""
    return f"{where}{when}{why}"


def safe_link(url: str) -> str:
    """A mrkdwn link to a web page Coveo named (http or https, at most 300 characters), labelled with
    its host and path; "" when the text is not such a URL. Nothing in it can end the link early, and
    only visible ASCII (0x21–0x7E) is accepted: no control character a terminal would obey."""
    if not url or len(url) > 300 or any(not "!" <= ch <= "~" or ch in '<>|"\\`*' for ch in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    label = inert(shorten(f"{parts.hostname}{parts.path}".rstrip("/"), 80))
    return f"<{url.replace('&', '&amp;')}|{label}>"


NO_EXPIRY_DATE = "Coveo did not give the date"


def expiry_text(key: ApiKey, now: datetime) -> str:
    if key.expires is None:
        # `expirationDate` is optional in Coveo's model: a status that says an expiry is near
        # without it is not "never".
        match key.status:
            case Status.EXPIRED:
                return "expired"
            case Status.SOON_TO_BE_EXPIRED:
                return f"soon ({NO_EXPIRY_DATE})"
        return "never"
    return _when(key.expires, now)


def usage_text(key: ApiKey, now: datetime) -> str:
    if key.last_used is None:
        return "never" if key.never_used else "unknown"
    return _when(key.last_used, now)


def ip_text(key: ApiKey) -> str:
    parts = []
    for label, ranges in (("allowed only from", key.allowed_ips), ("denied from", key.denied_ips)):
        if ranges:
            shown = ", ".join(code(shorten(r, 45)) for r in ranges[:MAX_IPS_SHOWN])
            more = len(ranges) - MAX_IPS_SHOWN
            parts.append(f"{label} {shown}" + (f" +{more} more" if more > 0 else ""))
    return "; ".join(parts)


def warnings(key: ApiKey, now: datetime) -> list[str]:
    """Short flags, most urgent first."""
    flags = []
    if key.exposed:
        report = key.exposure
        severity = f" ({inert(shorten(report.severity, 20))})" if report and report.severity else ""
        flags.append(f"🚨 exposed{severity}: replace it")
    if key.disabled:
        flags.append("⛔ disabled")
    if key.expired(now):
        flags.append("⌛ expired")
    elif key.expiring(now):
        expires = key.expires
        if expires is not None and expires <= now + EXPIRING_WITHIN:
            flags.append(f"⏳ expires {_ago(expires, now)}")
        elif key.status == Status.SOON_TO_BE_DISABLED:
            flags.append("⏳ soon disabled for inactivity")
        else:
            flags.append("⏳ expires soon")
    if key.never_used:
        flags.append("💤 never used")
    elif key.unused(now) and key.last_used is not None:
        flags.append(f"💤 unused for {(now - key.last_used).days} days")
    return flags


# The privileges support engineers meet every day, in words (Coveo's privilege reference,
# https://docs.coveo.com/en/1707/, and "Valid Privilege owner, targetDomain, and type
# Combinations", https://docs.coveo.com/en/159/). Others are said from their parts.
PRIVILEGE_WORDS: dict[tuple[str, str, str], str] = {
    ("SEARCH_API", "EXECUTE_QUERY", ""): "query the search index",
    ("SEARCH_API", "IMPERSONATE", ""): "impersonate users in queries (sees their secured content)",
    ("SEARCH_API", "VIEW_ALL_CONTENT", ""): "see all content in queries, permissions ignored",
    ("USAGE_ANALYTICS", "ANALYTICS_DATA", "EDIT"): "send usage analytics events",
    ("USAGE_ANALYTICS", "ANALYTICS_DATA", "VIEW"): "read usage analytics data",
    ("USAGE_ANALYTICS", "ANALYTICS_DATA", ""): "send usage analytics events",
    ("PLATFORM", "SOURCE", "EDIT"): "push to or edit",
    ("PLATFORM", "SOURCE", "VIEW"): "view",
}
TYPE_VERBS = {"VIEW": "view", "EDIT": "edit", "ALLOW": "use", "": "use"}


def privilege_words(privilege: Privilege) -> str:
    owner, domain, kind = privilege.owner.upper(), privilege.target_domain.upper(), privilege.type.upper()
    if privilege.is_global:
        return f"{_domain_words(domain)} across the organization (global, level {inert(shorten(privilege.level, 30))})"
    words = PRIVILEGE_WORDS.get((owner, domain, kind)) or PRIVILEGE_WORDS.get((owner, domain, ""))
    target = privilege.target_id
    if (owner, domain) == ("PLATFORM", "SOURCE") and words:
        which = "every source" if target in ("", "*") else f"the source “{inert(shorten(target, 60))}”"
        return f"{words} {which}"
    if words:
        return words
    verb = TYPE_VERBS.get(kind) or inert(shorten(kind.lower(), 20))
    on = "" if target in ("", "*") else f" “{inert(shorten(target, 60))}”"
    return f"{verb} {_domain_words(domain)}{on}"


def _domain_words(domain: str) -> str:
    return inert(shorten(domain.replace("_", " ").lower(), 40)) or "something"


def privilege_summary(key: ApiKey) -> str:
    """The privileges in words, then in Coveo's own form (both bounded)."""
    if not key.privileges:
        return "none"
    shown = key.privileges[:MAX_PRIVILEGES_SHOWN]
    more = len(key.privileges) - len(shown)
    extra = f"; +{more} more" if more else ""
    words = shorten("; ".join(dict.fromkeys(privilege_words(p) for p in shown)) + extra, 600)
    raw = shorten(", ".join(inert(p.summary()) for p in shown) + extra, 600)
    return f"{words} (raw: {raw})"


def _host(region: str) -> str:
    """The region's public Coveo host (US when the region is unknown), for links people follow."""
    return REGION_URLS.get(region) or REGION_URLS["us"]


def console_url(region: str, org: str) -> str:
    """The organization's API Keys page in the admin console of its region
    (the form Coveo's docs link to: https://platform.cloud.coveo.com/admin/#/<org>/organization/api-access/)."""
    return f"{_host(region)}/admin/#/{quote(org, safe='')}/organization/api-access/"


def follow_up_request(region: str, org: str, key_id: str) -> str:
    """The Coveo REST call that reads this key, on its region's host."""
    return f"GET {_host(region)}/rest/organizations/{quote(org, safe='')}/apikeys/{quote(key_id, safe='')}"


def console_button(region: str, org: str) -> ButtonElement:
    return ButtonElement(text=CONSOLE_LABEL, action_id=OPEN_CONSOLE, url=console_url(region, org))


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "an unknown date"


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


def _key_section(key: ApiKey, now: datetime, org: str, region: str, share: str | None = None) -> SectionBlock:
    flags = warnings(key, now)
    head = f"*{key_name(key, 150)}*" + (f"   {' · '.join(flags)}" if flags else "")
    lines = _fit([head, f"*apiKeyId:* {code(key.id)}", *key_facts(key, now, org, region)])
    block = section("\n".join(lines))
    if share is not None:
        block.accessory = ButtonElement(text="Share in channel", action_id=SHARE, value=share)
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
            buttons.append(ButtonElement(text="‹ Previous", action_id=PAGE_PREVIOUS, value=value))
    if following:
        value = PageRef(ref.org, ref.region, ref.query, ref.page + 1).encode()
        if value is not None:
            buttons.append(ButtonElement(text="Next ›", action_id=PAGE_NEXT, value=value))
    return [actions_block(buttons)]


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
    if isinstance(error, RegionClosed):
        return (
            f"You may not ask the {where} region, so I did not: only members of its own Slack user groups "
            f"may (`APIKEYID_ALLOWED_USERGROUPS_{region.upper()}`). Ask the bot's admin if you should be one."
        )
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
    if isinstance(error, Blocked):
        return (
            f"Coveo's web application firewall blocked the bot's request to the {where} region "
            f"(HTTP {error.status}): it took the request for a potentially malicious one. Nothing is wrong with "
            "the organization or its keys; try again later, and if it keeps happening, give the bot's admin "
            "the request id below for a Coveo support ticket."
        )
    if isinstance(error, BadGateway):
        return (
            f"Coveo's {where} region is unavailable right now (HTTP 502 bad gateway: it could not reach one of "
            "its own services). Try again in a minute; if it keeps happening, check status.cloud.coveo.com."
        )
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
    if isinstance(error, ErrorPage):
        return (
            f"The {where} region answered with a web page (HTTP {error.status}) instead of Coveo's API: "
            "a proxy or firewall between the bot and Coveo, or a wrong platform URL in the bot's settings. "
            "Tell the bot's admin."
        )
    if isinstance(error, BadResponse) and error.status is not None and 400 <= error.status < 500:
        said = _coveo_said(error)
        return f"Coveo refused the bot's request in the {where} region (HTTP {error.status}{said}). Tell the bot's admin."
    if isinstance(error, ClientFailure):
        return (
            f"The call to the {where} region failed on my side, not Coveo's. Try again in a minute; "
            "if it keeps happening, tell the bot's admin (the bot's log says more)."
        )
    if isinstance(error, BadResponse):
        return "Coveo sent an answer I could not read. Try again in a minute; if it keeps happening, tell the bot's admin."
    return "The lookup failed. Try again in a minute; if it keeps happening, tell the bot's admin."


def _coveo_said(error: CoveoError) -> str:
    """Coveo's own error code and message, bounded and inert: ", CODE: message"."""
    parts = [
        code(shorten(error.error_code, 60)) if error.error_code else "",
        inert(shorten(error.message or "", 200)),
    ]
    said = ": ".join(part for part in parts if part)
    return f", {said}" if said else ""


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
