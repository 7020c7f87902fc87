"""Only the right people, nothing leaked, no input breaks it: over real HTTP against the real bot."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ALL_LOGS, SECRETS, BotProcess, audit_lines, message_text, new_org, sign
from tests.fakes.coveo import FakeCoveo, api_key
from tests.fakes.slack import FakeSlack


def test_a_user_not_on_the_list_is_denied_and_nothing_is_fetched(
    bot: BotProcess, fake_coveo: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    answer = bot.ask(f"{org} k", user="U0STRANGER")
    assert "not on the list" in message_text(answer)
    assert "APIKEYID_ALLOWED_USERS" in message_text(answer)
    assert fake_coveo.calls(org) == 0


def test_group_members_are_let_in_and_others_are_not(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    fake_slack.usergroups["S0SUPPORT"] = ["U0MEMBER"]
    bot = start_bot(APIKEYID_ALLOWED_USERS="", APIKEYID_ALLOWED_USERGROUPS="S0SUPPORT")
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    assert key["id"] in message_text(bot.ask(f"{org} k", user="U0MEMBER"))
    denied = message_text(bot.ask(f"{org} k", user="U0OUTSIDER"))
    assert "<!subteam^S0SUPPORT>" in denied
    assert fake_coveo.calls(org) == 1


def test_when_slack_cannot_say_who_is_in_a_group_nobody_gets_in(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    fake_slack.usergroups["S0FAILING"] = ["U0MEMBER"]
    fake_slack.usergroups_fail = True
    try:
        bot = start_bot(APIKEYID_ALLOWED_USERS="", APIKEYID_ALLOWED_USERGROUPS="S0FAILING")
        org = new_org()
        fake_coveo.add_org(org, [api_key("k")])
        assert "could not confirm with Slack" in message_text(bot.ask(f"{org} k", user="U0MEMBER"))
        assert fake_coveo.calls(org) == 0
    finally:
        fake_slack.usergroups_fail = False


def test_rate_limit_tells_when_to_try_again(start_bot, fake_coveo: FakeCoveo) -> None:
    bot = start_bot(APIKEYID_RATE_LIMIT="3")
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    for _ in range(3):
        assert "apiKeyId" in message_text(bot.ask(f"{org} k"))
    limited = message_text(bot.ask(f"{org} k"))
    assert "Try again in" in limited and "seconds" in limited
    assert fake_coveo.calls(org) == 1  # the others came from the cache
    assert "Try again in" in message_text(bot.ask("help"))  # the limit comes before anything else


def test_audit_line_per_command(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("audited")
    fake_coveo.add_org(org, [key])
    bot.ask(f"{org} audited")
    bot.ask(f"{org} nothing-like-it")
    bot.ask(f"{org} audited", user="U0NOPE")
    lines = audit_lines(bot, 2, org=org)
    lines += [json.loads(line) for line in bot.logs().splitlines() if '"U0NOPE"' in line]
    found = next(line for line in lines if line.get("outcome") == "found" and line["org"] == org)
    assert found["key_ids"] == [key["id"]]
    assert (
        found["user_id"] == "U0ALLOWED" and found["team_id"] == "T0001" and found["channel_id"] == "C0SUPPORT"
    )
    assert found["query"] == "audited" and found["latency_ms"] >= 0 and found["time"]
    assert found["coveo_request_id"].startswith("req-")
    assert any(line.get("outcome") == "none" for line in lines)
    assert any(line.get("outcome") == "denied" for line in lines)


def test_error_audit_carries_the_coveo_request_id(bot: BotProcess) -> None:
    org = new_org()
    bot.ask(f"{org} x")
    [line] = audit_lines(bot, 1, org=org)
    assert line["outcome"] == "error" and line["error"] == "organization_not_found"
    assert line["coveo_request_id"] == "coveo-organization_not_found"


HOSTILE_ORGS = [
    "my/org",
    "..",
    "../../etc",
    "%2F",
    "my%2Forg",
    "my+org?",
    "org;drop",
    "ünïcödé",
    "ｍｙｏｒｇ",
    "a" * 10_000,
    "org\x00",
    "<@U123>",
]


@pytest.mark.parametrize("org", HOSTILE_ORGS, ids=range(len(HOSTILE_ORGS)))
def test_hostile_org_ids_never_reach_coveo(bot: BotProcess, fake_coveo: FakeCoveo, org: str) -> None:
    before = len(fake_coveo.requests)
    answer = bot.ask(f"{org} key")
    assert "organization id" in message_text(answer)
    assert len(fake_coveo.requests) == before


HOSTILE_NAMES = [
    "<!channel>",
    "<!here|here>",
    "<@U0ALLOWED>",
    "<#C0123|general>",
    "<https://evil.example|click me>",
    "&lt;!everyone&gt;",
    'R&D <prod> "key"',
    "emoji 🔑🚀",
    "\u202eright-to-left\u200f",
    "ctrl\x01\x07\x1b[31mred",
    "`code` *bold* _it_ ~strike~",
    "x" * 4000,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_are_echoed_inert(bot: BotProcess, fake_coveo: FakeCoveo, name: str) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("Ordinary key")])
    answer = bot.ask(f"{org} {name}")
    dumped = json.dumps(answer)
    for live in ("<!channel", "<!here", "<!everyone", "<@U", "<#C", "<https://"):
        assert live not in dumped
    assert "No API key" in message_text(answer) or "apiKeyId" in message_text(answer)


def test_coveo_names_are_escaped_the_same_way(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("<!channel> key", description="<https://evil.example|x>")])
    dumped = json.dumps(bot.ask(f"{org} channel"))
    assert "<!channel" not in dumped and "<https://" not in dumped
    assert "&lt;!channel&gt;" in dumped


def test_oversized_body_is_refused_before_parsing(bot: BotProcess) -> None:
    body = "text=" + "a" * 2_000_000
    response = bot.client.post(f"{bot.url}/slack/events", content=body, headers=sign(body))
    assert response.status_code == 413


def test_refused_requests_log_no_body_or_secret(bot: BotProcess) -> None:
    body, _ = bot.command_body("marker-4f1c help")
    assert (
        bot.client.post(
            f"{bot.url}/slack/events", content=body, headers=sign(body, secret="wrong")
        ).status_code
        == 401
    )
    refused = [line for line in bot.logs().splitlines() if "request refused" in line]
    assert refused
    assert not any("marker-4f1c" in line or "v0=" in line for line in refused)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(org=st.text(max_size=30), name=st.text(max_size=60))
def test_generated_commands_over_http_always_get_one_answer(
    bot: BotProcess, fake_coveo: FakeCoveo, org: str, name: str
) -> None:
    response, response_url = bot.send(f"{org} {name}")
    assert response.status_code == 200
    ack = response.json()
    if ack["text"].startswith("Looking up"):
        assert len(bot.slack.wait_for_answers(response_url)) == 1
    dumped = json.dumps(ack)
    assert "<!channel" not in dumped and "<@U" not in dumped


def test_no_secret_appears_in_any_log_or_reply(
    bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    """Runs after the other tests in this file: everything every bot logged or replied so far."""
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    bot.ask(f"{org} k")
    bot.ask(f"{new_org()} k")
    everything = [path.read_text(errors="replace") for path in ALL_LOGS if path.exists()]
    everything += [json.dumps(answers) for answers in list(fake_slack.answers.values())]
    assert everything
    for text in everything:
        for secret in SECRETS:
            assert secret not in text
        assert "/response/" not in text  # response_url is a credential too
