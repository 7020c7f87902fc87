from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from bot.core.apikey import parse_api_keys
from bot.core.buttons import KeyRef, PageRef
from bot.core.command import Help, Invalid, Problem
from bot.core.matching import MatchedBy
from bot.core.outcomes import Denied, Limited, Refusal, Unexpected, Working
from bot.coveo.errors import CoveoTimeout, OrganizationNotFound, Throttled, TokenRejected
from bot.coveo.results import Failed, Found, Listing, NotFound, Organization, RegionError
from bot.replies.blocks import (
    DISMISS,
    MESSAGE_BUTTONS,
    MODAL_BUTTONS,
    OPEN_CONSOLE,
    PAGE_NEXT,
    PAGE_PREVIOUS,
    SHARE,
    Controls,
)
from bot.replies.messages import render
from bot.replies.surfaces import lookup_modal
from tests.conftest import buttons
from tests.fakes.coveo import exposure_report

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
    reply = render(Found("myorg", "Prod", [k], MatchedBy.EXACT_NAME), NOW)
    text = text_of(reply)
    assert "`abc123`" in text
    assert "PLATFORM/SOURCE EDIT on s1" in text
    assert "2023-11-14" in text and "in 5 days" in text
    assert "allowed only from `10.0.0.0/8`" in text
    assert "xx****" not in text and "1b3e" not in text
    assert reply.to_slack()["response_type"] == "ephemeral"


def test_flags_disabled_expired_and_exposed() -> None:
    [k] = key(
        enabled=False,
        status="DISABLED",
        expirationDate=1_600_000_000_000,
        exposureReport=exposure_report("HIGH"),  # Coveo's ExposureReport, not an invented flag
    )
    text = text_of(render(Found("myorg", "Prod", [k], MatchedBy.EXACT_NAME), NOW))
    assert "disabled" in text and "expired" in text and "exposed" in text


def test_coveo_text_cannot_ping_or_link() -> None:
    [k] = key(displayName="<!channel> <https://evil.example|click> & co", description="<@U123>")
    text = text_of(render(Found("myorg", "x", [k], MatchedBy.EXACT_NAME), NOW))
    assert "<!channel>" not in text and "<https://" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text and "&amp; co" in text


def test_backticks_in_ids_do_not_break_the_code_span() -> None:
    [k] = parse_api_keys([{"id": "a`b", "displayName": "n"}])
    text = text_of(render(Found("myorg", "n", [k], MatchedBy.EXACT_NAME), NOW))
    assert "`aˋb`" in text


def test_many_hits_are_trimmed_with_a_count() -> None:
    keys = parse_api_keys([{"id": f"id{i}", "displayName": "same"} for i in range(25)])
    reply = render(Found("myorg", "same", keys, MatchedBy.EXACT_NAME), NOW)
    assert len(reply.blocks) <= 50
    assert "Showing 1–10 of 25" in text_of(reply)


def test_hits_are_paged_with_buttons_that_carry_the_page() -> None:
    keys = parse_api_keys([{"id": f"id{i:02d}", "displayName": "same"} for i in range(25)])
    found = Found("myorg", "same", keys, MatchedBy.EXACT_NAME, region="eu")
    first = render(found, NOW, controls=MESSAGE_BUTTONS)
    assert set(buttons(first.to_slack())) == {SHARE, PAGE_NEXT, DISMISS, OPEN_CONSOLE}
    assert PageRef.decode(buttons(first.to_slack())[PAGE_NEXT]) == PageRef("myorg", "eu", "same", 1)
    assert KeyRef.decode(buttons(first.to_slack())[SHARE]) == KeyRef("myorg", "eu", "id00")
    last = render(found, NOW, page=2, controls=MESSAGE_BUTTONS)
    assert "Showing 21–25 of 25" in text_of(last) and "id24" in text_of(last) and "id19" not in text_of(last)
    assert PAGE_NEXT not in buttons(last.to_slack())
    assert PageRef.decode(buttons(last.to_slack())[PAGE_PREVIOUS]).page == 1
    assert (
        render(found, NOW, page=99).blocks == render(found, NOW, page=2).blocks
    )  # past the end: the last page
    assert buttons(render(found, NOW, controls=MODAL_BUTTONS).to_slack()).keys() == {PAGE_NEXT, OPEN_CONSOLE}


