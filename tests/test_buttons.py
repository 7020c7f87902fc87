"""A button's value comes back from the user's side: read it as untrusted input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.buttons import KeyRef, PageRef, TamperedValue


def test_values_round_trip() -> None:
    for ref in (PageRef("myorg", "eu", "Push key", 3), PageRef("myorg", "", None, 0)):
        value = ref.encode()
        assert value is not None and PageRef.decode(value) == ref
    key = KeyRef("myorg", "us", "myorg-abc")
    assert KeyRef.decode(key.encode() or "") == key


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        "[]",
        '{"o": "myorg"}',
        '{"o": "MyOrg", "r": "", "q": null, "p": 0}',
        '{"o": "my/org", "r": "", "q": null, "p": 0}',
        '{"o": "myorg", "r": "mars", "q": null, "p": 0}',
        '{"o": "myorg", "r": "", "q": null, "p": -1}',
        '{"o": "myorg", "r": "", "q": null, "p": true}',
        '{"o": "myorg", "r": "", "q": null, "p": 10000000}',
        '{"o": "myorg", "r": "", "q": "", "p": 0}',
        '{"o": "myorg", "r": "", "q": null, "p": 0, "x": 1}',
        json.dumps({"o": "myorg", "r": "", "q": "x" * 3000, "p": 0}),
    ],
)
def test_tampered_page_values_are_refused(value: str) -> None:
    with pytest.raises(TamperedValue):
        PageRef.decode(value)


def test_a_value_too_long_for_slack_is_not_made() -> None:
    assert PageRef("myorg", "", "x" * 1600, 0).encode() is None
    assert KeyRef("myorg", "", "k" * 300).encode() is None


@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(
            json.dumps, st.dictionaries(st.text(max_size=2), st.none() | st.integers() | st.text(max_size=20))
        ),
    )
)
def test_any_value_decodes_or_is_refused_cleanly(value: str) -> None:
    """Only TamperedValue escapes, and whatever is accepted is something the bot could have written."""
    for kind in (PageRef, KeyRef):
        try:
            ref = kind.decode(value)
        except TamperedValue:
            continue
        assert kind.decode(ref.encode() or "") == ref


def test_a_page_of_keys_that_need_care_keeps_its_qualifier_and_refuses_an_unknown_one() -> None:
    ref = PageRef("myorg", "eu", "is:exposed search", 2)
    assert PageRef.decode(ref.encode() or "") == ref
    forged = json.dumps({"o": "myorg", "r": "eu", "q": "is:everything", "p": 0})
    with pytest.raises(TamperedValue):
        PageRef.decode(forged)
