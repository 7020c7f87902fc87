from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.regions import REGION_URLS
from bot.settings import Secret, Settings, SettingsError, load_settings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "shh-signing",
    "COVEO_ACCESS_TOKEN": "coveo-oauth-token",
    "APIKEYID_ALLOWED_USERS": "U012AB, W0XYZ",
}


def test_valid_settings() -> None:
    s = load_settings(BASE)
    [us] = s.coveo_regions
    assert (us.name, us.platform_url, us.token, us.token_variable) == (
        "us",
        REGION_URLS["us"],
        Secret("coveo-oauth-token"),
        "COVEO_ACCESS_TOKEN",
    )
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
    [only] = load_settings({**BASE, "COVEO_REGION": region.upper()}).coveo_regions
    assert (only.name, only.platform_url) == (region, REGION_URLS[region])


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
    [us] = s.coveo_regions
    assert us.token == Secret("from-file") and us.token_file == token
    assert us.token_variable == "COVEO_ACCESS_TOKEN_FILE"
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings({**env, "COVEO_ACCESS_TOKEN_FILE": str(tmp_path / "missing")})


def test_terminal_commands_need_only_coveo() -> None:
    assert load_settings({"COVEO_ACCESS_TOKEN": "t"}, for_slack=False).slack_bot_token is None


MULTI = {k: v for k, v in BASE.items() if k != "COVEO_ACCESS_TOKEN"}


def test_per_region_tokens_serve_those_regions_only() -> None:
    s = load_settings(
        {
            **MULTI,
            "COVEO_ACCESS_TOKEN_EU": "eu-token",
            "COVEO_ACCESS_TOKEN_HIPAA": "hipaa-token",
            "COVEO_PLATFORM_URL_EU": "http://127.0.0.1:9999/",
        }
    )
    assert s.region_names == ("eu", "hipaa")
    eu, hipaa = s.coveo_regions
    assert (eu.platform_url, eu.token, eu.token_variable) == (
        "http://127.0.0.1:9999",
        Secret("eu-token"),
        "COVEO_ACCESS_TOKEN_EU",
    )
    assert (hipaa.platform_url, hipaa.token) == (REGION_URLS["hipaa"], Secret("hipaa-token"))
    assert {"eu-token", "hipaa-token"} <= set(s.secrets())
    assert "eu-token" not in repr(s) and "hipaa-token" not in repr(s)


def test_both_forms_together_for_different_regions() -> None:
    s = load_settings({**BASE, "COVEO_REGION": "us", "COVEO_ACCESS_TOKEN_EU": "eu-token"})
    assert s.region_names == ("us", "eu")
    assert [r.token_variable for r in s.coveo_regions] == ["COVEO_ACCESS_TOKEN", "COVEO_ACCESS_TOKEN_EU"]
    assert {"coveo-oauth-token", "eu-token"} <= set(s.secrets())


def test_one_region_configured_both_ways_is_refused() -> None:
    with pytest.raises(SettingsError, match="Region EU is configured twice"):
        load_settings({**BASE, "COVEO_REGION": "eu", "COVEO_ACCESS_TOKEN_EU": "eu-token"})


def test_every_region_problem_is_reported_together(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **BASE,
                "COVEO_REGION": "au",
                "COVEO_ACCESS_TOKEN_AU": "au-token",  # twice
                "COVEO_ACCESS_TOKEN_EU": "eu-token",
                "COVEO_ACCESS_TOKEN_EU_FILE": str(tmp_path / "eu"),  # both ways
                "COVEO_ACCESS_TOKEN_CA_FILE": str(tmp_path / "missing"),  # unreadable
                "COVEO_ACCESS_TOKEN_HIPAA": "hipaa-token",
                "COVEO_PLATFORM_URL_HIPAA": "http://example.com",  # plain http
                "COVEO_PLATFORM_URL_US": "https://proxy.example.com",  # no US token
                "PORT": "nope",
            }
        )
    problems = caught.value.problems
    expected = [
        "Region AU is configured twice",
        "Set COVEO_ACCESS_TOKEN_EU or COVEO_ACCESS_TOKEN_EU_FILE, not both",
        "COVEO_ACCESS_TOKEN_CA_FILE cannot be read",
        "COVEO_PLATFORM_URL_HIPAA must use https",
        "COVEO_PLATFORM_URL_US is set but the bot has no token for US",
        "PORT",
    ]
    for text in expected:
        assert any(text in p for p in problems), text
    assert len(problems) == len(expected), problems


