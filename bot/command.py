"""Turn the text after `/apikeyid` into one of a few commands, or a reason it is not one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.coveo import ORG_ID
from bot.text import code, inert, shorten, unescape_slack

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Pairs of quotes people (and their keyboards' smart punctuation) wrap names in.
QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "”": "”", "‘": "’", "’": "’", "«": "»", "„": "“", "`": "`"}
# Slack wraps links it recognises as <https://…> or <https://…|label>.
_SLACK_LINK = re.compile(r"^<(https?://[^|>]+)(?:\|[^>]*)?>$")
_LEADING_LINK = re.compile(r"^<https?://[^>]*>")
_ADMIN_HOST = re.compile(r"^([a-z0-9]+)\.admin\.org\.coveo\.com$")


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListKeys:
    org: str


@dataclass(frozen=True)
class Lookup:
    org: str
    name: str


@dataclass(frozen=True)
class Invalid:
    """Text that is not a command; `reason` is user-facing mrkdwn."""

    reason: str


Command = Help | ListKeys | Lookup | Invalid

ORG_SHAPE = (
    "An organization id is lowercase letters and digits, like `mycoveoorganization8tp8wu3` "
    "(in the Coveo admin console: Settings → Organization → Information). "
    "You can also paste the admin console URL."
)


def parse(text: str) -> Command:
    text = unescape_slack(text).strip()
    if not text or text.split()[0].casefold() in HELP_WORDS:
        return Help()
    link = _LEADING_LINK.match(text)
    if link:  # a Slack link's label may hold spaces: the whole <…> is the org argument
        org_token, rest = link.group(0), text[link.end() :]
    else:
        # str.split() without a separator splits on any whitespace: tabs, newlines, no-break spaces.
        parts = text.split(maxsplit=1)
        org_token, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    org = org_from(org_token)
    if org is None:
        return Invalid(_bad_org_reason(org_token))
    name = strip_quotes(rest.strip())
    return Lookup(org, name) if name else ListKeys(org)


def org_from(token: str) -> str | None:
    """The org id in `token`: the id itself, or one found in a pasted admin-console URL."""
    link = _SLACK_LINK.match(token)
    if link:
        token = link.group(1)
    if token.startswith(("http://", "https://")):
        return _org_from_url(token)
    return token if ORG_ID.match(token) else None


def strip_quotes(name: str) -> str:
    if len(name) >= 2 and QUOTE_PAIRS.get(name[0]) == name[-1]:
        return name[1:-1].strip()
    return name


def _org_from_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if not host.endswith(".coveo.com"):
        return None
    per_org = _ADMIN_HOST.match(host)
    if per_org:
        return per_org.group(1) if ORG_ID.match(per_org.group(1)) else None
    # The admin console keeps the org id first in the fragment: /admin/#/<orgId>/…
    for segment in parts.fragment.split("?")[0].split("/"):
        if segment:
            return segment if ORG_ID.match(segment) else None
    for name in ("organizationId", "organization"):
        values = parse_qs(parts.query).get(name) or parse_qs(parts.fragment.partition("?")[2]).get(name)
        if values and ORG_ID.match(values[0]):
            return values[0]
    return None


def _bad_org_reason(token: str) -> str:
    shown = inert(shorten(token, 60))
    if ORG_ID.match(token.lower()):
        return f"Organization ids are lowercase: did you mean {code(token.lower())}? {ORG_SHAPE}"
    if token.startswith(("http://", "https://", "<http")):
        return f"I could not find an organization id in that link ({shown}). {ORG_SHAPE}"
    return f"“{shown}” is not a Coveo organization id. {ORG_SHAPE}"
