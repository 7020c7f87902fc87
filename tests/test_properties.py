"""Whatever a person types, and whatever Coveo holds, parse → match → reply never fails or overflows."""

from __future__ import annotations

import re
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


# Text an attacker who can name keys would try: lines and labels of the bot's own, emphasis,
# code spans, links, mentions, invisible and right-to-left characters.
FORGERY_BITS = st.sampled_from(
    [
        "\n",
        "\r\n",
        "\u2028",
        "*apiKeyId:* `myorg-FAKE999`",
        "*Status:* ENABLED",
        "`",
        "*",
        "_",
        "~",
        ">",
        "<",
        "&",
        "<@U123>",
        "@here",
        "https://evil.example",
        "\u200b",
        "\u200d",
        "\u202e",
        "\u2067",
        "\ufeff",
    ]
)
hostile = st.lists(st.one_of(st.text(max_size=20), FORGERY_BITS), max_size=10).map("".join)
key_ids = st.from_regex(r"\Amyorg-[0-9a-f]{8}\Z")
BOT_LINE = re.compile(
    r"^\*(apiKeyId|Status|Exposed|Created|Privileges|Template|IP ranges|Description|Follow-up):\* "
)
ID_FIELD = re.compile(r"\*apiKeyId:\* `([^`\n]*)`")
LISTING_LINE = re.compile(r"^`([^`\n]+)`  [^`\n]*$")


def mrkdwn_texts(message: dict) -> list[str]:
    texts = [message["text"]]
    for block in message.get("blocks", []):
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [
            element["text"] if isinstance(element["text"], str) else element["text"]["text"]
            for element in block.get("elements", [])
        ]
    return texts


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.tuples(key_ids, hostile, hostile), min_size=1, max_size=12, unique_by=lambda k: k[0]),
    pick=st.integers(min_value=0),
)
def test_coveo_text_cannot_forge_an_id_line(names: list[tuple[str, str, str]], pick: int) -> None:
    keys = parse_api_keys([{"id": i, "displayName": n, "description": d} for i, n, d in names])
    wanted = keys[pick % len(keys)]
    result = find(keys, wanted.display_name or wanted.id)
    assert isinstance(result, Hits)
    message = render(Found("myorg", wanted.display_name, result.keys, result.how), NOW).to_slack()
    shown = [m for text in mrkdwn_texts(message) for m in ID_FIELD.findall(text)]
    assert sorted(shown) == sorted(k.id for k in result.keys[:10])
    for block in message["blocks"]:
        lines = block.get("text", {}).get("text", "").split("\n")
        if any(BOT_LINE.match(line) for line in lines):
            # A key's section: its name on the first line, then only the bot's own labelled lines.
            assert all(BOT_LINE.match(line) for line in lines[1:]), lines


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.tuples(key_ids, hostile), min_size=1, max_size=40, unique_by=lambda k: k[0]))
def test_coveo_text_cannot_pair_a_name_with_another_id_in_a_listing(names: list[tuple[str, str]]) -> None:
    keys = parse_api_keys([{"id": i, "displayName": n} for i, n in names])
    message = render(Listing("myorg", keys), NOW).to_slack()
    listed = []
    for block in message["blocks"][1:]:
        if block["type"] != "section":
            continue
        for line in block["text"]["text"].split("\n"):
            match = LISTING_LINE.match(line)
            assert match, line
            listed.append(match.group(1))
    assert sorted(listed) == sorted(k.id for k in keys)