def test_per_region_token_files_are_read_and_kept_for_rereading(tmp_path: Path) -> None:
    (tmp_path / "eu").write_text("eu-from-file\n")
    (tmp_path / "ca").write_text("ca-from-file")
    s = load_settings(
        {
            **MULTI,
            "COVEO_ACCESS_TOKEN_EU_FILE": str(tmp_path / "eu"),
            "COVEO_ACCESS_TOKEN_CA_FILE": str(tmp_path / "ca"),
            "COVEO_ACCESS_TOKEN_US": "us-token",
        }
    )
    us, eu, ca = s.coveo_regions
    assert (us.name, us.token_file) == ("us", None)
    assert (eu.name, eu.token, eu.token_file) == ("eu", Secret("eu-from-file"), tmp_path / "eu")
    assert (ca.token, ca.token_variable) == (Secret("ca-from-file"), "COVEO_ACCESS_TOKEN_CA_FILE")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="COVEO_ACCESS_TOKEN_AU_FILE is empty"):
        load_settings({**MULTI, "COVEO_ACCESS_TOKEN_AU_FILE": str(tmp_path / "empty")})


def test_no_token_in_any_form_names_both_forms() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(MULTI)
    [problem] = caught.value.problems
    assert "COVEO_ACCESS_TOKEN is missing" in problem and "COVEO_ACCESS_TOKEN_<REGION>" in problem


def test_one_region_url_without_its_token_is_refused() -> None:
    # COVEO_PLATFORM_URL belongs to the one-region form; silently ignoring it could send a token elsewhere.
    with pytest.raises(SettingsError, match="COVEO_PLATFORM_URL goes with COVEO_ACCESS_TOKEN"):
        load_settings({**MULTI, "COVEO_ACCESS_TOKEN_EU": "t", "COVEO_PLATFORM_URL": "https://x.example.com"})
    s = load_settings({**MULTI, "COVEO_ACCESS_TOKEN_EU": "t", "COVEO_REGION": "eu"})
    assert s.region_names == ("eu",) and any("COVEO_REGION is ignored" in w for w in s.warnings)


SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "COVEO_ACCESS_TOKEN")
SECRET_VALUES = {
    "SLACK_BOT_TOKEN": "xoxb-from-file",
    "SLACK_SIGNING_SECRET": "signing-from-file",
    "SLACK_APP_TOKEN": "xapp-from-file",
    "COVEO_ACCESS_TOKEN": "coveo-from-file",
}


def _read(s: Settings, name: str) -> str:
    secret = s.coveo_regions[0].token if name == "COVEO_ACCESS_TOKEN" else getattr(s, name.lower())
    assert isinstance(secret, Secret)
    return secret.reveal()


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_secret_can_come_from_a_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name.lower()
    path.write_text(SECRET_VALUES[name] + "\n\n")  # `echo` and editors add newlines
    s = load_settings({**BASE, name: "", f"{name}_FILE": str(path)})
    assert _read(s, name) == SECRET_VALUES[name]
    assert SECRET_VALUES[name] in s.secrets()


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


def test_shutdown_delay() -> None:
    assert load_settings(BASE).shutdown_delay == 5.0
    assert load_settings(BASE | {"APIKEYID_SHUTDOWN_DELAY": "0.5"}).shutdown_delay == 0.5
    for bad in ("-1", "soon", "301"):
        with pytest.raises(SettingsError) as caught:
            load_settings(BASE | {"APIKEYID_SHUTDOWN_DELAY": bad})
        assert "APIKEYID_SHUTDOWN_DELAY" in caught.value.explain()


