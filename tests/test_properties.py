"""Whatever a person types, and whatever Coveo holds, parse → match → reply never fails or overflows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.apikey import Care, Status, parse_api_keys
from bot.core.command import Help, Invalid, ListKeys, Lookup, parse
from bot.core.matching import Hits, MatchedBy, find
from bot.coveo.results import Found, Listing, NotFound
from bot.replies.blocks import MESSAGE_BUTTONS, MODAL_BUTTONS, NO_BUTTONS, Controls
from bot.replies.messages import render
from bot.replies.surfaces import answer_modal, home_view, lookup_modal

NOW = datetime(2026, 11, 26, tzinfo=UTC)
# Examples per test: the slow strategies (texts up to 2,000 characters, up to 30 keys of Coveo's
# shape) run 100-150 examples rather than 300, which cost about 45 s of CPU per `make test`
# (9-22 s each). Tried against a re-introduced unescaped `<` (a mention gets through), every seed
# tried still failed; Hypothesis' database in .hypothesis/ replays any failure found before.
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


@settings(max_examples=100, deadline=None)
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


@settings(max_examples=150, deadline=None)
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


@settings(max_examples=100, deadline=None)
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


# Keys in Coveo's shape (ApiKeyModel, ExposureReport, PrivilegeModel in coveo/platform-client),
# with hostile text wherever Coveo sends text, and every field optional or null.
def _optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


dates = st.one_of(
    st.integers(min_value=0, max_value=4_102_444_800_000),  # epoch ms, as Coveo's model says
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=20),
)
long_text = st.one_of(
    typed,
    st.text(min_size=200, max_size=2_000),
    st.text(alphabet="&<>*_`~ \u202e", min_size=100, max_size=600),  # what escaping makes longer
)
reason_model = st.fixed_dictionaries(
    {"id": st.text(max_size=10), "source": st.one_of(st.sampled_from(["GITHUB", "MANUAL"]), typed)},
    optional={
        "url": st.one_of(
            st.just("https://github.com/a/b/blob/main/x.js"),
            st.text(max_size=400).map(lambda t: "https://example.com/" + t),
            long_text,
        ),
        "reason": long_text,
        "createdDate": dates,
    },
)
exposure = st.fixed_dictionaries(
    {
        "severity": st.one_of(st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN"]), typed),
        "reasons": st.lists(reason_model, max_size=6),
        "creationType": st.sampled_from(["MANUAL", "AUTOMATED", ""]),
        "createdBy": st.one_of(st.fixed_dictionaries({"username": typed, "displayName": long_text}), typed),
    },
    optional={"deactivationDate": dates, "apiKeyLoggerId": st.text(max_size=10)},
)
privilege = st.fixed_dictionaries(
    {"owner": st.one_of(st.sampled_from(["PLATFORM", "SEARCH_API", "USAGE_ANALYTICS"]), typed)},
    optional={
        "targetDomain": st.one_of(st.sampled_from(["SOURCE", "EXECUTE_QUERY", "ANALYTICS_DATA"]), long_text),
        "type": st.one_of(st.sampled_from(["VIEW", "EDIT", "ALLOW"]), typed),
        "targetId": long_text,
        "level": typed,
    },
)
coveo_key = st.fixed_dictionaries(
    {"id": st.from_regex(r"\A[a-z0-9]{1,40}\Z")},
    optional={
        "displayName": _optional(long_text),
        "description": _optional(long_text),
        "enabled": _optional(st.booleans()),
        "status": _optional(st.one_of(st.sampled_from([s.value for s in Status]), st.text(max_size=80))),
        "value": st.just("xx********-****-****-****-********0b4a"),
        "createdDate": dates,
        "lastUsedDate": dates,
        "expirationDate": dates,
        "activationDate": dates,
        "disabledDate": dates,
        "apiKeyTemplateId": _optional(long_text),
        "privileges": st.lists(privilege, max_size=30),
        "allowedIps": st.lists(long_text, max_size=40),
        "deniedIps": st.lists(long_text, max_size=40),
        "exposureReport": _optional(exposure),
        "privacyLevel": st.sampled_from(["PUBLIC", "PRIVATE"]),
    },
)
BUTTON_TEXT, BUTTON_VALUE, BUTTON_URL, CONTEXT_TEXT = 75, 2000, 3000, 2000


def within_block_kit_limits(message: dict, *, max_blocks: int = 50) -> None:
    """Slack's Block Kit limits (api.slack.com/reference/block-kit): blocks per message or view,
    section and context text, actions elements, and each button's text, value and URL."""
    blocks = message.get("blocks", [])
    assert len(blocks) <= max_blocks
    for block in blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
            accessory = block.get("accessory")
            if accessory:
                assert (
                    len(accessory["text"]["text"]) <= BUTTON_TEXT and len(accessory["value"]) <= BUTTON_VALUE
                )
        elif block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= CONTEXT_TEXT for e in block["elements"])
        elif block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= BUTTON_TEXT
                assert len(button.get("value", "")) <= BUTTON_VALUE
                assert len(button.get("url", "")) <= BUTTON_URL
                assert len(button["action_id"]) <= 255
    assert len(message.get("text", "")) <= 3000
    dumped = str(message)
    assert "<!channel>" not in dumped and "<@U123" not in dumped and "<#C1" not in dumped


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(coveo_key, min_size=1, max_size=25, unique_by=lambda k: k["id"]),
    care=st.lists(st.sampled_from(list(Care)), unique=True, max_size=4),
    page=st.integers(min_value=0, max_value=5),
    region=st.sampled_from(["", "us", "eu", "au", "ca", "hipaa"]),
    controls=st.sampled_from([MESSAGE_BUTTONS, MODAL_BUTTONS, NO_BUTTONS]),
)
def test_every_answer_over_random_coveo_keys_holds_block_kit_limits(
    keys: list[dict], care: list[Care], page: int, region: str, controls: Controls
) -> None:
    parsed = parse_api_keys(keys)
    found = Found("myorg", "q", parsed, MatchedBy.CONTAINS, region=region)
    needing = [k for k in parsed if all(k.needs(c, NOW) for c in care)]
    outcomes = [
        found,
        Listing("myorg", parsed, region=region),
        Listing("myorg", needing, region=region, query="is:exposed", care=tuple(care), total=len(parsed)),
    ]
    for outcome in outcomes:
        reply = render(outcome, NOW, page=page, controls=controls)
        within_block_kit_limits(reply.to_slack())
        within_block_kit_limits(answer_modal(reply), max_blocks=100)
        assert len(answer_modal(reply)["title"]["text"]) <= 24
    # Every key shown in full: its section ends with its follow-up request, never cut short.
    message = render(found, NOW, page=page, controls=controls).to_slack()
    sections = [
        b["text"]["text"] for b in message["blocks"] if "*apiKeyId:*" in b.get("text", {}).get("text", "")
    ]
    assert sections and all(s.splitlines()[-1].startswith("*Follow-up:* `GET https://") for s in sections)


def test_help_home_tab_and_modal_hold_block_kit_limits() -> None:
    within_block_kit_limits(render(Help(), NOW).to_slack())
    within_block_kit_limits(home_view(None), max_blocks=100)
    modal = lookup_modal("https://platform.cloud.coveo.com/admin/#/" + "a" * 300, "is:exposed")
    within_block_kit_limits(modal, max_blocks=100)
    hint = modal["blocks"][1]["hint"]["text"]
    assert len(hint) <= 2000 and "is:exposed" in hint
