from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.access import Refusal
from bot.apikey import parse_api_keys
from bot.command import Help, Invalid
from bot.coveo import CoveoTimeout, Organization, OrganizationNotFound, Throttled, TokenRejected
from bot.lookup import Failed, Found, Listing, NotFound, RegionError
from bot.replies import Denied, Limited, Unexpected, Working, render

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def key(**fields: object) -> list:
    return parse_api_keys([{"id": "abc123", "displayName": "Prod", **fields}])


def text_of(reply: object) -> str:
    return json.dumps(reply.to_slack(), ensure_ascii=False)  # type: ignore[attr-defined]


def test_found_shows_id_in_code_and_facts_but_never_the_value() -> None:
    [k] = key(
        value="xx********-****-****-****-********1b3e",
        status="ENABLED",
        enabled=True,
        createdDate=1_700_000_000_000,
        expirationDate="2026-12-01T00:00:00Z",
        privileges=[{"owner": "PLATFORM", "targetDomain": "SOURCE", "type": "EDIT", "targetId": "s1"}],
        allowedIps=["10.0.0.0/8"],
    )
    reply = render(Found("myorg", "Prod", [k], "exact name"), NOW)
    text = text_of(reply)
    assert "`abc123`" in text
    assert "PLATFORM/SOURCE EDIT on s1" in text
    assert "2023-11-14" in text and "in 5 days" in text
    assert "1 allowed IP range" in text
    assert "xx****" not in text and "1b3e" not in text
    assert reply.to_slack()["response_type"] == "ephemeral"


def test_flags_disabled_expired_and_exposed() -> None:
    [k] = key(
        enabled=False, status="DISABLED", expirationDate=1_600_000_000_000, exposureReport={"exposed": True}
    )
    text = text_of(render(Found("myorg", "Prod", [k], "exact name"), NOW))
    assert "disabled" in text and "expired" in text and "exposed" in text


def test_coveo_text_cannot_ping_or_link() -> None:
    [k] = key(displayName="<!channel> <https://evil.example|click> & co", description="<@U123>")
    text = text_of(render(Found("myorg", "x", [k], "exact name"), NOW))
    assert "<!channel>" not in text and "<https://" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text and "&amp; co" in text


def test_backticks_in_ids_do_not_break_the_code_span() -> None:
    [k] = parse_api_keys([{"id": "a`b", "displayName": "n"}])
    text = text_of(render(Found("myorg", "n", [k], "exact name"), NOW))
    assert "`aˋb`" in text


def test_many_hits_are_trimmed_with_a_count() -> None:
    keys = parse_api_keys([{"id": f"id{i}", "displayName": "same"} for i in range(25)])
    reply = render(Found("myorg", "same", keys, "exact name"), NOW)
    assert len(reply.blocks) <= 50
    assert "15 more not shown" in text_of(reply)


def test_listing_of_ten_thousand_keys_stays_within_limits() -> None:
    keys = parse_api_keys([{"id": f"id{i:05d}", "displayName": f"key {i}" * 20} for i in range(10_000)])
    reply = render(Listing("myorg", keys), NOW)
    assert len(reply.blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in reply.blocks if b["type"] == "section")
    assert "of 10000" in text_of(reply)


def test_not_found_lists_suggestions_escaped() -> None:
    text = text_of(render(NotFound("myorg", "<x>", ["A&B"], 3), NOW))
    assert "&lt;x&gt;" in text and "A&amp;B" in text and "all 3 keys" in text


def test_each_failure_says_what_to_do() -> None:
    cases = {
        TokenRejected("x"): "rotate",
        OrganizationNotFound("x"): "EU",
        Throttled("x", retry_after=42): "42 seconds",
        CoveoTimeout("x"): "Try again",
    }
    for error, advice in cases.items():
        assert advice in text_of(render(Failed("myorg", error, "eu"), NOW)), advice


def test_small_outcomes() -> None:
    assert "/apikeyid <org>" in text_of(render(Help(), NOW))
    assert "reason here" in text_of(render(Invalid("reason here"), NOW))
    assert "APIKEYID_ALLOWED_USERS" in text_of(render(Denied(Refusal.NOT_LISTED), NOW))
    assert "<!subteam^S01>" in text_of(render(Denied(Refusal.NOT_LISTED, frozenset({"S01"})), NOW))
    assert "12 seconds" in text_of(render(Limited(11.2), NOW))
    assert "ref42" in text_of(render(Unexpected("ref42"), NOW))
    assert "every API key" in text_of(render(Working("myorg", None), NOW))


def test_every_refusal_is_one_sentence_of_its_own() -> None:
    texts = {reason: text_of(render(Denied(reason), NOW)) for reason in Refusal}
    assert len(set(texts.values())) == len(Refusal)
    assert "Guests" in texts[Refusal.GUEST] and "other workspaces" in texts[Refusal.OTHER_WORKSPACE]


def test_answers_name_the_region_that_answered() -> None:
    [k] = key()
    assert "Organization `myorg` (EU region)" in text_of(
        render(Found("myorg", "Prod", [k], "exact name", region="eu"), NOW)
    )
    assert "(HIPAA region)" in text_of(render(Listing("myorg", [k], region="hipaa"), NOW))
    assert "(AU region)" in text_of(render(NotFound("myorg", "x", [], 1, region="au"), NOW))


def test_no_region_answer_names_every_region_and_each_real_reason() -> None:
    asked = (
        RegionError("us", OrganizationNotFound("x")),
        RegionError("eu", TokenRejected("x"), "COVEO_ACCESS_TOKEN_EU"),
        RegionError("ca", Throttled("x", retry_after=42), "COVEO_ACCESS_TOKEN_CA"),
    )
    similar = [Organization("myorg2", "My Org", "ca")]
    text = text_of(render(Failed("myorg", asked[1].error, "eu", similar, asked), NOW))
    assert "US, EU, CA" in text
    assert "*US*: no such organization" in text
    assert "rotate `COVEO_ACCESS_TOKEN_EU`" in text
    assert "*CA*: Coveo is throttling requests in the *CA* region right now. Try again in 42 seconds" in text
    assert "`myorg2` (My Org, CA)" in text
    assert "AU, HIPAA" in text  # the regions the bot has no token for


def test_plain_unknown_everywhere_is_one_sentence() -> None:
    asked = (RegionError("us", OrganizationNotFound("x")), RegionError("eu", OrganizationNotFound("x")))
    text = text_of(render(Failed("myorg", asked[0].error, "us", [], asked), NOW))
    assert "knows no organization `myorg` in any region the bot serves (US, EU)" in text
    assert "•" not in text


def test_a_link_to_a_region_without_a_token_says_so() -> None:
    asked = (RegionError("us", OrganizationNotFound("x")),)
    text = text_of(render(Failed("myorg", asked[0].error, "us", [], asked, unserved_hint="eu"), NOW))
    assert "*US* region" in text and "COVEO_ACCESS_TOKEN_EU" in text