def test_the_configuration_message_says_where_dotenv_is_read() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({})
    text = caught.value.explain()
    assert "directory you start the bot from" in text and "Makefile" not in text


def test_a_token_that_cannot_go_in_a_header_is_refused_naming_its_variable(tmp_path: Path) -> None:
    (tmp_path / "eu").write_text("\ufeffcoveo-eu-token\n", encoding="utf-8")
    env = {**BASE, "COVEO_ACCESS_TOKEN": "has a space", "COVEO_ACCESS_TOKEN_EU_FILE": str(tmp_path / "eu")}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    problems = "\n".join(caught.value.problems)
    assert "COVEO_ACCESS_TOKEN holds a character that cannot be sent in an HTTP header" in problems
    assert "COVEO_ACCESS_TOKEN_EU_FILE holds a character" in problems


def test_region_usergroups_and_suggestions_are_read_per_region() -> None:
    env = {
        **BASE,
        "COVEO_ACCESS_TOKEN": "",
        "COVEO_ACCESS_TOKEN_US": "t-us",
        "COVEO_ACCESS_TOKEN_HIPAA": "t-hipaa",
        "APIKEYID_ALLOWED_USERGROUPS_HIPAA": "S0HIPAA, S0MORE",
        "APIKEYID_SUGGEST_ORGS": "false",
    }
    s = load_settings(env)
    assert s.region_usergroups == {"hipaa": frozenset({"S0HIPAA", "S0MORE"})}
    assert s.suggest_orgs is False and load_settings(BASE).suggest_orgs is True
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {**env, "APIKEYID_ALLOWED_USERGROUPS_EU": "S0EU", "APIKEYID_ALLOWED_USERGROUPS_HIPAA": "bob"}
        )
    problems = "\n".join(caught.value.problems)
    assert "APIKEYID_ALLOWED_USERGROUPS_EU is set but the bot has no token for EU" in problems
    assert "APIKEYID_ALLOWED_USERGROUPS_HIPAA must list Slack ids" in problems


@pytest.mark.parametrize("empty", [",", " , ", ",,"])
def test_a_region_usergroups_list_that_is_set_but_empty_is_a_problem_naming_it(empty: str) -> None:
    env = {**BASE, "COVEO_ACCESS_TOKEN": "", "COVEO_ACCESS_TOKEN_US": "t-us", "COVEO_ACCESS_TOKEN_EU": "t-eu"}
    with pytest.raises(SettingsError) as caught:  # EU would be open to everyone allowed: refuse
        load_settings({**env, "APIKEYID_ALLOWED_USERGROUPS_EU": empty})
    assert any(
        p.startswith("APIKEYID_ALLOWED_USERGROUPS_EU is set but lists no id") for p in caught.value.problems
    )
    with pytest.raises(SettingsError) as caught:
        load_settings({**env, "APIKEYID_ALLOWED_USERGROUPS": empty, "APIKEYID_ALLOWED_USERS": "U0ALLOWED"})
    assert any(
        p.startswith("APIKEYID_ALLOWED_USERGROUPS is set but lists no id") for p in caught.value.problems
    )
    assert (
        load_settings({**env, "APIKEYID_ALLOWED_USERGROUPS_EU": " "}).region_usergroups == {}
    )  # blank: unset


@pytest.mark.parametrize(
    "variable",
    [
        "APIKEYID_ALLOWED_USERGROUPS_HIPPA",
        "COVEO_ACCESS_TOKEN_HIPPA",
        "COVEO_ACCESS_TOKEN_EUR_FILE",
        "COVEO_PLATFORM_URL_EUROPE",
    ],
)
def test_a_per_region_variable_with_an_unknown_region_is_a_problem_naming_it(variable: str) -> None:
    value = "S0123ABC" if "USERGROUPS" in variable else "https://platform-eu.cloud.coveo.com"
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, variable: value})
    [problem] = [p for p in caught.value.problems if variable in p]
    assert problem.startswith(f"{variable} names no region: the regions are US, EU, AU, CA, HIPAA")
    assert value not in problem  # a token's value is never echoed
    load_settings({**BASE, variable: ""})  # set but blank: nothing to misread


