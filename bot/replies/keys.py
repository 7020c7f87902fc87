"""One API key in words: its status and what to do, exposure, expiry, use, IP ranges, privileges,
the console link and the follow-up REST request. Coveo's text goes through `inert` or `code`."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlsplit

from bot.core.apikey import EXPIRING_WITHIN, ApiKey, ExposureReason, Privilege, Status
from bot.core.regions import REGION_URLS
from bot.core.text import code, inert, shorten
from bot.replies.blocks import OPEN_CONSOLE, Block, button

MAX_PRIVILEGES_SHOWN = 8


MAX_IPS_SHOWN = 5  # per list (allowed, denied); the rest are counted


MAX_REASONS_SHOWN = 3  # places an exposed key was found


CONSOLE_LABEL = "Open in Coveo"


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


def console_button(region: str, org: str) -> Block:
    return button(CONSOLE_LABEL, OPEN_CONSOLE, url=console_url(region, org))


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "an unknown date"


def in_region(region: str) -> str:
    return f" ({region.upper()} region)" if region else ""


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
