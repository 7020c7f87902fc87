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


SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "COVEO_ACCESS_TOKEN")
SECRET_VALUES = {
    "SLACK_BOT_TOKEN": "xoxb-from-file",
    "SLACK_SIGNING_SECRET": "signing-from-file",
    "SLACK_APP_TOKEN": "xapp-from-file",
    "COVEO_ACCESS_TOKEN": "coveo-from-file",
}


def _read(s: object, name: str) -> str:
    secret = getattr(s, name.lower())
    assert isinstance(secret, Secret)
    return secret.reveal()


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_secret_can_come_from_a_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name.lower()
    path.write_text(SECRET_VALUES[name] + "\n\n")  # `echo` and editors add newlines
    s = load_settings({**BASE, name: "", f"{name}_FILE": str(path)})
    assert _read(s, name) == SECRET_VALUES[name]
    assert SECRET_VALUES[name] in s.secrets()  # so the log handler scrubs it too


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_given_both_ways_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET_VALUES[name])
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: SECRET_VALUES[name], f"{name}_FILE": str(path)})
    assert caught.value.problems == [f"Set {name} or {name}_FILE, not both."]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_an_unreadable_or_empty_secret_file_is_named(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "no-such-file"
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: "", f"{name}_FILE": str(missing)})
    # Named once, with its path and why; no second "is missing" line about the same secret.
    assert caught.value.problems == [f"{name}_FILE cannot be read: {missing} (No such file or directory)."]

    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: "", f"{name}_FILE": str(empty)})
    assert caught.value.problems == [f"{name}_FILE is empty: {empty}."]


def test_a_folder_or_binary_file_is_not_a_secret(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **BASE,
                "SLACK_BOT_TOKEN": "",
                "SLACK_BOT_TOKEN_FILE": str(tmp_path),
                "SLACK_SIGNING_SECRET": "",
                "SLACK_SIGNING_SECRET_FILE": str(binary),
            }
        )
    assert caught.value.problems == [
        f"SLACK_BOT_TOKEN_FILE cannot be read: {tmp_path} (Is a directory).",
        f"SLACK_SIGNING_SECRET_FILE cannot be read: {binary} (not UTF-8 text).",
    ]


def test_secret_file_problems_are_reported_with_the_others(tmp_path: Path) -> None:
    env = {
        **{name: "" for name in SECRET_NAMES},
        **{f"{name}_FILE": str(tmp_path / name) for name in SECRET_NAMES},
        "PORT": "http",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    text = caught.value.explain()
    for name in SECRET_NAMES:
        assert f"{name}_FILE cannot be read: {tmp_path / name}" in text
    assert "PORT" in text and "APIKEYID_ALLOWED_USERS" in text


def test_terminal_commands_ignore_slack_secret_files(tmp_path: Path) -> None:
    env = {"COVEO_ACCESS_TOKEN": "t", "SLACK_BOT_TOKEN_FILE": str(tmp_path / "absent")}
    assert load_settings(env, for_slack=False).slack_bot_token is None
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN_FILE cannot be read"):
        load_settings(env)


def test_a_socket_mode_token_file_needs_no_signing_secret(tmp_path: Path) -> None:
    path = tmp_path / "app-token"
    path.write_text("xapp-1-abc\n")
    env = {k: v for k, v in BASE.items() if k != "SLACK_SIGNING_SECRET"}
    assert load_settings({**env, "SLACK_APP_TOKEN_FILE": str(path)}).socket_mode
    # A bad app token from a file is checked like one from the environment.
    path.write_text("xoxb-not-an-app-token\n")
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN must be an app-level token"):
        load_settings({**env, "SLACK_APP_TOKEN_FILE": str(path)})
