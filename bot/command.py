"""Turn the text after `/apikeyid` into one of a few commands, or a reason it is not one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.text import code, inert, shorten, unescape_slack

# Coveo organisation ids are lowercase letters and digits (e.g. "mycoveoorganization8tp8wu3");
# anything else is refused before a request can leave.
ORG_ID = re.compile(r"^[a-z0-9]{1,100}\Z")
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Pairs of quotes people (and their keyboards' smart punctuation) wrap names in.
QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "”": "”", "‘": "’", "’": "’", "«": "»", "„": "“", "`": "`"}
# Slack wraps links it recognises as <https://…> or <https://…|label>.
_SLACK_LINK = re.compile(r"^<(https?://[^|>]+)(?:\|[^>]*)?>$")
_LEADING_LINK = re.compile(r"^<https?://[^>]*>")
_ADMIN_HOST = re.compile(r"^([a-z0-9]+)\.admin\.org(eu|au|ca|hipaa)?\.coveo\.com$")
# The admin console's host names its region: platform.cloud.coveo.com is US, platform-eu… EU,
# platformhipaa… HIPAA. Other platform hosts (dev, staging) give no hint.
_PLATFORM_HOST = re.compile(r"^platform(?:-(eu|au|ca)|(hipaa))?\.cloud\.coveo\.com$")


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListKeys:
    org: str
    region: str | None = None  # the region a pasted admin-console URL names ("us", "eu", …)


@dataclass(frozen=True)
class Lookup:
    org: str
    name: str
    region: str | None = None


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
    org, region = org_and_region(org_token)
    if org is None:
        return Invalid(_bad_org_reason(org_token))
    name = strip_quotes(rest.strip())
    return Lookup(org, name, region) if name else ListKeys(org, region)


def org_from(token: str) -> str | None:
    """The org id in `token`: the id itself, or one found in a pasted admin-console URL."""
    return org_and_region(token)[0]


def org_and_region(token: str) -> tuple[str | None, str | None]:
    """The org id in `token`, and the region its URL names when it is a pasted admin-console URL."""
    link = _SLACK_LINK.match(token)
    if link:
        token = link.group(1)
    if token.startswith(("http://", "https://")):
        return _org_from_url(token)
    return (token if ORG_ID.match(token) else None), None


def strip_quotes(name: str) -> str:
    if len(name) >= 2 and QUOTE_PAIRS.get(name[0]) == name[-1]:
        return name[1:-1].strip()
    return name


def _org_from_url(url: str) -> tuple[str | None, str | None]:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None, None
    if not host.endswith(".coveo.com"):
        return None, None
    per_org = _ADMIN_HOST.match(host)
    if per_org:
        # Only orgeu/orgau/… name a region; a plain .org. host is not proof of US.
        return (per_org.group(1), per_org.group(2)) if ORG_ID.match(per_org.group(1)) else (None, None)
    platform = _PLATFORM_HOST.match(host)
    region = (platform.group(1) or platform.group(2) or "us") if platform else None
    # The admin console keeps the org id first in the fragment: /admin/#/<orgId>/…
    for segment in parts.fragment.split("?")[0].split("/"):
        if segment:
            return (segment, region) if ORG_ID.match(segment) else (None, None)
    for name in ("organizationId", "organization"):
        values = parse_qs(parts.query).get(name) or parse_qs(parts.fragment.partition("?")[2]).get(name)
        if values and ORG_ID.match(values[0]):
            return values[0], region
    return None, None


def _bad_org_reason(token: str) -> str:
    shown = inert(shorten(token, 60))
    if ORG_ID.match(token.lower()):
        return f"Organization ids are lowercase: did you mean {code(token.lower())}? {ORG_SHAPE}"
    if token.startswith(("http://", "https://", "<http")):
        return f"I could not find an organization id in that link ({shown}). {ORG_SHAPE}"
    return f"“{shown}” is not a Coveo organization id. {ORG_SHAPE}"
