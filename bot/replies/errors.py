"""What went wrong, in words: a command not understood, a refusal, and every Coveo failure with
what to do about it (retry, rotate which token, ask whom)."""

from __future__ import annotations

import math

from bot.core.command import QUALIFIERS, Invalid, Problem
from bot.core.outcomes import Denied, Refusal
from bot.core.regions import REGIONS, SINGLE_TOKEN_VARIABLE
from bot.core.text import code, inert, shorten
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
from bot.coveo.results import Failed, RegionError
from bot.replies.blocks import Block, Reply, context_block, new_reply, section

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


def failure_reply(outcome: Failed) -> Reply:
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
