"""What the bot answers can be trusted: no forged lines, no outsiders, no lost audit line,
no input that breaks it. Each test here failed before the fix it guards (issue "Trust what it answers")."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.conftest import BotProcess, audit_lines, message_text, new_org, sign
from tests.e2e.test_setup_and_lookups import coveo_env, run_cli
from tests.fakes.coveo import FakeCoveo, Fault, api_key
from tests.fakes.slack import FakeSlack, member
from tests.slack_payloads import submission

ID_FIELD = re.compile(r"\*apiKeyId:\* `([^`\n]*)`")


# 1. Coveo text cannot forge the answer


def test_a_key_name_cannot_forge_an_id_line(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    forged = "Prod key*\n*apiKeyId:* `myorg-FAKE999`"
    real = api_key(forged, description="see https://evil.example @here <!channel>\n*Status:* ENABLED")
    fake_coveo.add_org(org, [real, api_key("Other")])
    answer = bot.ask(f"{org} Prod key")
    ids = [m for block in answer["blocks"] for m in ID_FIELD.findall(block.get("text", {}).get("text", ""))]
    assert ids == [real["id"]]
    assert "myorg-FAKE999" in message_text(answer)  # still shown, as part of the name, inert
    for block in answer["blocks"]:
        text = block.get("text", {})
        if text:
            assert text["verbatim"] is True  # no auto-linked URL, @here or #channel
    listing = bot.ask(org)
    lines = "\n".join(b["text"]["text"] for b in listing["blocks"] if b["type"] == "section")
    assert "`myorg-FAKE999`" not in lines


# 2. "Everyone" means full members of the bot's own workspace


@pytest.fixture
def everyone_bot(start_bot, fake_slack: FakeSlack) -> BotProcess:
    fake_slack.users.update(
        {
            "U0GUEST": member("U0GUEST", is_restricted=True),
            "U0SINGLE": member("U0SINGLE", is_ultra_restricted=True),
            "U0GONE": member("U0GONE", deleted=True),
            "U0APP": member("U0APP", is_bot=True),
            "U0FOREIGN": member("U0FOREIGN", team_id="T0OTHER"),
        }
    )
    bot: BotProcess = start_bot(APIKEYID_ALLOWED_USERS="", APIKEYID_ALLOW_EVERYONE="true")
    return bot


@pytest.mark.parametrize(
    ("user", "fields", "says"),
    [
        ("U0GUEST", {}, "Guests"),
        ("U0SINGLE", {}, "Guests"),
        ("U0GONE", {}, "Deactivated"),
        ("U0APP", {}, "Bots"),
        ("U0FOREIGN", {}, "other workspaces"),
        ("U0MEMBER", {"team_id": "T0OTHER"}, "other workspaces"),
        ("U0NOBODY", {}, "could not confirm"),
    ],
)
def test_everyone_excludes_guests_outsiders_and_the_unknown(
    everyone_bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack, user: str, fields: dict, says: str
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    answer = everyone_bot.ask(f"{org} k", user=user, **fields)
    assert says in message_text(answer)
    assert fake_coveo.calls(org) == 0
    [line] = audit_lines(everyone_bot, 1, user_id=user)
    assert line["outcome"] == "denied" and line["refusal"]


def test_a_full_member_gets_in_and_slack_is_asked_once(
    everyone_bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    asked_before = fake_slack.users_info_calls.count("U0MEMBER")  # other bots of this session asked too
    for _ in range(3):
        assert key["id"] in message_text(everyone_bot.ask(f"{org} k", user="U0MEMBER"))
    assert fake_slack.users_info_calls.count("U0MEMBER") == asked_before + 1


def test_named_users_are_refused_from_another_workspace(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    assert "other workspaces" in message_text(bot.ask(f"{org} k", team_id="T0OTHER"))
    assert fake_coveo.calls(org) == 0


def test_refused_people_are_rate_limited_too(start_bot, fake_slack: FakeSlack) -> None:
    bot = start_bot(APIKEYID_RATE_LIMIT="2")
    for _ in range(2):
        assert "not on the list" in message_text(bot.ask("help", user="U0STRANGER"))
    assert "Try again in" in message_text(bot.ask("help", user="U0STRANGER"))


def test_until_slack_says_who_the_bot_is_everyone_is_refused_at_once(
    start_bot, fake_slack: FakeSlack
) -> None:
    fake_slack.auth_test_fails = True
    try:
        bot = start_bot()
        began = time.monotonic()
        answer = bot.ask("help")
        assert time.monotonic() - began < 2  # no auth.test waited for on the way to the ack
        assert "Slack has not confirmed which workspace" in message_text(answer)
    finally:
        fake_slack.auth_test_fails = False
    end = time.monotonic() + 10  # the bot retries auth.test in the background
    while "How to use" not in message_text(bot.ask("help")) and time.monotonic() < end:
        time.sleep(0.2)
    assert "How to use" in message_text(bot.ask("help"))


# 3. The audit trail does not depend on the log level


def test_audit_lines_are_written_at_log_level_error(start_bot, fake_coveo: FakeCoveo) -> None:
    bot = start_bot(LOG_LEVEL="ERROR")
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    bot.ask(f"{org} k")
    bot.ask("help", user="U0STRANGER")
    bot.ask("not/an/org k")
    found = audit_lines(bot, 2, user_id="U0ALLOWED")
    assert [line["outcome"] for line in found] == ["found", "invalid"]
    assert found[0]["key_ids"] == [key["id"]]
    assert audit_lines(bot, 1, user_id="U0STRANGER")[0]["outcome"] == "denied"
    chatter = [line for line in bot.logs().splitlines() if '"level": "info"' in line]
    assert chatter and all("apikeyid.audit" in line for line in chatter)


def test_the_audit_channel_gets_one_line_per_command(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    bot = start_bot(APIKEYID_AUDIT_CHANNEL="C0SECURITY")
    org = new_org()
    key = api_key("Audited <!channel> key")
    fake_coveo.add_org(org, [key])
    bot.ask(f"{org} Audited")
    end = time.monotonic() + 5
    while not any(org in p.get("text", "") for p in fake_slack.posted) and time.monotonic() < end:
        time.sleep(0.02)
    [line] = [p for p in fake_slack.posted if org in p.get("text", "")]
    assert line["channel"] == "C0SECURITY"
    assert "U0ALLOWED" in line["text"] and "found" in line["text"] and key["id"] in line["text"]
    assert "<!channel>" not in line["text"]
    fake_slack.post_message_fails = True
    try:
        assert key["id"] in message_text(bot.ask(f"{org} Audited"))  # a failing channel changes nothing
    finally:
        fake_slack.post_message_fails = False


# 4. No text in a request changes how it is routed


@pytest.mark.parametrize("field", ["text", "channel_name", "user_name", "team_domain"])
def test_the_word_payload_anywhere_is_just_text(bot: BotProcess, fake_coveo: FakeCoveo, field: str) -> None:
    org = new_org()
    key = api_key("Push payload key")
    fake_coveo.add_org(org, [key])
    fields = {} if field == "text" else {field: "payload-team"}
    answer = bot.ask(f"{org} Push payload key", **fields)
    assert key["id"] in message_text(answer)


# 5. A request that is not Slack's never gets a 500


def test_a_body_that_is_not_utf8_is_refused_not_crashed_on(bot: BotProcess) -> None:
    body = b"\xff\xfetext=x"
    headers = sign("x") | {"X-Slack-Signature": "v0=" + "0" * 64}
    assert bot.client.post(f"{bot.url}/slack/events", content=body, headers=headers).status_code == 401
    timestamp = str(int(time.time()))
    import hashlib
    import hmac

    from tests.conftest import SIGNING_SECRET

    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    signed = headers | {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": timestamp}
    assert bot.client.post(f"{bot.url}/slack/events", content=body, headers=signed).status_code == 400
    assert "Traceback" not in bot.logs()


# 6. Retry-After cannot make the bot hammer Coveo or fail


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


# Header → how many calls Coveo gets: "wait 0 s" still pauses (the floor) and stops at 6 calls;
# a wait longer than the bot's cap is not waited for; an unreadable value means backoff with
# jitter, which the 5 s deadline cuts after 2 to 6 calls.
ODD_RETRY_AFTER = {
    "zero": ("0", (6, 6)),
    "past date": (_http_date(datetime.now(UTC) - timedelta(days=1)), (6, 6)),
    "minus zero zone": ("Wed, 21 Oct 2015 07:28:00 -0000", (6, 6)),
    "four hundred digits": ("9" * 400, (1, 1)),
    "far future": (_http_date(datetime.now(UTC) + timedelta(hours=2)), (1, 1)),
    "superscript two": ("²", (2, 6)),
    "garbage": ("soon", (2, 6)),
}


@pytest.mark.parametrize("value", ODD_RETRY_AFTER, ids=list(ODD_RETRY_AFTER))
def test_any_retry_after_gives_the_throttling_answer_within_six_calls(
    bot: BotProcess, fake_coveo: FakeCoveo, value: str
) -> None:
    header, (fewest, most) = ODD_RETRY_AFTER[value]
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo.faults[org].extend(Fault(status=429, headers={"Retry-After": header}) for _ in range(20))
    answer = message_text(bot.ask(f"{org} k"))
    assert "throttling" in answer and "Try again in" in answer
    assert fewest <= fake_coveo.calls(org) <= most
    fake_coveo.faults[org].clear()


# 7. Smaller holes


def test_a_pasted_url_with_a_101_character_org_is_not_an_org(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    before = len(fake_coveo.requests)
    answer = message_text(bot.ask(f"https://{'a' * 101}.admin.org.coveo.com/admin k"))
    assert "could not find an organization id in that link" in answer
    assert len(fake_coveo.requests) == before


def test_a_trickling_coveo_answer_is_cut_at_the_deadline(start_bot, fake_coveo: FakeCoveo) -> None:
    bot = start_bot(APIKEYID_ANSWER_DEADLINE="2")
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo.faults[org].append(Fault(trickle=1.5))  # each byte in time for a per-read timeout
    began = time.monotonic()
    answer = message_text(bot.ask(f"{org} k"))
    assert "did not answer in time" in answer
    assert time.monotonic() - began < 3


def test_an_endless_coveo_answer_is_refused_with_a_clear_message(
    bot: BotProcess, fake_coveo: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo.faults[org].append(Fault(endless=True))
    answer = message_text(bot.ask(f"{org} k"))
    assert "larger than the bot accepts" in answer


def test_the_terminal_lookup_prints_no_escape_sequences(tmp_path, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("Red \x1b[31mkey\x1b[0m \u202eevil", description="bell\x07")])
    for args in (["lookup", org, "Red"], ["lookup", "--json", org, "Red"]):
        result = run_cli(args, coveo_env(fake_coveo), str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "Red" in result.stdout
        for control in ("\x1b", "\x07", "\u202e"):
            assert control not in result.stdout


def test_a_pasted_key_value_reaches_no_log_audit_channel_or_echo(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    # Support engineers paste what customers send them, a whole key value included: it is found
    # by the end of its value Coveo's mask shows, and the value itself goes nowhere.
    pasted = "xx65151ec3-7b30-4772-a99a-09b4c0f71343"
    secret_parts = (pasted, pasted[2:], "09b4c0f71343", "65151ec3")
    bot = start_bot(APIKEYID_AUDIT_CHANNEL="C0SECURITY", LOG_LEVEL="DEBUG")
    org = new_org()
    key = api_key("Pasted value key", value="xx********-****-****-****-********1343")
    fake_coveo.add_org(org, [key, api_key("Other key")])
    found = bot.ask(f"{org} {pasted}")
    missing = bot.ask(f"{org} the customer sent {pasted}")
    modal = bot.interact(submission(org, pasted, user_id="U0ALLOWED")).json()
    assert key["id"] in message_text(found) and key["id"] in message_text(modal["view"])
    lines = audit_lines(bot, 3, org=org)
    end = time.monotonic() + 5
    while len([p for p in fake_slack.posted if org in p.get("text", "")]) < 3 and time.monotonic() < end:
        time.sleep(0.02)
    posted = [p for p in fake_slack.posted if org in p.get("text", "")]
    assert len(lines) == 3 and len(posted) == 3
    assert {line["query"] for line in lines} == {"…1343", "the customer sent …1343"}
    everything = json.dumps([found, missing, modal, posted]) + bot.logs()
    for part in secret_parts:
        assert part not in everything, part
    # The terminal command too: found by the same end, the value printed nowhere.
    cli = run_cli(["lookup", org, pasted], coveo_env(fake_coveo) | {"LOG_LEVEL": "DEBUG"}, str(bot.workdir))
    assert cli.returncode == 0 and key["id"] in cli.stdout
    for part in secret_parts:
        assert part not in cli.stdout + cli.stderr, part
