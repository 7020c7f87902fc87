"""Diagnose, not only find: the real bot process against keys in Coveo's real shape.

Each status and exposure severity renders its line and flag; `is:exposed`, `is:disabled`,
`is:expiring` and `is:unused` list exactly the right keys, most urgent first, paged (in a
message and in the modal) with the qualifier kept; the console link and the follow-up request
use the key's region; Coveo's error shapes name their cause.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BotProcess, buttons, message_text, new_org
from tests.e2e.test_regions import region_env
from tests.e2e.test_setup_and_lookups import coveo_env, run_cli
from tests.fakes.coveo import (
    DAY_MS,
    MISSING,
    FakeCoveo,
    Fault,
    api_key,
    exposure_report,
    key_in_status,
    now_ms,
)
from tests.fakes.slack import FakeSlack
from tests.slack_payloads import click, submission

# Words of each status line (what to do), and its flag.
STATUS_LINES = {
    "ENABLED": ("enabled: the key works", None),
    "DISABLED": ("An administrator can re-enable it", "⛔ disabled"),
    "DISABLED_FOR_INACTIVITY": ("disabled for inactivity since", "⛔ disabled"),
    "EXPIRED": ("It cannot be re-enabled", "⌛ expired"),
    "SOON_TO_BE_EXPIRED": ("expires soon", "⏳ expires in"),
    "SOON_TO_BE_DISABLED": ("about to be disabled for inactivity", "💤 unused for 170 days"),
    "DISABLED_EXPOSED": ("do not re-enable it", "🚨 exposed (CRITICAL)"),
}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN")
LISTED_ID = re.compile(r"`(fakekey\d{6}[a-z]+)`")


def listed_ids(message: dict) -> list[str]:
    return LISTED_ID.findall(message_text(message).split("\n", 1)[1])


@pytest.fixture(scope="module")
def care_org(fake_coveo: FakeCoveo) -> Iterator[tuple[str, dict[str, dict]]]:
    """One org holding a key per status, an enabled key per exposure severity, and healthy keys."""
    org = new_org()
    now = now_ms()
    keys = {f"status {s}": key_in_status(f"status {s}", s) for s in STATUS_LINES}
    keys |= {
        f"severity {s}": api_key(
            f"severity {s}", exposureReport=exposure_report(s, found_ms=now - 40 * DAY_MS)
        )
        for s in SEVERITIES
    }
    keys["never used search"] = api_key("never used search", lastUsedDate=MISSING)
    keys["expiring search"] = api_key("expiring search", expirationDate=now + 20 * DAY_MS)
    keys["healthy search"] = api_key("healthy search", expirationDate=now + 200 * DAY_MS)
    keys["is:exposed"] = api_key("is:exposed")  # a display name that looks like a qualifier
    fake_coveo.add_org(org, list(keys.values()))
    yield org, keys


@pytest.mark.parametrize("status", sorted(STATUS_LINES))
def test_each_status_renders_its_line_and_flag(
    bot: BotProcess, care_org: tuple[str, dict[str, dict]], status: str
) -> None:
    org, keys = care_org
    key = keys[f"status {status}"]
    text = message_text(bot.ask(f"{org} {key['id']}"))
    words, flag = STATUS_LINES[status]
    assert words in text
    if flag:
        assert flag in text
    else:
        assert not any(f in text for f in ("⛔", "⌛", "⏳", "🚨", "💤"))
    assert "*Follow-up:* `GET https://platform.cloud.coveo.com/rest/organizations/" in text


@pytest.mark.parametrize("severity", SEVERITIES)
def test_each_exposure_severity_renders_where_and_when(
    bot: BotProcess, care_org: tuple[str, dict[str, dict]], severity: str
) -> None:
    org, _ = care_org
    text = message_text(bot.ask(f"{org} severity {severity}"))
    assert f"🚨 exposed ({severity})" in text
    assert "*Exposed:* 🚨 severity" in text
    assert "on GitHub at <https://github.com/example/shop/blob/main/config.js|github.com/example/shop" in text
    assert "re-enabling it does not make it safe" in text
    assert "xx****" not in text and "********" not in text


def test_is_exposed_lists_exactly_the_exposed_keys_most_severe_first(
    bot: BotProcess, care_org: tuple[str, dict[str, dict]]
) -> None:
    org, keys = care_org
    answer = bot.ask(f"{org} is:exposed")
    text = message_text(answer)
    assert f"6 of {len(keys)} API keys in `{org}` (US region) are exposed" in text
    expected = [keys["severity CRITICAL"]["id"], keys["status DISABLED_EXPOSED"]["id"]]
    expected += [keys[f"severity {s}"]["id"] for s in SEVERITIES[1:]]
    # Both CRITICAL: the one still working first (it can still be used by whoever found it),
    # then the one already disabled; then by severity.
    assert listed_ids(answer) == expected
    assert keys["is:exposed"]["id"] not in text  # a name that looks like a qualifier is not exposed
    assert buttons(answer)["apikeyid_open_console"] == ""


@pytest.mark.parametrize(
    ("query", "names"),
    [
        # exposed first; then the most recently disabled (3 days ago, then 5)
        ("is:disabled", ["status DISABLED_EXPOSED", "status DISABLED", "status DISABLED_FOR_INACTIVITY"]),
        (
            "is:expiring",
            ["status EXPIRED", "status SOON_TO_BE_EXPIRED", "expiring search", "status SOON_TO_BE_DISABLED"],
        ),
        # never used first; then the longest unused (200 days, then 170)
        ("is:unused", ["never used search", "status DISABLED_FOR_INACTIVITY", "status SOON_TO_BE_DISABLED"]),
        ("is:unused search", ["never used search"]),
        ("search is:expiring", ["expiring search"]),
        ("is:exposed is:disabled", ["status DISABLED_EXPOSED"]),
    ],
)
def test_each_qualifier_lists_exactly_the_right_keys_in_order(
    bot: BotProcess, care_org: tuple[str, dict[str, dict]], query: str, names: list[str]
) -> None:
    org, keys = care_org
    answer = bot.ask(f"{org} {query}")
    assert listed_ids(answer) == [keys[n]["id"] for n in names]
    # Of the keys the name matches, when the query has one.
    of = [n for n in keys if "search" in n] if "search" in query else keys
    assert f"{len(names)} of {len(of)} API key" in message_text(answer)


def test_a_quoted_qualifier_is_a_name(bot: BotProcess, care_org: tuple[str, dict[str, dict]]) -> None:
    org, keys = care_org
    text = message_text(bot.ask(f'{org} "is:exposed"'))
    assert f"API key `{keys['is:exposed']['id']}` is “is:exposed”" in text


def test_an_unknown_qualifier_gets_one_line_naming_the_valid_ones(
    bot: BotProcess, fake_coveo: FakeCoveo
) -> None:
    org = new_org()
    before = len(fake_coveo.requests)
    answer = bot.ask(f"{org} is:leaked")
    assert len(answer["blocks"]) == 1 and "\n" not in answer["blocks"][0]["text"]["text"]
    text = message_text(answer)
    assert "`is:leaked` is not a filter I know" in text
    assert all(q in text for q in ("is:exposed", "is:disabled", "is:expiring", "is:unused"))
    assert len(fake_coveo.requests) == before  # refused before asking Coveo


def test_a_hygiene_listing_is_paged_and_the_buttons_keep_the_qualifier(
    bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    org = new_org()
    unused = [api_key(f"idle {i:03d}", lastUsedDate=now_ms() - (100 + i) * DAY_MS) for i in range(130)]
    fake_coveo.add_org(org, [*unused, *(api_key(f"busy {i}") for i in range(20))])
    first = bot.ask(f"{org} is:unused")
    assert "130 of 150 API keys" in message_text(first) and "Showing 1–100 of 130, most urgent first" in (
        message_text(first)
    )
    assert listed_ids(first)[0] == unused[-1]["id"]  # the longest unused first
    value = buttons(first)["apikeyid_page_next"]
    assert json.loads(value)["q"] == "is:unused"
    response_url = fake_slack.new_response_url()
    bot.interact(click("apikeyid_page_next", value, user_id="U0ALLOWED", response_url=response_url))
    [second] = fake_slack.wait_for_answers(response_url)
    assert "Showing 101–130 of 130" in message_text(second)
    assert set(listed_ids(first)) | set(listed_ids(second)) == {k["id"] for k in unused}
    assert "busy" not in message_text(second)


def test_a_hygiene_listing_pages_in_the_modal(
    bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key(f"old {i:03d}", lastUsedDate=MISSING) for i in range(120)])
    view = bot.interact(submission(org, "is:unused", user_id="U0ALLOWED")).json()["view"]
    assert "120 of 120 API keys" in message_text(view)
    before = len(fake_slack.views_of("views.update", timeout=0))
    bot.interact(
        click(
            "apikeyid_page_next", buttons(view)["apikeyid_page_next"], user_id="U0ALLOWED", view_id="V0CARE"
        )
    )
    updated = fake_slack.views_of("views.update", count=before + 1)[before]
    assert updated["view_id"] == "V0CARE" and "Showing 101–120 of 120" in message_text(updated["view"])


def test_console_link_and_follow_up_use_the_keys_region(
    start_bot, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    bot = start_bot(**region_env(fake_coveo, fake_coveo_eu))
    org = new_org()
    key = key_in_status("eu key", "DISABLED_EXPOSED")
    fake_coveo_eu.add_org(org, [key])
    answer = bot.ask(f"{org} eu key")
    text = message_text(answer)
    assert f"`GET https://platform-eu.cloud.coveo.com/rest/organizations/{org}/apikeys/{key['id']}`" in text
    [link] = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")]
    assert link["url"] == f"https://platform-eu.cloud.coveo.com/admin/#/{org}/organization/api-access/"
    assert link["text"]["text"] == "Open in Coveo"
    # Slack sends the link's click too: it is acked, not refused.
    clicked = bot.interact(click("apikeyid_open_console", "", user_id="U0ALLOWED", response_url=""))
    assert clicked.status_code == 200


def test_the_terminal_and_json_carry_the_same_facts(tmp_path: Path, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    gone = key_in_status("gone", "DISABLED_EXPOSED")
    fake_coveo.add_org(
        org, [api_key("fine"), gone, api_key("leaking", exposureReport=exposure_report("LOW"))]
    )
    env = coveo_env(fake_coveo)
    listed = run_cli(["lookup", "--json", org, "is:exposed"], env, str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["needs"] == ["exposed"] and data["matched"] == 2 and data["total"] == 3
    first = data["keys"][0]
    assert first["id"] == gone["id"] and first["exposureReport"]["severity"] == "CRITICAL"
    assert "do not re-enable it" in first["statusMeaning"] and "github.com" in first["exposure"]
    assert (
        first["followUpRequest"]
        == f"GET https://platform.cloud.coveo.com/rest/organizations/{org}/apikeys/{gone['id']}"
    )
    assert first["consoleUrl"].endswith(f"/admin/#/{org}/organization/api-access/")
    assert first["privilegesInWords"] == ["query the search index"]
    text = run_cli(["lookup", org, "is:exposed"], env, str(tmp_path))
    assert "2 of 3 API keys" in text.stdout and "🚨 exposed (CRITICAL)" in text.stdout
    assert (
        f"Open in Coveo: https://platform.cloud.coveo.com/admin/#/{org}/organization/api-access/"
        in text.stdout
    )
    bad = run_cli(["lookup", org, "is:foo"], env, str(tmp_path))
    assert bad.returncode == 2 and "is:exposed" in bad.stderr


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (
            Fault(
                status=403, body="<html/>", content_type="text/html", headers={"x-coveo-waf-action": "block"}
            ),
            "web application firewall blocked",
        ),
        (
            Fault(status=404, body="<html>Not found</html>", content_type="text/html"),
            "answered with a web page",
        ),
        (
            Fault(status=400, body='{"title": "INVALID_ORGANIZATION_ID", "detail": "Malformed id"}'),
            "HTTP 400, `INVALID_ORGANIZATION_ID`: Malformed id",
        ),
    ],
)
def test_coveo_error_shapes_name_their_cause(
    bot: BotProcess, fake_coveo: FakeCoveo, fault: Fault, words: str
) -> None:
    org = new_org()
    fake_coveo.faults[org].append(fault)
    assert words in message_text(bot.ask(f"{org} k"))
