"""Enterprise Grid and Slack Connect end to end: the bot installed in workspace T0001 of the Grid
org E0GRID answers its org's people on every surface (command, Share click, clicks in a modal,
modal submission, both shortcuts, the Home tab) and audits their org, while Slack Connect partners
(another team, with another org or none) stay refused. Payload shapes: tests/slack_payloads.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BotProcess, audit_lines, buttons, message_text, new_org
from tests.fakes.coveo import FakeCoveo, api_key
from tests.fakes.slack import FakeSlack, member
from tests.slack_payloads import (
    GRID,
    GRID_SHAPES,
    click,
    from_partner,
    grid_command_fields,
    grid_home_opened,
    on_grid,
    shortcut,
    submission,
)


@pytest.fixture(scope="module")
def grid_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(enterprise_id=GRID)
    # A member of another workspace of the same org (users.info names the org as their team).
    fake.users["U0ORGMATE"] = member("U0ORGMATE", GRID, team_id=GRID)
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture(scope="module")
def grid_bot(fake_coveo: FakeCoveo, grid_slack: FakeSlack) -> Iterator[BotProcess]:
    process = BotProcess(fake_coveo, grid_slack, {"APIKEYID_ALLOWED_USERS": "U0ALLOWED,U0ORGMATE"}).start()
    yield process
    process.stop()


@pytest.mark.parametrize("shape", GRID_SHAPES)
def test_a_grid_member_can_share_what_a_command_answered(
    grid_bot: BotProcess, grid_slack: FakeSlack, fake_coveo: FakeCoveo, shape: str
) -> None:
    org = new_org()
    key = api_key("Grid key")
    fake_coveo.add_org(org, [key])
    answer = grid_bot.ask(f"{org} Grid key", **grid_command_fields())
    assert key["id"] in message_text(answer)
    [command] = audit_lines(grid_bot, 1, event="command", org=org)
    assert (command["team_id"], command["enterprise_id"]) == ("T0001", GRID)

    value = buttons(answer)["apikeyid_share"]
    response_url = grid_slack.new_response_url()
    payload = click("apikeyid_share", value, user_id="U0ALLOWED", response_url=response_url)
    grid_bot.interact(on_grid(payload, **GRID_SHAPES[shape]))
    public, _confirmation = grid_slack.wait_for_answers(response_url, count=2)
    assert public["response_type"] == "in_channel" and key["id"] in message_text(public)
    [shared] = audit_lines(grid_bot, 1, event="shared", org=org)
    assert (shared["outcome"], shared["team_id"], shared["enterprise_id"]) == ("shared", "T0001", GRID)


@pytest.mark.parametrize("partner_org", [None, "E0OTHER"])
def test_a_slack_connect_partner_stays_refused(
    grid_bot: BotProcess, grid_slack: FakeSlack, fake_coveo: FakeCoveo, partner_org: str | None
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("Partner key")])
    value = buttons(grid_bot.ask(f"{org} Partner key", **grid_command_fields()))["apikeyid_share"]
    response_url = grid_slack.new_response_url()
    payload = click("apikeyid_share", value, user_id="U0ALLOWED", response_url=response_url)
    grid_bot.interact(from_partner(payload, enterprise=partner_org))
    [reply] = grid_slack.wait_for_answers(response_url)
    assert reply.get("response_type") != "in_channel"
    line = audit_lines(grid_bot, 1, event="shared", team_id="T0PARTNER", enterprise_id=partner_org)[-1]
    assert (line["outcome"], line["refusal"]) == ("denied", "other_workspace")
    submitted = grid_bot.interact(from_partner(submission(org, "Partner key", user_id="U0ALLOWED")))
    assert "Partner key" not in message_text(submitted.json()["view"])


@pytest.mark.parametrize("shape", GRID_SHAPES)
def test_a_grid_member_uses_the_modal(grid_bot: BotProcess, fake_coveo: FakeCoveo, shape: str) -> None:
    org = new_org()
    keys = [api_key(f"Modal grid key {i:03}") for i in range(120)]
    fake_coveo.add_org(org, keys)
    submitted = on_grid(submission(org, "", user_id="U0ORGMATE"), **GRID_SHAPES[shape])
    view = grid_bot.interact(submitted).json()["view"]
    assert keys[0]["id"] in message_text(view)
    [line] = audit_lines(grid_bot, 1, event="modal", org=org)
    assert (line["outcome"], line["enterprise_id"]) == ("listed", GRID)
    # A click inside the modal (block_actions from a view).
    page = click(
        "apikeyid_page_next", buttons(view)["apikeyid_page_next"], user_id="U0ORGMATE", view_id="V0G"
    )
    assert grid_bot.interact(on_grid(page, **GRID_SHAPES[shape])).status_code == 200
    [paged] = audit_lines(grid_bot, 1, event="paged", org=org)
    assert (paged["outcome"], paged["enterprise_id"]) == ("paged", GRID)


def test_grid_shortcuts_and_home_tab(grid_bot: BotProcess, grid_slack: FakeSlack) -> None:
    opened = len(grid_slack.views_of("views.open", timeout=0))
    grid_bot.interact(on_grid(shortcut("apikeyid_lookup_shortcut", user_id="U0ALLOWED")))
    grid_bot.interact(
        on_grid(shortcut("apikeyid_lookup_message", user_id="U0ALLOWED", message_text="see org acme1"))
    )
    assert len(grid_slack.views_of("views.open", count=opened + 2)) == opened + 2
    lines = audit_lines(grid_bot, 2, event="opened", enterprise_id=GRID)
    assert {line["outcome"] for line in lines} == {"opened"}
    published = len(grid_slack.views_of("views.publish", timeout=0))
    assert grid_bot.event(grid_home_opened("U0ALLOWED")).status_code == 200
    home = grid_slack.views_of("views.publish", count=published + 1)[published]["view"]
    assert "You may use it" in message_text(home)
