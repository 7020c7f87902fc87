"""Operating it: /metrics, /readyz and /healthz of the real bot, over HTTP, in both modes."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ALLOWED_USER, SIGNING_SECRET, BotProcess, is_interim, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, Fault, api_key
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(bot: BotProcess) -> tuple[str, Samples]:
    response = bot.client.get(f"{bot.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def ready(bot: BotProcess) -> tuple[int, dict[str, Any]]:
    response = bot.client.get(f"{bot.url}/readyz")
    return response.status_code, response.json()


def wait_ready(bot: BotProcess, status: int, timeout: float = 15) -> dict[str, Any]:
    end = time.monotonic() + timeout
    code, body = ready(bot)
    while code != status and time.monotonic() < end:
        time.sleep(0.05)
        code, body = ready(bot)
    assert code == status, body
    return body


def test_metrics_count_each_outcome_once_and_hold_nothing_a_user_sent(
    start_bot, fake_coveo: FakeCoveo
) -> None:
    bot = start_bot()  # its own process: the counts start at zero
    found_org, failing_org = new_org(), new_org()
    key = api_key("Quarterly metrics export key")
    fake_coveo.add_org(found_org, [key])
    fake_coveo.add_org(failing_org, [api_key("never reached")])
    fake_coveo.faults[failing_org].append(Fault(status=500))  # not retried: one error answer

    assert key["id"] in message_text(bot.ask(f"{found_org} Quarterly metrics export key"))
    refused = bot.ask(f"{found_org} Quarterly metrics export key", user="U0OUTSIDER")
    assert key["id"] not in message_text(refused)
    assert "Coveo" in message_text(bot.ask(f"{failing_org} some other key"))

    text, samples = scrape(bot)
    commands = {
        dict(labels)["outcome"]: count
        for (name, labels), count in samples.items()
        if name == "apikeyid_commands_total" and count
    }
    assert commands == {"found": 1, "denied": 1, "error": 1}
    assert value(samples, "apikeyid_commands_total", kind="command", outcome="found") == 1
    assert value(samples, "apikeyid_access_denied_total", reason="not_listed") == 1
    assert value(samples, "apikeyid_command_duration_seconds_count", kind="command") == 3
    assert value(samples, "apikeyid_ack_duration_seconds_count", kind="command") == 3
    assert value(samples, "apikeyid_coveo_requests_total", region="us", status="200") == 1
    assert value(samples, "apikeyid_coveo_requests_total", region="us", status="500") == 1
    assert value(samples, "apikeyid_coveo_request_duration_seconds_count", region="us") == 2
    assert value(samples, "apikeyid_cache_lookups_total", result="miss") == 2
    assert value(samples, "apikeyid_in_flight") == 0
    assert value(samples, "apikeyid_coveo_token_rejected", region="us") == 0
    assert value(samples, "apikeyid_response_url_failures_total") == 0

    # Same org and name again: the key list comes from the cache.
    bot.ask(f"{found_org} Quarterly metrics export key")
    _, samples = scrape(bot)
    assert value(samples, "apikeyid_cache_lookups_total", result="hit") == 1

    # Nothing the test sent appears anywhere in the text: no user, team, channel, org, name or id.
    for sent in (
        ALLOWED_USER,
        "U0OUTSIDER",
        "T0001",
        "C0SUPPORT",
        "deprecated-verification-token",
        found_org,
        failing_org,
        "Quarterly",
        "some other key",
        key["id"],
        "/response/",
        SIGNING_SECRET,
        BOT_TOKEN,
        GOOD_TOKEN,
    ):
        assert sent not in text, sent
    assert "apikeyid_access_list_age_seconds" not in text  # no user groups configured


def test_an_answer_that_cannot_be_posted_is_counted(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")  # the answer follows the ack on response_url
    org = new_org()
    fake_coveo.add_org(org, [api_key("lost answer")])
    fake_slack.response_faults.append(500)  # may have arrived: not sent again, so lost
    response, url = bot.send(f"{org} lost answer")
    assert is_interim(response.json())
    end = time.monotonic() + 10
    samples: Samples = {}
    while value(samples, "apikeyid_response_url_failures_total") < 1 and time.monotonic() < end:
        time.sleep(0.05)
        _, samples = scrape(bot)
    assert value(samples, "apikeyid_response_url_failures_total") == 1
    assert value(samples, "apikeyid_commands_total", kind="command", outcome="found") == 1
    assert fake_slack.answers_for(url) == []


def test_readyz_is_200_when_slack_and_coveo_are_fine(bot: BotProcess) -> None:
    assert ready(bot) == (200, {"ready": True, "reasons": []})
    assert bot.client.get(f"{bot.url}/healthz").status_code == 200


def test_readyz_is_503_while_coveo_rejects_the_token_until_its_file_holds_a_good_one(
    start_bot, fake_coveo: FakeCoveo, tmp_path: Path
) -> None:
    token_file = tmp_path / "coveo-token"
    token_file.write_text("coveo-revoked-token-00000000\n", encoding="utf-8")
    bot = start_bot(COVEO_ACCESS_TOKEN="", COVEO_ACCESS_TOKEN_FILE=str(token_file))
    org = new_org()
    key = api_key("rotated")
    fake_coveo.add_org(org, [key])
    assert ready(bot)[0] == 200  # nothing known yet: Coveo has not been asked
    assert "COVEO_ACCESS_TOKEN" in message_text(bot.ask(f"{org} rotated"))  # "ask the admin to rotate"
    code, body = ready(bot)
    assert (code, body) == (503, {"ready": False, "reasons": ["coveo_token_rejected:us"]})
    _, samples = scrape(bot)
    assert value(samples, "apikeyid_coveo_token_rejected", region="us") == 1
    assert value(samples, "apikeyid_coveo_requests_total", region="us", status="401") >= 1
    assert bot.client.get(f"{bot.url}/healthz").status_code == 200  # alive: no restart would help
    # An unready bot gets no commands, so nothing else would ever try the rotated token.
    token_file.write_text(GOOD_TOKEN + "\n", encoding="utf-8")
    assert ready(bot) == (200, {"ready": True, "reasons": []})
    assert key["id"] in message_text(bot.ask(f"{org} rotated"))


def test_readyz_is_503_with_a_wrong_coveo_token_from_the_environment(
    start_bot, fake_coveo: FakeCoveo
) -> None:
    bot = start_bot(COVEO_ACCESS_TOKEN="coveo-wrong-token-11111111")
    org = new_org()
    fake_coveo.add_org(org, [api_key("any")])
    bot.ask(f"{org} any")
    assert ready(bot) == (503, {"ready": False, "reasons": ["coveo_token_rejected:us"]})


def test_readyz_is_503_until_slack_auth_test_succeeds(start_bot, fake_slack: FakeSlack) -> None:
    fake_slack.auth_test_fails = True
    try:
        bot = start_bot()
        code, body = ready(bot)
        assert (code, body["reasons"]) == (503, ["slack_auth_pending"])
        assert bot.client.get(f"{bot.url}/healthz").status_code == 200
    finally:
        fake_slack.auth_test_fails = False
    wait_ready(bot, 200)  # auth.test is retried in the background (after 2 s, then 4 s)


def test_socket_mode_serves_metrics_and_readyz_on_its_health_port_and_drains_unready(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    bot = start_bot(SLACK_SIGNING_SECRET="", SLACK_APP_TOKEN=APP_TOKEN, APIKEYID_INLINE_BUDGET="0")
    wait_ready(bot, 200)
    assert bot.client.get(f"{bot.url}/healthz").json()["mode"] == "socket"

    org = new_org()
    key = api_key("socket metrics")
    fake_coveo.add_org(org, [key])

    def over_the_socket(text: str) -> tuple[dict[str, Any], str]:
        assert bot.wait_for_health("socket_connected")["socket_connected"] is True
        body, response_url = bot.command_body(text)
        envelope = fake_slack.send_slash_command(dict(parse_qsl(body)))
        return fake_slack.wait_for_envelope(envelope)["payload"], response_url

    ack, url = over_the_socket(f"{org} socket metrics")
    assert is_interim(ack)
    [answer] = fake_slack.wait_for_answers(url)
    assert key["id"] in message_text(answer)
    end = time.monotonic() + 5
    _, samples = scrape(bot)
    while not value(samples, "apikeyid_commands_total", kind="command", outcome="found"):
        assert time.monotonic() < end
        time.sleep(0.05)
        _, samples = scrape(bot)
    assert value(samples, "apikeyid_ack_duration_seconds_count", kind="command") == 1

    # A slow command in flight, then SIGTERM: the health port stays up through the drain and
    # says the bot is not ready, while the command still gets its answer.
    slow = new_org()
    fake_coveo.add_org(slow, [key])
    fake_coveo.faults[slow].append(Fault(status=503, delay=2.0))
    ack, url = over_the_socket(f"{slow} socket metrics")
    assert is_interim(ack)
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    body = wait_ready(bot, 503, timeout=5)
    assert "draining" in body["reasons"]
    _, samples = scrape(bot)
    assert value(samples, "apikeyid_in_flight") == 1
    assert bot.stop(None) == 0  # the one SIGTERM above
    [answer] = fake_slack.answers_for(url)
    assert key["id"] in message_text(answer)


def test_one_regions_rejected_token_leaves_the_bot_ready_for_the_others(
    start_bot, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    # EU's token is revoked, US's is good: every replica shares the tokens, so unready here would
    # take the US answers away too, and EU users would get Slack's error instead of the bot's advice.
    bot = start_bot(
        COVEO_ACCESS_TOKEN="",
        COVEO_PLATFORM_URL="",
        COVEO_ACCESS_TOKEN_US=GOOD_TOKEN,
        COVEO_PLATFORM_URL_US=fake_coveo.url,
        COVEO_ACCESS_TOKEN_EU="coveo-eu-revoked-token-0000",
        COVEO_PLATFORM_URL_EU=fake_coveo_eu.url,
    )
    eu_org, us_org = new_org(), new_org()
    fake_coveo_eu.add_org(eu_org, [api_key("eu key")])
    us_key = api_key("us key")
    fake_coveo.add_org(us_org, [us_key])
    assert "COVEO_ACCESS_TOKEN_EU" in message_text(
        bot.ask(f"https://platform-eu.cloud.coveo.com/admin/#/{eu_org}/ eu key")
    )
    assert ready(bot) == (200, {"ready": True, "reasons": [], "degraded": ["coveo_token_rejected:eu"]})
    _, samples = scrape(bot)
    assert value(samples, "apikeyid_coveo_token_rejected", region="eu") == 1  # what to alert on
    assert us_key["id"] in message_text(bot.ask(f"{us_org} us key"))
