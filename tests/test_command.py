from __future__ import annotations

import pytest

from bot.core.apikey import Care
from bot.core.command import (
    Help,
    Invalid,
    ListKeys,
    Lookup,
    Problem,
    find_org,
    from_fields,
    org_from,
    parse,
    query_text,
    read_query,
)
from bot.replies.errors import invalid_reason


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help", "?"])
def test_help(text: str) -> None:
    assert parse(text) == Help()


def test_org_and_name() -> None:
    assert parse("myorg8tp8wu3 My key name") == Lookup("myorg8tp8wu3", "My key name")


def test_org_alone_lists() -> None:
    assert parse("  myorg  ") == ListKeys("myorg")


@pytest.mark.parametrize("quoted", ['"My key"', "'My key'", "“My key”", "‘My key’", "«My key»", '" My key "'])
def test_surrounding_quotes_are_optional(quoted: str) -> None:
    assert parse(f"myorg {quoted}") == Lookup("myorg", "My key")


def test_inner_quotes_are_kept() -> None:
    assert parse('myorg The "main" key') == Lookup("myorg", 'The "main" key')


def test_slack_escapes_are_undone() -> None:
    assert parse("myorg R&amp;D &lt;prod&gt;") == Lookup("myorg", "R&D <prod>")


def test_any_whitespace_separates_org_and_name() -> None:
    assert parse("myorg\tkey") == Lookup("myorg", "key")
    assert parse("myorg\u00a0key") == Lookup("myorg", "key")


@pytest.mark.parametrize(
    "org", ["my/org", "..", "my%2Forg", "org-with-dash", "ünïcode", "a" * 101, "org?x=1", "<@U123>"]
)
def test_malformed_orgs_are_refused(org: str) -> None:
    result = parse(f"{org} key")
    assert isinstance(result, Invalid)
    assert "lowercase letters and digits" in invalid_reason(result)


def test_uppercase_org_gets_a_did_you_mean() -> None:
    result = parse("MyOrg key")
    assert isinstance(result, Invalid)
    assert "`myorg`" in invalid_reason(result)


def test_refusal_echo_is_escaped() -> None:
    result = parse("<!channel> key")
    assert isinstance(result, Invalid)
    assert "<!channel>" not in invalid_reason(result)
    assert "&lt;!channel&gt;" in invalid_reason(result)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://platform.cloud.coveo.com/admin/#/myorg123/search/api-keys", "us"),
        ("https://platform-eu.cloud.coveo.com/admin/#/myorg123/", "eu"),
        ("https://platformhipaa.cloud.coveo.com/admin/#/myorg123", "hipaa"),
        ("https://myorg123.admin.org.coveo.com/admin/#/myorg123/home", None),
        ("https://myorg123.admin.orgeu.coveo.com/admin/#/myorg123/home", "eu"),
        ("<https://platform.cloud.coveo.com/admin/#/myorg123/search|admin console>", "us"),
        ("<https://platform-au.cloud.coveo.com/admin/#/myorg123/search>", "au"),
        ("https://platform-ca.cloud.coveo.com/admin/#/myorg123/search", "ca"),
        ("https://platformdev.cloud.coveo.com/admin/#/myorg123/search", None),
    ],
)
def test_admin_console_urls_yield_the_org_and_its_region(url: str, region: str | None) -> None:
    assert org_from(url) == "myorg123"
    assert parse(f"{url} key") == Lookup("myorg123", "key", region)
    assert parse(url) == ListKeys("myorg123", region)


def test_a_bare_org_id_names_no_region() -> None:
    assert parse("myorg123 key") == Lookup("myorg123", "key", None)


@pytest.mark.parametrize(
    "url", ["https://evil.example.com/admin/#/myorg123", "https://platform.cloud.coveo.com/admin/"]
)
def test_urls_without_an_org_are_refused(url: str) -> None:
    assert org_from(url) is None
    assert isinstance(parse(f"{url} key"), Invalid)


def test_a_message_shortcut_finds_the_org_a_message_names() -> None:
    url = "https://platform-eu.cloud.coveo.com/admin/#/acmeprod7x2k/search/api-keys"
    assert find_org(f"see <{url}|the console> please") == url
    assert find_org("customer org is acmeprod7x2k, key broke") == "acmeprod7x2k"
    # Plain words are org ids to Coveo too, but in a message they are prose.
    assert find_org("please check the production key today") == ""
    assert find_org("call 12345678 now") == ""


def test_the_modal_fields_parse_like_the_command() -> None:
    assert from_fields(" myorg ", ' "Push key" ') == Lookup("myorg", "Push key")
    assert from_fields("https://platform-au.cloud.coveo.com/admin/#/myorg/x", "") == ListKeys("myorg", "au")
    assert isinstance(from_fields("My Org", "k"), Invalid)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("myorg is:exposed", "is:exposed"),
        ("myorg IS:Exposed search", "is:exposed search"),
        ("myorg search is:unused is:disabled", "is:unused is:disabled search"),
        ("myorg is:exposed is:exposed", "is:exposed"),
        ('myorg "is:exposed"', '"is:exposed"'),  # quoted: a name
        ("myorg “is:exposed”", '"is:exposed"'),
        ('myorg is:expiring "is:beta key"', 'is:expiring "is:beta key"'),
        ('myorg "Push key"', "Push key"),  # no qualifier: as before
        ("myorg what is: this", "what is: this"),  # "is:" alone is a word
    ],
)
def test_qualifiers_and_names(text: str, name: str) -> None:
    assert parse(text) == Lookup("myorg", name)


def test_the_query_reads_back_the_same_from_a_button() -> None:
    for text in ("is:exposed search", '"is:exposed"', 'is:unused "is:x y"', "Push key"):
        assert read_query(text) == read_query(query_text(*read_query(text)))  # type: ignore[arg-type]
    assert read_query('"is:exposed"') == ((), "is:exposed")
    assert read_query("is:exposed search") == ((Care.EXPOSED,), "search")


def test_an_unknown_qualifier_is_refused_in_one_line_naming_the_valid_ones() -> None:
    command = parse("myorg is:leaked")
    assert command == Invalid(Problem.UNKNOWN_QUALIFIER, "is:leaked")
    assert from_fields("myorg", "search is:foo") == Invalid(Problem.UNKNOWN_QUALIFIER, "is:foo")
    text = invalid_reason(command)  # type: ignore[arg-type]
    assert "\n" not in text
    assert all(q in text for q in ("is:exposed", "is:disabled", "is:expiring", "is:unused"))


def test_the_modal_takes_qualifiers_too() -> None:
    assert from_fields("myorg", "is:expiring") == Lookup("myorg", "is:expiring")
    assert from_fields("myorg", '"is:expiring"') == Lookup("myorg", '"is:expiring"')
