"""Running it as a service: secrets from files, the console script, the deployment files."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

from tests.conftest import SIGNING_SECRET, BotProcess, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack


def secret_files(folder: Path, **secrets: str) -> dict[str, str]:
    """Each secret in its own file, ending with newlines as `echo` or an editor leaves them;
    the plain variable set empty, so only the `_FILE` form can work."""
    env = {}
    for name, value in secrets.items():
        path = folder / name.lower()
        path.write_text(value + "\n\n", encoding="utf-8")
        env[name] = ""
        env[f"{name}_FILE"] = str(path)
    return env


def wait_for_health(bot: BotProcess, key: str) -> dict[str, object]:
    end = time.monotonic() + 10
    health: dict[str, object] = bot.client.get(f"{bot.url}/healthz").json()
    while not health.get(key) and time.monotonic() < end:
        time.sleep(0.05)
        health = bot.client.get(f"{bot.url}/healthz").json()
    return health


def test_http_mode_with_every_secret_from_files(start_bot, fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    bot = start_bot(
        **secret_files(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            COVEO_ACCESS_TOKEN=GOOD_TOKEN,
        )
    )
    assert "SLACK_BOT_TOKEN" in bot.env and bot.env["SLACK_BOT_TOKEN"] == ""
    # The fake Slack accepts only the exact bot token: a stray newline would leave auth cold.
    assert wait_for_health(bot, "slack_auth_warm")["slack_auth_warm"] is True
    org = new_org()
    key = api_key("from files")
    fake_coveo.add_org(org, [key])
    # The command is signed with SIGNING_SECRET and Coveo accepts only GOOD_TOKEN: both came from files.
    assert key["id"] in message_text(bot.ask(f"{org} from files"))
    assert bot.stop() == 0


def test_socket_mode_with_every_secret_from_files(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    bot = start_bot(
        SLACK_SIGNING_SECRET="",
        **secret_files(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            COVEO_ACCESS_TOKEN=GOOD_TOKEN,
        ),
    )
    health = wait_for_health(bot, "socket_connected")
    assert health["mode"] == "socket" and health["socket_connected"] is True
    org = new_org()
    key = api_key("over the socket from files")
    fake_coveo.add_org(org, [key])
    body, response_url = bot.command_body(f"{org} over the socket from files")
    fake_slack.send_slash_command(dict(parse_qsl(body)))
    answers = fake_slack.wait_for_answers(response_url)
    assert len(answers) == 1 and key["id"] in message_text(answers[0])
    assert bot.stop() == 0
