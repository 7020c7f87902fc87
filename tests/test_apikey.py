"""Coveo's API key model, read as Coveo sends it (keys from the fake, built in Coveo's shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.apikey import Care, Severity, Status, most_urgent_first, parse_api_keys, parse_date
from bot.core.matching import MatchedBy
from bot.coveo.results import Found, Listing
from bot.replies.blocks import plain
from bot.replies.keys import exposure_line, privilege_summary, safe_link, status_line, warnings
from bot.replies.messages import render
from tests.fakes.coveo import DAY_MS, MISSING, api_key, exposure_report, key_in_status, now_ms


def one(key: dict) -> object:
    [parsed] = parse_api_keys([key])
    return parsed


def now() -> datetime:
    return datetime.now(UTC)


# status → (disabled, expired, expiring, exposed, unused, words in the status line, flag)
PER_STATUS = {
    "ENABLED": (False, False, False, False, False, "the key works", None),
    "DISABLED": (True, False, False, False, False, "re-enable it", "⛔ disabled"),
    "DISABLED_FOR_INACTIVITY": (True, False, False, False, True, "re-activate it", "⛔ disabled"),
    "EXPIRED": (False, True, False, False, False, "cannot be re-enabled", "⌛ expired"),
    "SOON_TO_BE_EXPIRED": (False, False, True, False, False, "Replace or extend it", "⏳ expires in 5 days"),
    "SOON_TO_BE_DISABLED": (
        False,
        False,
        True,
        False,
        True,
        "about to be disabled for inactivity",
        "⏳ soon disabled for inactivity · 💤 unused",
    ),
    "DISABLED_EXPOSED": (True, False, False, True, False, "do not re-enable it", "🚨 exposed (CRITICAL)"),
}


def test_every_status_coveo_defines_is_covered() -> None:
    assert set(PER_STATUS) == {s.value for s in Status}


@pytest.mark.parametrize("status", sorted(PER_STATUS))
def test_one_key_per_status_reads_with_its_flag_and_what_to_do(status: str) -> None:
    disabled, expired, expiring, exposed, unused, words, flag = PER_STATUS[status]
    key = one(key_in_status("k", status))
    moment = now()
    assert key.known_status == Status(status)
    assert (key.disabled, key.expired(moment), key.expiring(moment), key.exposed, key.unused(moment)) == (
        disabled,
        expired,
        expiring,
        exposed,
        unused,
    )
    assert words in status_line(key, moment)
    flags = " · ".join(warnings(key, moment))
    assert (flag in flags) if flag else flags == ""
    text = render(Found("myorg", "k", [key], MatchedBy.EXACT_NAME, region="eu"), moment).to_plain()
    assert words in text
    assert "⚠ It expires" not in text  # only an expiry date within 30 days adds that warning


def test_soon_to_be_expired_without_a_date_does_not_read_never() -> None:
    # `expirationDate` is optional in Coveo's `ApiKeyModel` (platform-client,
    # src/resources/ApiKeys/ApiKeysInterfaces.ts): the status alone says the expiry is near.
    key = one(key_in_status("soon", "SOON_TO_BE_EXPIRED", expirationDate=MISSING))
    assert key.expires is None and key.expiring(now())
    line = status_line(key, now())
    assert line.startswith("expires soon (Coveo did not give the date)"), line
    text = render(Found("myorg", "soon", [key], MatchedBy.EXACT_NAME), now()).to_plain()
    assert "(never)" not in text and "Expires: never" not in text
    assert "Expires: soon (Coveo did not give the date)" in text


def test_disabled_for_inactivity_without_enabled_is_disabled_not_unknown() -> None:
    key = one(key_in_status("idle", "DISABLED_FOR_INACTIVITY"))
    assert "enabled" not in key.raw and key.enabled is None
    assert key.disabled and "⛔ disabled" in warnings(key, now())
    line = status_line(key, now())
    assert "disabled for inactivity since" in line and "last used" in line and "ago" in line
    text = render(Found("myorg", "idle", [key], MatchedBy.EXACT_NAME), now()).to_plain()
    assert "Enabled: unknown" not in text and "⛔ disabled" in text


@pytest.mark.parametrize("severity", [s.value for s in Severity])
def test_one_key_per_exposure_severity_is_exposed_with_where_and_when(severity: str) -> None:
    report = exposure_report(severity, found_ms=1_760_000_000_000)
    key = one(api_key("leaked", exposureReport=report))  # still ENABLED: Coveo reports before it disables
    assert key.exposed and key.exposure is not None and key.exposure.severity == severity
    line = exposure_line(key, now())
    assert f"severity {severity.lower() if severity != 'WARN' else 'a warning'}" in line
    assert "on GitHub at <https://github.com/example/shop/blob/main/config.js|" in line
    assert "on 2025-10-09" in line and "re-enabling it does not make it safe" in line
    assert f"🚨 exposed ({severity})" in warnings(key, now())[0]


def test_exposure_ranks_most_severe_first() -> None:
    keys = parse_api_keys(
        [api_key(s.value, exposureReport=exposure_report(s.value)) for s in reversed(Severity)]
    )
    assert names(most_urgent_first(keys, (Care.EXPOSED,), now())) == [s.value for s in Severity]


def names(keys: list) -> list[str]:
    return [k.display_name for k in keys]


def test_is_exposed_puts_a_key_still_working_before_disabled_or_expired_ones_of_its_severity() -> None:
    moment = now()
    keys = parse_api_keys(
        [
            key_in_status("already disabled leaked", "DISABLED_EXPOSED"),
            api_key(
                "expired leaked",
                status="EXPIRED",
                enabled=False,
                expirationDate=now_ms() - 400 * DAY_MS,
                exposureReport=exposure_report("CRITICAL"),
            ),
            api_key("a low one still working", exposureReport=exposure_report("LOW")),
            api_key("live leaked key", exposureReport=exposure_report("CRITICAL")),
        ]
    )
    order = names(most_urgent_first(keys, (Care.EXPOSED,), moment))
    assert order[0] == "live leaked key"
    assert set(order[1:3]) == {"already disabled leaked", "expired leaked"}
    assert order[3] == "a low one still working"  # severity still leads


def test_is_unused_puts_the_longest_unused_first_and_never_used_before_any_use() -> None:
    moment = now()
    keys = parse_api_keys(
        [
            api_key(
                "unused 95 days, expires in 2 years",
                lastUsedDate=now_ms() - 95 * DAY_MS,
                expirationDate=now_ms() + 730 * DAY_MS,
            ),
            api_key("unused 300 days, never expires", lastUsedDate=now_ms() - 300 * DAY_MS),
            api_key(
                "never used, created 10 days ago", lastUsedDate=MISSING, createdDate=now_ms() - 10 * DAY_MS
            ),
            api_key(
                "never used, created a year ago", lastUsedDate=MISSING, createdDate=now_ms() - 365 * DAY_MS
            ),
        ]
    )
    assert all(k.needs(Care.UNUSED, moment) for k in keys)
    assert names(most_urgent_first(keys, (Care.UNUSED,), moment)) == [
        "never used, created a year ago",
        "never used, created 10 days ago",
        "unused 300 days, never expires",
        "unused 95 days, expires in 2 years",
    ]


def test_is_expiring_puts_the_soonest_expiry_first_expired_ones_first() -> None:
    moment = now()
    keys = parse_api_keys(
        [
            api_key(
                "in 20 days",
                expirationDate=now_ms() + 20 * DAY_MS,
                exposureReport=exposure_report("CRITICAL"),
            ),
            api_key("in 2 days", expirationDate=now_ms() + 2 * DAY_MS),
            key_in_status("expired 2 days ago", "EXPIRED"),
            api_key("soon, no date", status="SOON_TO_BE_EXPIRED"),
        ]
    )
    assert names(most_urgent_first(keys, (Care.EXPIRING,), moment)) == [
        "expired 2 days ago",
        "in 2 days",
        "in 20 days",
        "soon, no date",
    ]


def test_is_disabled_puts_exposed_keys_first_then_the_most_recently_disabled() -> None:
    moment = now()
    keys = parse_api_keys(
        [
            api_key("off 30 days ago", enabled=False, status="DISABLED", disabledDate=now_ms() - 30 * DAY_MS),
            key_in_status("idle, off 5 days ago", "DISABLED_FOR_INACTIVITY"),
            api_key("off, no date", enabled=False, status="DISABLED"),
            key_in_status("leaked, off yesterday", "DISABLED_EXPOSED"),
            key_in_status("off 3 days ago", "DISABLED"),
        ]
    )
    assert names(most_urgent_first(keys, (Care.DISABLED,), moment)) == [
        "leaked, off yesterday",
        "off 3 days ago",
        "idle, off 5 days ago",
        "off 30 days ago",
        "off, no date",
    ]


def test_with_several_qualifiers_the_first_given_leads() -> None:
    moment = now()
    keys = parse_api_keys(
        [
            api_key(
                "critical, used 100 days ago",
                lastUsedDate=now_ms() - 100 * DAY_MS,
                exposureReport=exposure_report("CRITICAL"),
            ),
            api_key("low, never used", lastUsedDate=MISSING, exposureReport=exposure_report("LOW")),
        ]
    )
    assert names(most_urgent_first(keys, (Care.EXPOSED, Care.UNUSED), moment)) == [
        "critical, used 100 days ago",
        "low, never used",
    ]
    assert names(most_urgent_first(keys, (Care.UNUSED, Care.EXPOSED), moment)) == [
        "low, never used",
        "critical, used 100 days ago",
    ]


def test_a_manual_report_names_who_made_it_and_a_url_that_is_not_a_web_page_is_not_a_link() -> None:
    report = exposure_report("LOW", source="MANUAL", url="javascript:alert(1)", creation_type="MANUAL")
    line = exposure_line(one(api_key("pasted", exposureReport=report)), now())
    assert "reported by a person" in line and "reported manually by Coveo security" in line
    assert "javascript" not in line and "<" not in line


def test_a_null_report_is_no_exposure_and_a_report_without_reasons_still_is() -> None:
    assert not one(api_key("clean", exposureReport=None)).exposed
    report = exposure_report("MEDIUM") | {"reasons": []}
    assert one(api_key("vague", exposureReport=report)).exposed


def test_deactivation_date_is_said() -> None:
    report = exposure_report("HIGH", deactivation_ms=now_ms() + 3 * DAY_MS)
    assert "it will be disabled" in exposure_line(one(api_key("k", exposureReport=report)), now())


def test_expiring_within_30_days_is_a_warning_even_while_enabled() -> None:
    soon = one(api_key("soon", expirationDate=now_ms() + 10 * DAY_MS))
    later = one(api_key("later", expirationDate=now_ms() + 40 * DAY_MS))
    assert soon.known_status is Status.ENABLED and soon.expiring(now()) and not later.expiring(now())
    assert "⚠ It expires in" in status_line(soon, now()) and "⚠" not in status_line(later, now())


def test_never_used_and_unused_for_90_days() -> None:
    never = one(api_key("never", lastUsedDate=MISSING))
    old = one(api_key("old", lastUsedDate=now_ms() - 120 * DAY_MS))
    recent = one(api_key("recent"))
    moment = now()
    assert never.never_used and never.unused(moment) and "💤 never used" in warnings(never, moment)
    assert old.unused(moment) and "💤 unused for 120 days" in warnings(old, moment)
    assert not recent.unused(moment) and not recent.needs(Care.UNUSED, moment)


def test_a_key_with_only_an_id() -> None:
    key = one({"id": "onlyid"})
    moment = now()
    assert key.display_name == "" and key.privileges == [] and not key.exposed and not key.disabled
    assert not key.never_used  # nothing is known about its use
    assert "neither a status nor whether it is enabled" in status_line(key, moment)
    assert key.facts(moment)["needs"] == []
    assert "onlyid" in render(Found("o", "onlyid", [key], MatchedBy.ID), moment).to_plain()


def test_dates_as_epoch_ms_or_iso_are_the_same_moment() -> None:
    assert parse_date(1_700_000_000_000) == parse_date("2023-11-14T22:13:20Z") == parse_date("1700000000000")
    assert parse_date(float("nan")) is None and parse_date(None) is None
    key = one(api_key("k", activationDate=1_700_000_000_000, disabledDate="2023-11-14T22:13:20Z"))
    assert key.activated == key.disabled_since == parse_date(1_700_000_000_000)


def test_privileges_in_every_shape() -> None:
    key = one(
        api_key(
            "k",
            privileges=[
                {"owner": "SEARCH_API", "targetDomain": "EXECUTE_QUERY"},  # no type, no targetId
                {"owner": "PLATFORM", "targetDomain": "SOURCE", "type": "EDIT", "targetId": "Web"},
                {
                    "owner": "USAGE_ANALYTICS",
                    "targetDomain": "ANALYTICS_DATA",
                    "type": "EDIT",
                    "targetId": "*",
                },
                {"owner": "PLATFORM", "targetDomain": "ORGANIZATION", "level": "FULL"},  # a global privilege
                {"owner": "PLATFORM", "targetDomain": "API_KEY", "type": "VIEW"},
            ],
        )
    )
    summary = privilege_summary(key)
    assert "query the search index" in summary
    assert "push to or edit the source “Web”" in summary
    assert "send usage analytics events" in summary
    assert "organization across the organization (global, level FULL)" in summary
    assert "view api key" in summary
    assert "raw: SEARCH_API/EXECUTE_QUERY ANY" in summary and "PLATFORM/ORGANIZATION level FULL" in summary
    assert key.privileges[3].is_global and not key.privileges[0].is_global


def test_the_value_as_coveo_masks_it_and_a_key_without_one() -> None:
    assert one(api_key("k", value="xx********-****-****-****-********0b4a")).value_tail == "0b4a"
    assert one(api_key("k", value=MISSING)).value_tail == ""
    assert one(api_key("k", value=None)).value_tail == ""


@pytest.mark.parametrize(
    ("value", "tail"),
    [
        ("xx********-****-****-****-********0B4A", "0b4a"),
        ("****•••1b3e", "1b3e"),  # bullets after the last asterisk
        ("••••1b3e", "1b3e"),  # bullets only
        ("****12-3e", "123e"),  # not alphanumeric: only the letters and digits are kept
        ("*" + "a" * 20, "a" * 8),  # at most 16 visible, then 8 kept
        ("unmaskedsecret", "cret"),  # never expected: the last four characters only
        ("", ""),
    ],
)
def test_the_visible_tail_of_any_mask(value: str, tail: str) -> None:
    assert one(api_key("k", value=value)).value_tail == tail


def test_parsing_copies_nothing_it_does_not_need_and_changes_nothing_it_is_given() -> None:
    item = api_key("k", description="a description")
    before = dict(item)
    [key] = parse_api_keys([item])
    assert item == before  # the caller's object keeps its value
    assert key.description == "a description" and key.folded_name == "k"
    assert "value" not in key.raw and "resourceId" not in key.raw  # only what the facts read
    assert key.raw["privileges"] == (
        {"owner": "SEARCH_API", "targetDomain": "EXECUTE_QUERY", "targetId": "*", "type": "ALLOW"},
    )
    assert key == one(dict(before)) and key != one(api_key("k"))


def test_a_consumed_object_is_kept_without_its_value() -> None:
    item = api_key("k")
    [key] = parse_api_keys([item], consume=True)
    assert "value" not in item and key.value_tail and "value" not in key.raw


def test_facts_for_scripts_carry_the_report_and_never_the_value() -> None:
    key = one(key_in_status("gone", "DISABLED_EXPOSED"))
    facts = key.facts(now())
    assert facts["exposed"] and facts["exposureReport"]["severity"] == "CRITICAL"
    assert facts["exposureReport"]["reasons"][0]["source"] == "GITHUB"
    assert facts["needs"] == ["exposed", "disabled"] and facts["disabledDate"]
    assert "****" not in str(facts)


def test_hygiene_listing_says_how_many_and_why_each() -> None:
    moment = now()
    keys = parse_api_keys(
        [key_in_status("a", "DISABLED_EXPOSED"), api_key("b", exposureReport=exposure_report("LOW"))]
    )
    listing = Listing("myorg", keys, region="eu", query="is:exposed", care=(Care.EXPOSED,), total=9)
    text = render(listing, moment).to_plain()
    assert "2 of 9 API keys in `myorg` (EU region) are exposed" in text
    assert "🚨 exposed (CRITICAL)" in text and "🚨 exposed (LOW)" in text
    assert text.index("(CRITICAL)") < text.index("(LOW)")
    assert "Open in Coveo: https://platform-eu.cloud.coveo.com/admin/#/myorg/organization/api-access/" in text


def test_expired_by_date_reads_as_expired_even_if_status_lags() -> None:
    key = one(api_key("k", expirationDate=now_ms() - DAY_MS))
    moment = now()
    assert key.expired(moment) and key.needs(Care.EXPIRING, moment)
    assert "expiration date has passed" in status_line(key, moment)
    assert key.expires is not None and key.expires < moment - timedelta(hours=1)


def test_a_key_with_every_field_at_its_longest_still_shows_whole_lines() -> None:
    noisy = "&<>*" * 150
    reason = {"id": "r", "source": "GITHUB", "url": "https://github.com/" + "a" * 250, "reason": noisy}
    key = one(
        key_in_status(noisy, "DISABLED_EXPOSED")
        | {
            "description": noisy,
            "apiKeyTemplateId": noisy,
            "allowedIps": [noisy] * 40,
            "deniedIps": [noisy] * 40,
            "privileges": [{"owner": noisy, "targetDomain": noisy, "type": noisy, "targetId": noisy}] * 30,
            "exposureReport": exposure_report(noisy) | {"reasons": [reason] * 6, "createdBy": noisy},
        }
    )
    message = render(Found("myorg", "q", [key], MatchedBy.ID), now()).to_slack()
    texts = [b.get("text", {}).get("text", "") for b in message["blocks"]]
    [section] = [t for t in texts if "*apiKeyId:*" in t]
    assert len(section) <= 3000
    assert section.splitlines()[-1].startswith("*Follow-up:* `GET https://platform.cloud.coveo.com/rest/")
    assert "too long to show here" in section


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example/a|<!channel>",
        "https://x.example/<@U123>",
        "javascript:alert(1)",
        "ftp://x.example/f",
        "https://x.example/" + "a" * 300,
        "https://x.example/a b",
        "https://x.example/*bold*",
        "https:///nohost",
        # Control characters a terminal obeys: a carriage return rewrites the line, ESC starts an
        # ANSI sequence (`apikeyid lookup` prints the link's URL itself).
        "https://github.com/x\rStatus:enabled,not-exposed",
        "https://github.com/x\x1b[2K\x1b[32mfine\x1b[0m",
        "https://github.com/x\x00y",
        "https://github.com/x\x0by",
        "https://github.com/x\x7fy",
    ],
)
def test_an_exposure_url_that_could_break_out_is_not_a_link(url: str) -> None:
    assert safe_link(url) == ""


def test_an_exposure_url_is_a_link_labelled_with_its_host_and_path() -> None:
    assert safe_link("https://github.com/acme/shop/blob/main/x.js?a=1&b=2") == (
        "<https://github.com/acme/shop/blob/main/x.js?a=1&amp;b=2|github.com/acme/shop/blob/main/x.js>"
    )


def test_the_terminal_never_prints_control_characters_from_coveo() -> None:
    # The reason's url is Coveo's free text (`ExposureReportReason.url`, platform-client
    # src/resources/ApiKeys/ApiKeysInterfaces.ts): an ESC or CR there must not reach a terminal.
    report = exposure_report("HIGH", url="https://github.com/x\x1b[2K\rStatus:\x1b[32menabled\x1b[0m")
    key = one(api_key("n", exposureReport=report))
    text = render(Found("myorg", "n", [key], MatchedBy.EXACT_NAME), now()).to_plain()
    assert "Exposed" in text
    assert not [ch for ch in text if ch != "\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0)]
    assert plain("a\x1b[2Kb\rc\x00d\x9be") == "a[2Kbcde"


def test_the_terminal_shows_the_exposure_url_itself() -> None:
    key = one(key_in_status("gone", "DISABLED_EXPOSED"))
    text = render(Found("myorg", "gone", [key], MatchedBy.EXACT_NAME), now()).to_plain()
    assert "on GitHub at https://github.com/example/shop/blob/main/config.js on " in text
    assert "<https" not in text