# The one-region form is an alias of the per-region form: COVEO_ACCESS_TOKEN (or _FILE) and
# COVEO_PLATFORM_URL stand for COVEO_ACCESS_TOKEN_<REGION> and COVEO_PLATFORM_URL_<REGION> of the region
# COVEO_REGION names, while every message still names the variable the admin set.


def test_the_one_region_form_reads_as_the_per_region_form_of_its_region() -> None:
    url = "http://127.0.0.1:9999"
    one = load_settings({**BASE, "COVEO_REGION": "eu", "COVEO_PLATFORM_URL": url})
    per = load_settings({**MULTI, "COVEO_ACCESS_TOKEN_EU": "coveo-oauth-token", "COVEO_PLATFORM_URL_EU": url})
    [alias], [eu] = one.coveo_regions, per.coveo_regions
    assert alias == replace(eu, token_variable="COVEO_ACCESS_TOKEN")
    assert (alias.name, alias.platform_url, eu.token_variable) == ("eu", url, "COVEO_ACCESS_TOKEN_EU")
    # The one-region token may also take its region's own host and user groups.
    s = load_settings(
        {**BASE, "COVEO_REGION": "eu", "COVEO_PLATFORM_URL_EU": url, "APIKEYID_ALLOWED_USERGROUPS_EU": "S0EU"}
    )
    assert s.coveo_regions[0].platform_url == url and s.region_usergroups == {"eu": frozenset({"S0EU"})}


def test_an_alias_and_its_per_region_variable_together_are_refused_naming_both(tmp_path: Path) -> None:
    env = {**BASE, "COVEO_REGION": "eu"}
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **env,
                "COVEO_PLATFORM_URL": "https://a.example.com",
                "COVEO_PLATFORM_URL_EU": "https://b.example.com",
            }
        )
    assert caught.value.problems == ["Set COVEO_PLATFORM_URL or COVEO_PLATFORM_URL_EU, not both."]
    # A per-region token given in a file counts too; the alias is the one read, so its file is not.
    with pytest.raises(SettingsError) as caught:
        load_settings({**env, "COVEO_ACCESS_TOKEN_EU_FILE": str(tmp_path / "missing")})
    assert caught.value.problems == [
        "Region EU is configured twice: COVEO_ACCESS_TOKEN (with COVEO_REGION=eu) and "
        "COVEO_ACCESS_TOKEN_EU. Keep one of them."
    ]


def test_problems_and_warnings_of_the_one_region_form_name_its_own_variables(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                **BASE,
                "COVEO_REGION": "ca",
                "COVEO_PLATFORM_URL": "http://example.com",
                "APIKEYID_ALLOWED_USERGROUPS_CA": "bob",
            }
        )
    assert caught.value.problems == [
        "COVEO_PLATFORM_URL must use https (plain http is allowed only for localhost).",
        "APIKEYID_ALLOWED_USERGROUPS_CA must list Slack ids like S…, separated by commas (bad: bob).",
    ]
    (tmp_path / "token").write_text("xx12345678-aaaa-bbbb-cccc-dddddddddddd\n")
    env = {**MULTI, "COVEO_ACCESS_TOKEN_FILE": str(tmp_path / "token"), "COVEO_REGION": "hipaa"}
    s = load_settings(env)
    [hipaa] = s.coveo_regions
    assert (hipaa.name, hipaa.token_variable, hipaa.token_file) == (
        "hipaa",
        "COVEO_ACCESS_TOKEN_FILE",
        tmp_path / "token",
    )
    assert [w.split(" looks like")[0] for w in s.warnings] == ["COVEO_ACCESS_TOKEN"]
