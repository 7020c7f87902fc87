"""Whatever a person types, and whatever Coveo holds, parse → match → reply never fails or overflows."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.apikey import parse_api_keys
from bot.command import Help, Invalid, ListKeys, Lookup, parse
from bot.lookup import Found, Listing, NotFound
from bot.matching import Hits, find
from bot.replies import render

NOW = datetime(2026, 11, 26, tzinfo=UTC)
SLACK_BITS = st.sampled_from(
    [
        "<!channel>",
        "<@U123|bob>",
        "<#C1|general>",
        "<https://x.y|label>",
        "&amp;",
        "&lt;",
        "`",
        "*",
        "\u202e",
        "\u200b",
        "“",
        "'",
    ]
)
typed = st.lists(st.one_of(st.text(max_size=40), SLACK_BITS), max_size=8).map("".join)
api_key_json = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=30),
        "displayName": st.one_of(st.none(), typed),
        "description": typed,
    },
    optional={
        "enabled": st.one_of(st.booleans(), st.none(), st.integers()),
        "createdDate": st.one_of(st.integers(), st.text(max_size=30), st.floats(allow_nan=True)),
        "privileges": st.lists(
            st.dictionaries(st.sampled_from(["owner", "targetDomain", "type", "targetId"]), typed),
            max_size=20,
        ),
        "value": st.text(max_size=40),
    },
)


def within_limits(message: dict) -> None:
    blocks = message.get("blocks", [])
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert len(message["text"]) <= 3000
    dumped = str(message)
    assert "<!channel>" not in dumped and "<@U123" not in dumped


@settings(max_examples=300, deadline=None)
@given(
    text=typed,
    org=st.sampled_from(["myorg", "myorg2x", "MyOrg", "a/b", ""]),
    keys=st.lists(api_key_json, max_size=30),
)
def test_any_text_gets_a_reply_within_limits(text: str, org: str, keys: list[dict]) -> None:
    command = parse(f"{org} {text}")
    assert isinstance(command, Help | Invalid | ListKeys | Lookup)
    parsed = parse_api_keys(keys)
    if isinstance(command, Help | Invalid):
        outcome = command
    elif isinstance(command, ListKeys):
        outcome = Listing(command.org, parsed)
    else:
        result = find(parsed, command.name)
        outcome = (
            Found(command.org, command.name, result.keys, result.how)
            if isinstance(result, Hits)
            else NotFound(command.org, command.name, result.suggestions, len(parsed))
        )
    within_limits(render(outcome, NOW).to_slack())


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_parse_never_raises_and_orgs_are_safe(text: str) -> None:
    command = parse(text)
    if isinstance(command, ListKeys | Lookup):
        assert command.org.isascii() and command.org.isalnum() and command.org == command.org.lower()
