"""Turn the text after `/apikeyid` into one of a few commands, or a reason it is not one."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.core.apikey import Care
from bot.core.text import unescape_slack

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
# `is:exposed`, `is:disabled` …: a word no display name search is confused with (quote it to search it).
_QUALIFIER = re.compile(r"^is:([A-Za-z_-]+)\Z", re.IGNORECASE)
QUALIFIERS = tuple(f"is:{care.value}" for care in Care)


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListKeys:
    org: str
    region: str | None = None  # the region a pasted admin-console URL names ("us", "eu", …)


@dataclass(frozen=True)
class Lookup:
    """A name to find, keys that need care (`is:…`), or both. `name` is the whole query as
    `query_text` writes it, so that it reads back the same (`read_query`) from a button."""

    org: str
    name: str
    region: str | None = None


class Problem(enum.StrEnum):
    """Why the first word is not an organization; `replies` says it to the user."""

    UPPERCASE = "uppercase"  # an org id with capitals: Coveo's are lowercase
    NO_ORG_IN_LINK = "no_org_in_link"
    NOT_AN_ORG = "not_an_org"
    UNKNOWN_QUALIFIER = "unknown_qualifier"  # `is:foo`: `token` is the word


@dataclass(frozen=True)
class Invalid:
    """Text that is not a command: what is wrong, and the word that was taken for the org."""

    problem: Problem
    token: str


Command = Help | ListKeys | Lookup | Invalid


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
        return Invalid(_problem(org_token), org_token)
    return _lookup(org, rest, region)


def from_fields(org_text: str, name_text: str) -> ListKeys | Lookup | Invalid:
    """A command from the two inputs of the lookup modal (no help words; names and `is:` as in the command)."""
    org_token = org_text.strip()
    org, region = org_and_region(org_token)
    if org is None:
        return Invalid(_problem(org_token), org_token)
    return _lookup(org, name_text, region)


def _lookup(org: str, rest: str, region: str | None) -> ListKeys | Lookup | Invalid:
    query = read_query(rest)
    if isinstance(query, Invalid):
        return query
    text = query_text(*query)
    return Lookup(org, text, region) if text else ListKeys(org, region)


def read_query(text: str) -> tuple[tuple[Care, ...], str] | Invalid:
    """The care qualifiers (`is:exposed` …, anywhere, combined) and the name in what follows the org.

    Text wholly in quotes is a name, whatever it holds: `"is:exposed"` finds a key of that name.
    Without a qualifier the name is the text as typed (quotes around it removed).
    """
    text = text.strip()
    unquoted = strip_quotes(text)
    if unquoted != text or not any(_QUALIFIER.match(word) for word in text.split()):
        return (), unquoted
    care: list[Care] = []
    words: list[str] = []
    for word in text.split():
        qualifier = _QUALIFIER.match(word)
        if qualifier is None:
            words.append(word)
            continue
        try:
            care.append(Care(qualifier.group(1).lower()))
        except ValueError:
            return Invalid(Problem.UNKNOWN_QUALIFIER, word)
    return tuple(dict.fromkeys(care)), strip_quotes(" ".join(words))


def query_text(care: tuple[Care, ...], name: str) -> str:
    """The query `read_query` reads back as (care, name): a name that would read as a qualifier is quoted."""
    parts = [f"is:{c.value}" for c in care]
    if name:
        misread = strip_quotes(name) != name or any(_QUALIFIER.match(word) for word in name.split())
        parts.append(f'"{name}"' if misread else name)
    return " ".join(parts)


def find_org(text: str) -> str:
    """What in a message looks most like an organization: an admin-console URL holding an org id,
    else a word shaped like a generated org id (letters and digits, 8 or more); "" when none.

    A plain lowercase word is an org id to Coveo too, but in a message it is far likelier prose.
    """
    words = [_bare(word) for word in unescape_slack(text).split()]
    for word in words:
        if word.startswith(("http://", "https://")) and org_and_region(word)[0] is not None:
            return word
    for word in words:
        if len(word) >= 8 and ORG_ID.match(word) and not word.isalpha() and not word.isdigit():
            return word
    return ""


def _bare(word: str) -> str:
    """A word without the punctuation and Slack link brackets around it (<url|label> → url)."""
    word = word.strip("()[].,;:'\"“”")
    if word.startswith("<"):
        word = word[1:].split("|", 1)[0].removesuffix(">")
    return word


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


def _problem(token: str) -> Problem:
    if ORG_ID.match(token.lower()):
        return Problem.UPPERCASE
    if token.startswith(("http://", "https://", "<http")):
        return Problem.NO_ORG_IN_LINK
    return Problem.NOT_AN_ORG
