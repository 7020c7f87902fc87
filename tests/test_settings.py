from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import REGION_URLS, Secret, SettingsError, load_settings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "shh-signing",
    "COVEO_ACCESS_TOKEN": "coveo-oauth-token",
    "APIKEYID_ALLOWED_USERS": "U012AB, W0XYZ",
}


def test_valid_settings() -> None:
    s = load_settings(BASE)
    assert s.coveo_platform_url == REGION_URLS["us"]
    assert s.allowed_users == frozenset({"U012AB", "W0XYZ"})
    assert s.port == 3000 and not s.socket_mode


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"COVEO_REGION": "mars", "PORT": "http", "APIKEYID_ALLOWED_USERS": "bob"})
    text = caught.value.explain()
    for name in (
        "COVEO_REGION",
        "PORT",
        "COVEO_ACCESS_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "bob",
    ):
        assert name in text
    assert ".env.example" in text


def test_nobody_allowed_refuses_to_start() -> None:
    env = {k: v for k, v in BASE.items() if k != "APIKEYID_ALLOWED_USERS"}
    with pytest.raises(SettingsError, match="Nobody may use the bot"):
        load_settings(env)
    assert load_settings({**env, "APIKEYID_ALLOW_EVERYONE": "true"}).allow_everyone


def test_socket_mode_needs_no_signing_secret() -> None:
    env = {k: v for k, v in BASE.items() if k != "SLACK_SIGNING_SECRET"}
    assert load_settings({**env, "SLACK_APP_TOKEN": "xapp-1-abc"}).socket_mode


@pytest.mark.parametrize("region", ["us", "eu", "au", "ca", "hipaa"])
def test_regions(region: str) -> None:
    assert load_settings({**BASE, "COVEO_REGION": region.upper()}).coveo_platform_url == REGION_URLS[region]


@pytest.mark.parametrize("name", ["COVEO_PLATFORM_URL", "SLACK_API_URL"])
def test_urls_must_be_https_unless_loopback(name: str) -> None:
    with pytest.raises(SettingsError, match="https"):
        load_settings({**BASE, name: "http://example.com"})
    assert load_settings({**BASE, name: "http://127.0.0.1:8080"})
    assert load_settings({**BASE, name: "http://localhost:8080"})


def test_secrets_are_masked_in_repr() -> None:
    s = load_settings(BASE)
    shown = repr(s) + str(s)
    for secret in ("xoxb-1-2-abc", "shh-signing", "coveo-oauth-token"):
        assert secret not in shown
    assert f"{Secret('value')}" == "Secret('****')"


def test_api_key_token_warns() -> None:
    s = load_settings({**BASE, "COVEO_ACCESS_TOKEN": "xx12345678-aaaa-bbbb-cccc-dddddddddddd"})
    assert any("API key" in w for w in s.warnings)


def test_token_file(tmp_path: Path) -> None:
    env = {k: v for k, v in BASE.items() if k != "COVEO_ACCESS_TOKEN"}
    token = tmp_path / "token"
    token.write_text("from-file\n")
    s = load_settings({**env, "COVEO_ACCESS_TOKEN_FILE": str(token)})
    assert s.coveo_access_token == Secret("from-file")
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings({**env, "COVEO_ACCESS_TOKEN_FILE": str(tmp_path / "missing")})


def test_terminal_commands_need_only_coveo() -> None:
    assert load_settings({"COVEO_ACCESS_TOKEN": "t"}, for_slack=False).slack_bot_token is None
