"""Installing and running for real: Socket Mode, the doctor, the terminal lookup, and the richer lookups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import parse_qsl

from tests.conftest import ALLOWED_USER, ROOT, BotProcess, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key, exposure_report
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack


def run_cli(args: list[str], env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def coveo_env(fake_coveo: FakeCoveo, token: str = GOOD_TOKEN) -> dict[str, str]:
    return {
        "COVEO_ACCESS_TOKEN": token,
        "COVEO_PLATFORM_URL": fake_coveo.url,
        "APIKEYID_ANSWER_DEADLINE": "5",
    }


def test_socket_mode_answers_over_the_socket(start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> None:
    bot = start_bot(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    health = bot.wait_for_health("socket_connected")
    assert health["mode"] == "socket" and health["socket_connected"] is True
    org = new_org()
    key = api_key("over the socket")
    fake_coveo.add_org(org, [key])
    body, response_url = bot.command_body(f"{org} over the socket")
    envelope = fake_slack.send_slash_command(dict(parse_qsl(body)))
    # The answer is the envelope's ack itself (one message), and nothing is posted after it.
    assert key["id"] in message_text(fake_slack.wait_for_envelope(envelope)["payload"])
    assert fake_slack.answers_for(response_url) == []
    # HTTP Slack events are not accepted in Socket Mode (there is no signing secret).
    assert bot.client.post(f"{bot.url}/slack/events", content=body).status_code == 404
    assert bot.stop() == 0  # SIGTERM: disconnect, drain, exit cleanly


def test_empty_environment_names_what_is_missing(tmp_path) -> None:
    result = run_cli([], {}, str(tmp_path))
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "COVEO_ACCESS_TOKEN", "APIKEYID_ALLOWED_USERS"):
        assert name in result.stderr
    assert ".env.example" in result.stderr and "Traceback" not in result.stderr


def test_dotenv_is_read_and_real_environment_wins(tmp_path, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("from dotenv")])
    (tmp_path / ".env").write_text(f"COVEO_ACCESS_TOKEN=wrong-token\nCOVEO_PLATFORM_URL={fake_coveo.url}\n")
    result = run_cli(["lookup", org, "from", "dotenv"], {"COVEO_ACCESS_TOKEN": GOOD_TOKEN}, str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_terminal_lookup_text_and_json(tmp_path, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("R&D <main> key", value="xx********-****-****-****-********beef")
    fake_coveo.add_org(org, [key])
    text = run_cli(["lookup", org, "r&d <main> key"], coveo_env(fake_coveo), str(tmp_path))
    assert text.returncode == 0, text.stderr
    assert key["id"] in text.stdout and "R&D <main> key" in text.stdout
    as_json = run_cli(["lookup", "--json", org, "R&D <main> key"], coveo_env(fake_coveo), str(tmp_path))
    data = json.loads(as_json.stdout)
    assert data["keys"][0]["id"] == key["id"]
    assert data["keys"][0]["valueEndsWith"] == "beef"
    assert "xx****" not in as_json.stdout
    missing = run_cli(["lookup", org, "nope"], coveo_env(fake_coveo), str(tmp_path))
    assert missing.returncode == 1 and "No API key" in missing.stdout


def test_doctor_healthy(tmp_path, fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a"), api_key("b")])
    env = {
        **coveo_env(fake_coveo),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "s3cret-signing",
        "SLACK_API_URL": fake_slack.api_url,
        "APIKEYID_ALLOWED_USERS": ALLOWED_USER,
    }
    result = run_cli(["check", org], env, str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "All good" in result.stdout and "can list the 2 API keys" in result.stdout
    assert "connected as bot" in result.stdout and "1 user(s)" in result.stdout
    for secret in (BOT_TOKEN, GOOD_TOKEN, "s3cret-signing"):
        assert secret not in result.stdout + result.stderr


def test_doctor_reports_each_problem_with_its_fix(
    tmp_path, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    env = {
        **coveo_env(fake_coveo, token="token-of-another-region"),
        "COVEO_REGION": "eu",
        "SLACK_BOT_TOKEN": "xoxb-0-0-revoked",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": fake_slack.api_url,
        "APIKEYID_ALLOW_EVERYONE": "true",
    }
    result = run_cli(["check"], env, str(tmp_path))
    assert result.returncode == 1
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stdout
    assert "Coveo rejected COVEO_ACCESS_TOKEN" in result.stdout and "EU" in result.stdout
    assert "every member of the workspace who is not a guest" in result.stdout
    assert "token-of-another-region" not in result.stdout


def test_pasted_admin_console_links(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("linked")
    fake_coveo.add_org(org, [key])
    for link in (
        f"https://platform.cloud.coveo.com/admin/#/{org}/search/api-keys",
        f"<https://platform-eu.cloud.coveo.com/admin/#/{org}/home|Coveo admin console>",
        f"https://{org}.admin.org.coveo.com/admin/#/{org}/",
    ):
        assert key["id"] in message_text(bot.ask(f"{link} linked")), link


def test_value_tail_and_reverse_lookup(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("tail key", value="xx********-****-****-****-********1b3e")
    fake_coveo.add_org(org, [api_key("other"), key])
    for query in ("…1b3e", "*1b3e", "...1B3E"):
        text = message_text(bot.ask(f"{org} {query}"))
        assert key["id"] in text and "end of the value" in text, query
    text = message_text(bot.ask(f"{org} {key['id']}"))
    assert "tail key" in text and "2 API keys" not in text


def test_disabled_expired_and_exposed_keys_are_flagged(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(
        org,
        [
            api_key("flagged", enabled=False, status="DISABLED"),
            api_key("flagged", expirationDate=1_600_000_000_000),
            api_key("flagged", exposureReport=exposure_report("HIGH")),  # Coveo's real report
        ],
    )
    text = message_text(bot.ask(f"{org} flagged"))
    assert "⛔ disabled" in text and "⌛ expired" in text and "🚨 exposed" in text
    listing = message_text(bot.ask(org))
    assert "⛔" in listing


def test_unknown_org_gets_did_you_mean(start_bot, fake_coveo: FakeCoveo) -> None:
    org = "suggestme" + new_org()[3:11]
    fake_coveo.add_org(org, [api_key("k")])
    for shape in ("array", "paged"):
        bot = start_bot()  # a fresh bot: the organization list is cached for minutes
        fake_coveo.org_list_shape = shape
        typo = org[:-1] + ("x" if org[-1] != "x" else "y") + "z"
        text = message_text(bot.ask(f"{typo} k"))
        assert "knows no organization" in text and "Did you mean" in text and org in text, shape
    fake_coveo.org_list_shape = "array"
