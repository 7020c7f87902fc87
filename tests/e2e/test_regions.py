"""Every Coveo region from one bot: the real bot process against one fake Coveo per region.

`fake_coveo` plays US (accepts GOOD_TOKEN only) and `fake_coveo_eu` plays EU (EU_TOKEN only);
each answers 404 for the organizations it does not hold, as a real region does.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALLOWED_USER, BotProcess, message_text, new_org
from tests.e2e.test_setup_and_lookups import run_cli
from tests.fakes.coveo import EU_TOKEN, GOOD_TOKEN, FakeCoveo, Fault, api_key
from tests.fakes.slack import BOT_TOKEN, FakeSlack


def region_env(us: FakeCoveo, eu: FakeCoveo, *, us_token: str = GOOD_TOKEN) -> dict[str, str]:
    return {
        "COVEO_ACCESS_TOKEN": "",  # the one-region form is off
        "COVEO_PLATFORM_URL": "",
        "COVEO_ACCESS_TOKEN_US": us_token,
        "COVEO_PLATFORM_URL_US": us.url,
        "COVEO_ACCESS_TOKEN_EU": EU_TOKEN,
        "COVEO_PLATFORM_URL_EU": eu.url,
        "APIKEYID_ANSWER_DEADLINE": "5",
    }


@pytest.fixture(scope="module")
def regional_bot(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo, fake_slack: FakeSlack
) -> Iterator[BotProcess]:
    """A bot with a US and an EU token and no key cache, so every lookup shows which regions it asks."""
    env = {**region_env(fake_coveo, fake_coveo_eu), "APIKEYID_CACHE_TTL": "0"}
    process = BotProcess(fake_coveo, fake_slack, env).start()
    yield process
    process.stop()


def audit_for(bot: BotProcess, org: str) -> list[dict]:
    end = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in bot.logs().splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("logger") == "apikeyid.audit" and line.get("org") == org]
        if found or time.monotonic() > end:
            return found
        time.sleep(0.02)


def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


class AfterUS(deque[Fault]):
    """EU's fault queue for one org, holding no fault: asked whether it has one, it first waits
    (on EU's own server thread) until US has received the bot's request for the org.

    The bot asks both regions at once and cancels the loser: when EU answered first, US's request
    could be cancelled before it was even sent (under load), and a test counting US's calls failed.
    With EU answering only after US was asked, both calls always land and can be counted."""

    def __init__(self, us: FakeCoveo, org: str) -> None:
        super().__init__()
        self.us, self.org = us, org

    def __bool__(self) -> bool:
        assert eventually(lambda: self.us.calls(self.org) >= 1, timeout=10), "US was never asked"
        return False


def test_an_eu_org_is_found_by_a_bot_with_us_and_eu_tokens(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("Push source key")
    fake_coveo_eu.add_org(org, [key])
    fake_coveo_eu.faults[org] = AfterUS(fake_coveo, org)
    text = message_text(regional_bot.ask(f"{org} Push source key"))
    assert key["id"] in text and "(EU region)" in text
    # Both asked at once: EU answered after US received its request (see AfterUS).
    assert fake_coveo_eu.calls(org) == 1 and fake_coveo.calls(org) == 1
    [audit] = audit_for(regional_bot, org)
    assert audit["outcome"] == "found" and audit["region"] == "eu"
    # Each region got its own token, never the other's (this org's requests: the fake EU is
    # shared by the session, and other tests send it other tokens on purpose).
    asked = [r for r in fake_coveo_eu.requests if r["path"] == f"/rest/organizations/{org}/apikeys"]
    assert asked and {r["authorization"] for r in asked} == {f"Bearer {EU_TOKEN}"}


def test_a_us_org_is_still_found(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    text = message_text(regional_bot.ask(f"{org} k"))
    assert key["id"] in text and "(US region)" in text


def test_the_second_lookup_asks_the_remembered_region_only(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo_eu.add_org(org, [key])
    fake_coveo_eu.faults[org] = AfterUS(fake_coveo, org)
    assert key["id"] in message_text(regional_bot.ask(f"{org} k"))
    assert fake_coveo.calls(org) == 1  # the first lookup asked both
    assert key["id"] in message_text(regional_bot.ask(f"{org} k"))
    assert "(EU region)" in message_text(regional_bot.ask(org))
    assert fake_coveo.calls(org) == 1  # US was not asked again
    assert fake_coveo_eu.calls(org) == 3  # the cache is off: EU answered each time


def test_a_pasted_eu_url_asks_eu_only(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("linked")
    fake_coveo_eu.add_org(org, [key])
    for link in (
        f"https://platform-eu.cloud.coveo.com/admin/#/{org}/organization/api-access",
        f"<https://platform-eu.cloud.coveo.com/admin/#/{org}/home|Coveo admin console>",
    ):
        assert key["id"] in message_text(regional_bot.ask(f"{link} linked")), link
    assert fake_coveo.calls(org) == 0 and fake_coveo_eu.calls(org) == 2


def test_a_pasted_us_url_for_an_eu_org_asks_us_only_and_says_so(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("k")])
    text = message_text(regional_bot.ask(f"https://platform.cloud.coveo.com/admin/#/{org}/ k"))
    assert "knows no organization" in text and "*US* region" in text
    assert fake_coveo_eu.calls(org) == 0


def test_an_org_in_no_region_names_both_regions(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    text = message_text(regional_bot.ask(f"{org} k"))
    assert "knows no organization" in text and "(US, EU)" in text
    assert "AU, CA, HIPAA" in text  # the regions it has no token for
    assert fake_coveo.calls(org) == 1 and fake_coveo_eu.calls(org) == 1
    [audit] = audit_for(regional_bot, org)
    assert audit["outcome"] == "error"
    assert audit["regions_asked"] == {"us": "organization_not_found", "eu": "organization_not_found"}


@pytest.mark.parametrize("status", [401, 419])
def test_a_rejected_eu_token_names_the_variable_to_rotate(
    regional_bot: BotProcess, fake_coveo_eu: FakeCoveo, status: int
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("k")])
    fake_coveo_eu.faults[org].append(Fault(status=status, headers={"X-Request-ID": f"req-{status}"}))
    text = message_text(regional_bot.ask(f"{org} k"))
    assert "rejected the bot's access token for the *EU* region" in text
    assert "rotate `COVEO_ACCESS_TOKEN_EU`" in text
    assert "*US*: no such organization" in text
    assert f"req-{status}" in text


def test_eu_throttling_is_the_answer_when_us_does_not_know_the_org(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("k")])
    # Longer than the bot's 5-second deadline: it answers at once instead of waiting.
    fake_coveo_eu.faults[org].extend(Fault(status=429, headers={"Retry-After": "90"}) for _ in range(5))
    text = message_text(regional_bot.ask(f"{org} k"))
    fake_coveo_eu.faults[org].clear()
    assert "throttling requests in the *EU* region" in text and "90 seconds" in text
    assert "*US*: no such organization" in text
    assert fake_coveo.calls(org) == 1


def test_a_hanging_region_does_not_delay_another_regions_answer(
    regional_bot: BotProcess, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    fake_coveo_eu.faults[org].append(Fault(status=200, delay=30))  # EU hangs for 30 s
    started = time.monotonic()
    text = message_text(regional_bot.ask(f"{org} k", timeout=20))
    elapsed = time.monotonic() - started
    assert key["id"] in text and "(US region)" in text
    assert fake_coveo_eu.calls(org) == 1  # EU was asked too, at the same time
    assert elapsed < 2.5, elapsed  # well under the hang (30 s) and the deadline (5 s)


def test_healthz_lists_the_regions(regional_bot: BotProcess) -> None:
    assert regional_bot.client.get(f"{regional_bot.url}/healthz").json()["regions"] == ["us", "eu"]


def test_terminal_lookup_of_one_region(
    tmp_path: Path, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("cli key")
    fake_coveo_eu.add_org(org, [key])
    env = region_env(fake_coveo, fake_coveo_eu)
    found = run_cli(["lookup", "--json", "--region", "eu", org, "cli key"], env, str(tmp_path))
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["region"] == "eu" and data["keys"][0]["id"] == key["id"]
    assert fake_coveo.calls(org) == 0
    missing = run_cli(["lookup", "--json", "--region", "us", org, "cli key"], env, str(tmp_path))
    assert missing.returncode == 3
    assert json.loads(missing.stdout)["regions"][0] == {
        "region": "us",
        "kind": "organization_not_found",
        "status": 404,
        "code": "ORGANIZATION_NOT_FOUND",
        "request_id": "coveo-organization_not_found",
    }
    anywhere = run_cli(["lookup", "--json", org, "cli key"], env, str(tmp_path))
    assert json.loads(anywhere.stdout)["region"] == "eu"
    unserved = run_cli(["lookup", "--region", "au", org, "cli key"], env, str(tmp_path))
    assert unserved.returncode == 2 and "COVEO_ACCESS_TOKEN_AU" in unserved.stderr


def test_doctor_checks_each_regions_token(tmp_path: Path, fake_slack: FakeSlack) -> None:
    # Fakes of its own, so that the organizations each region sees are known exactly.
    us, eu = FakeCoveo(token=GOOD_TOKEN), FakeCoveo(token=EU_TOKEN)
    us.server.start()
    eu.server.start()
    try:
        seen = new_org()
        us.add_org(seen, [api_key("a")])
        eu.add_org("euorgone", [])
        eu.add_org("euorgtwo", [])
        env = {
            **region_env(us, eu, us_token="expired-us-token-0000"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "s3cret-signing",
            "SLACK_API_URL": fake_slack.api_url,
            "APIKEYID_ALLOWED_USERS": ALLOWED_USER,
        }
        bad = run_cli(["check"], env, str(tmp_path))
        good = run_cli(["check", seen], {**env, "COVEO_ACCESS_TOKEN_US": GOOD_TOKEN}, str(tmp_path))
    finally:
        us.server.stop()
        eu.server.stop()
    assert bad.returncode == 1, bad.stdout
    assert "Coveo regions served (2): US at" in bad.stdout
    assert "PROBLEM Coveo rejected COVEO_ACCESS_TOKEN_US (region US)" in bad.stdout
    assert (
        "ok    Coveo EU: the token is accepted and sees 2 organization(s): euorgone, euorgtwo." in bad.stdout
    )
    assert good.returncode == 0, good.stdout
    assert f"Coveo US: the token is accepted and sees 1 organization(s): {seen}." in good.stdout
    assert f"Coveo US: the token can list the 1 API keys of {seen}" in good.stdout
    assert f"Coveo EU: no organization {seen} in this region" in good.stdout
    for secret in ("expired-us-token-0000", GOOD_TOKEN, EU_TOKEN):
        assert secret not in bad.stdout + bad.stderr + good.stdout + good.stderr


def test_configuring_one_region_both_ways_stops_the_bot(tmp_path: Path, fake_coveo: FakeCoveo) -> None:
    env = {
        "COVEO_ACCESS_TOKEN": GOOD_TOKEN,
        "COVEO_REGION": "eu",
        "COVEO_ACCESS_TOKEN_EU": EU_TOKEN,
        "COVEO_PLATFORM_URL_US": "http://example.com",
    }
    result = run_cli(["lookup", new_org(), "k"], env, str(tmp_path))
    assert result.returncode == 2
    assert "Region EU is configured twice" in result.stderr
    assert "COVEO_PLATFORM_URL_US" in result.stderr  # every problem at once
    assert EU_TOKEN not in result.stderr and GOOD_TOKEN not in result.stderr


def test_no_region_token_appears_in_the_logs(regional_bot: BotProcess) -> None:
    """Runs last in this file: everything the regional bot logged so far."""
    logs = regional_bot.logs()
    assert "apikeyid.audit" in logs
    assert GOOD_TOKEN not in logs and EU_TOKEN not in logs
