"""A request from Slack is read once, and no odd or missing field makes reading it fail."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.interaction import Interaction
from tests.slack_payloads import click, submission

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["user", "team", "actions", "view", "channel", "message", "enterprise"]), json_values
    )
)
def test_any_payload_shape_reads_as_strings(body: dict) -> None:
    who = Interaction.from_payload(body)
    for value in (
        who.user_id,
        who.response_url,
        who.trigger_id,
        who.text,
        who.action_id,
        who.action_value,
        who.view_id,
    ):
        assert isinstance(value, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in who.inputs.items())


def test_a_click_and_a_submission_are_read_as_slack_sends_them() -> None:
    who = Interaction.from_payload(
        click("apikeyid_share", "v", user_id="U01", response_url="https://r", team_id="T09")
    )
    assert (who.user_id, who.team_id, who.action_id, who.action_value, who.response_url) == (
        "U01",
        "T09",  # the person's own team, which Slack Connect may make differ from the channel's
        "apikeyid_share",
        "v",
        "https://r",
    )
    assert not who.in_modal
    submitted = Interaction.from_payload(submission("myorg", "", user_id="U01", view_id="V1"))
    assert submitted.in_modal and submitted.inputs == {"org": "myorg", "name": ""}
