from __future__ import annotations

from bot.core.apikey import parse_api_keys
from bot.core.matching import Hits, MatchedBy, NoHit, find


def keys(*specs: dict) -> list:
    return parse_api_keys([{"id": f"id{i}", **spec} for i, spec in enumerate(specs)])


def ids(result: Hits | NoHit) -> list[str]:
    assert isinstance(result, Hits)
    return [k.id for k in result.keys]


def test_exact_name_wins_over_looser_tiers() -> None:
    found = find(keys({"displayName": "Push"}, {"displayName": "push"}, {"displayName": "Pusher"}), "Push")
    assert ids(found) == ["id0"]
    assert isinstance(found, Hits) and found.how == MatchedBy.EXACT_NAME


def test_ignoring_case_and_spacing_reports_every_hit() -> None:
    found = find(
        keys({"displayName": "My  Key"}, {"displayName": "my key"}, {"displayName": "other"}), "MY KEY "
    )
    assert ids(found) == ["id0", "id1"]
    assert isinstance(found, Hits) and found.how == MatchedBy.NAME_IGNORING_CASE


def test_invisible_characters_do_not_prevent_a_match() -> None:
    assert ids(find(keys({"displayName": "Prod key"}), "Prod\u200b key\u200f")) == ["id0"]


def test_description_tier() -> None:
    found = find(keys({"displayName": "a", "description": "For Zendesk"}), "for zendesk")
    assert isinstance(found, Hits) and found.how == MatchedBy.DESCRIPTION


def test_contains_tier() -> None:
    found = find(
        keys({"displayName": "Production search key"}, {"description": "search from staging"}), "search"
    )
    assert ids(found) == ["id0", "id1"]
    assert isinstance(found, Hits) and found.how == MatchedBy.CONTAINS


def test_reverse_lookup_by_id() -> None:
    found = find(keys({"displayName": "a"}, {"displayName": "b"}), "id1")
    assert ids(found) == ["id1"]
    assert isinstance(found, Hits) and found.how == MatchedBy.ID


def test_value_tail() -> None:
    data = keys(
        {"displayName": "a", "value": "xx****-****-1b3e"}, {"displayName": "b", "value": "xx****-9999"}
    )
    for query in ("…1b3e", "...1B3E", "*1b3e"):
        found = find(data, query)
        assert ids(found) == ["id0"], query
        assert isinstance(found, Hits) and found.how == MatchedBy.VALUE_TAIL


def test_no_hit_suggests_close_names() -> None:
    result = find(keys({"displayName": "Production"}, {"displayName": "Analytics"}), "Prodution")
    assert result == NoHit(["Production"])


def test_blank_name_matches_nothing() -> None:
    assert find(keys({"displayName": "a"}), "\u200b") == NoHit([])


def test_suggestions_for_a_partly_remembered_name() -> None:
    data = keys(
        {"displayName": "Push source key"}, {"displayName": "Analytics reader"}, {"displayName": "Search UI"}
    )
    assert find(data, "pusher") == NoHit(["Push source key"])
    assert find(data, "zzzz") == NoHit([])


def test_a_name_that_looks_like_a_value_tail_is_found_by_its_name() -> None:
    # A key named "*0000" whose value ends otherwise: the value-tail tier finds nothing, so the
    # name tiers must still answer (a support engineer typing the key's exact name expects it).
    data = keys(
        {"displayName": "*0000", "value": "xx****-1b3e"}, {"displayName": "b", "value": "xx****-9999"}
    )
    found = find(data, "*0000")
    assert ids(found) == ["id0"]
    assert isinstance(found, Hits) and found.how == MatchedBy.EXACT_NAME


def test_a_value_tail_hit_still_comes_first() -> None:
    data = keys(
        {"displayName": "*1b3e", "value": "xx****-0000"}, {"displayName": "b", "value": "xx****-1b3e"}
    )
    found = find(data, "*1b3e")
    assert ids(found) == ["id1"]
    assert isinstance(found, Hits) and found.how == MatchedBy.VALUE_TAIL