def test_every_key_of_a_big_org_can_be_reached_page_by_page() -> None:
    keys = parse_api_keys([{"id": f"id{i:05d}", "displayName": f"key {i:05d}"} for i in range(5_000)])
    seen: set[str] = set()
    ref: PageRef | None = PageRef("myorg", "", None, 0)
    pages = 0
    while ref is not None:
        reply = render(Listing("myorg", keys), NOW, page=ref.page, controls=MESSAGE_BUTTONS)
        assert len(reply.blocks) <= 50
        seen |= set(re.findall(r"`(id\d{5})`", text_of(reply)))
        pages += 1
        value = buttons(reply.to_slack()).get(PAGE_NEXT)
        ref = PageRef.decode(value) if value else None
    assert len(seen) == 5_000 and pages == 50


def test_without_sharing_there_is_no_share_button() -> None:
    [k] = key()
    reply = render(Found("myorg", "Prod", [k], MatchedBy.EXACT_NAME), NOW, controls=Controls(dismiss=True))
    assert set(buttons(reply.to_slack())) == {DISMISS, OPEN_CONSOLE}


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
    assert "is not a Coveo organization id" in text_of(
        render(Invalid(Problem.NOT_AN_ORG, "reason here"), NOW)
    )
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
        render(Found("myorg", "Prod", [k], MatchedBy.EXACT_NAME, region="eu"), NOW)
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


def test_a_one_sentence_reply_is_a_verbatim_block_too() -> None:
    """A bare `text` is not verbatim: Slack would link a URL or @here the user typed."""
    message = render(Working("myorg", "https://evil.example @here"), NOW).to_slack()
    [block] = message["blocks"]
    assert block["text"]["verbatim"] is True and "evil.example" in block["text"]["text"]


def test_a_long_console_url_prefills_the_org_id_it_holds() -> None:
    url = "https://platform.cloud.coveo.com/admin/#/acmeprod7x2k/" + "x" * 200
    view = lookup_modal(org=url)
    assert view["blocks"][0]["element"]["initial_value"] == "acmeprod7x2k"
    short = "https://platform-eu.cloud.coveo.com/admin/#/acmeprod7x2k/search"
    assert lookup_modal(org=short)["blocks"][0]["element"]["initial_value"] == short


def test_an_unknown_qualifier_in_the_modal_shows_under_the_name() -> None:
    from bot.replies.surfaces import modal_errors

    errors = modal_errors(Invalid(Problem.UNKNOWN_QUALIFIER, "is:foo"))["errors"]
    assert list(errors) == ["name"] and "is:exposed" in errors["name"]


@pytest.mark.parametrize("text", ["*Title*", "", "x" * 3100, "<@U1> & <!here>"])
def test_blocks_are_what_slack_sdk_s_models_would_send(text: str) -> None:
    """The blocks are built as plain dicts, the same JSON (keys in the same order) as the models."""
    from slack_sdk.models.blocks import (
        ActionsBlock,
        ButtonElement,
        ContextBlock,
        MarkdownTextObject,
        SectionBlock,
    )

    from bot.core.text import shorten
    from bot.replies.blocks import actions_block, button, context_block, section

    def same(ours: object, theirs: object) -> None:
        assert json.dumps(ours) == json.dumps(theirs)

    same(
        section(text),
        SectionBlock(text=MarkdownTextObject(text=shorten(text, 3000), verbatim=True)).to_dict(),
    )
    same(
        context_block(text),
        ContextBlock(elements=[MarkdownTextObject(text=shorten(text, 2000), verbatim=True)]).to_dict(),
    )
    label = shorten(text, 75)
    for options in ({"value": "v"}, {"url": "https://example.com/x"}, {"value": "open", "style": "primary"}):
        ours = button(label, "an_action", **options)
        theirs = ButtonElement(text=label, action_id="an_action", **options)
        same(ours, theirs.to_dict())
        same(actions_block([ours]), ActionsBlock(elements=[theirs]).to_dict())
