"""A request from Slack is read once, and no odd or missing field makes reading it fail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.access import Requester
from bot.slack.request import Interaction
from tests.slack_payloads import (
    GRID,
    GRID_SHAPES,
    click,
    from_partner,
    grid_command_fields,
    grid_home_opened,
    home_opened,
    on_grid,
    shortcut,
    submission,
)

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


def every_interactivity_kind() -> dict[str, dict]:
    return {
        "block_actions in an ephemeral message": click(
            "apikeyid_share", "v", user_id="U01", response_url="r"
        ),
        "block_actions in a modal": click("apikeyid_page_next", "v", user_id="U01", view_id="V1"),
        "view_submission": submission("myorg", "", user_id="U01"),
        "global shortcut": shortcut("apikeyid_lookup_shortcut", user_id="U01"),
        "message action": shortcut("apikeyid_lookup_message", user_id="U01", message_text="myorg"),
    }


@pytest.mark.parametrize("kind", every_interactivity_kind())
def test_every_interactivity_kind_names_the_grid_org_and_the_workspace(kind: str) -> None:
    payload = every_interactivity_kind()[kind]
    plain = Interaction.from_payload(payload).requester
    assert (plain.team_id, plain.enterprise_id) == ("T0001", None)
    for shape in GRID_SHAPES.values():
        grid = Interaction.from_payload(on_grid(payload, **shape)).requester
        # user.team_id may be the org's id (E…): then the workspace comes from `team`.
        assert (grid.user_id, grid.team_id, grid.enterprise_id) == ("U01", "T0001", GRID)
    partner = Interaction.from_payload(from_partner(payload, enterprise="E0OTHER")).requester
    assert (partner.team_id, partner.enterprise_id) == ("T0PARTNER", "E0OTHER")
    lone_partner = Interaction.from_payload(from_partner(payload)).requester
    assert (lone_partner.team_id, lone_partner.enterprise_id) == ("T0PARTNER", None)


def test_an_org_wide_installation_payload_without_team_takes_the_enterprise_object() -> None:
    payload = on_grid(click("apikeyid_share", "v", user_id="U01"), enterprise_object=True) | {"team": None}
    who = Interaction.from_payload(payload | {"user": {"id": "U01", "team_id": "T0002"}})
    assert (who.team_id, who.enterprise_id) == ("T0002", GRID)


def test_commands_and_events_name_the_grid_org() -> None:
    form = {"team_id": "T0001", "user_id": "U01", "text": "x"}
    assert Interaction.from_command(form).enterprise_id is None
    grid = Interaction.from_command(form | grid_command_fields())
    assert (grid.team_id, grid.enterprise_id) == ("T0001", GRID)
    event = Interaction.from_event(grid_home_opened("U01"))
    assert (event.user_id, event.team_id, event.enterprise_id) == ("U01", "T0001", GRID)
    assert Interaction.from_event(home_opened("U01")).enterprise_id is None
    # Only the authorizations say where it was delivered: they count.
    bare = grid_home_opened("U01")
    del bare["team_id"], bare["enterprise_id"]
    assert Interaction.from_event(bare).requester == Requester("U01", "T0001", GRID)
