from __future__ import annotations

import time
from typing import Any

from bot.core.outcomes import Refusal
from bot.settings import load_settings
from bot.slack.access import GROUP_STALE_LIMIT, GROUP_TTL, AccessControl, RateLimiter, Requester
from bot.slack.web import Workspace

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "COVEO_ACCESS_TOKEN": "t"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlackStub:
    """Stands in for the Web API client in these unit tests; the e2e tests use the fake Slack server."""

    def __init__(self, members: dict[str, list[str]]) -> None:
        self.members = members
        self.calls = 0
        self.info_calls = 0
        self.people: dict[str, dict[str, Any]] = {}
        self.fail = False
        self.groups_fail = False

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail or self.groups_fail:
            raise RuntimeError("slack down")
        return {"ok": True, "users": self.members.get(usergroup, [])}

    async def users_info(self, user: str) -> dict[str, Any]:
        self.info_calls += 1
        if self.fail or user not in self.people:
            raise RuntimeError("slack down or user_not_found")
        return {"ok": True, "user": self.people[user]}


def member(**fields: Any) -> dict[str, Any]:
    """A users.info record of a full member of T01, with `fields` changed."""
    return {"deleted": False, "is_bot": False, "is_restricted": False, "team_id": "T01"} | fields


def test_rate_limit_window() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)
    assert limiter.retry_in("U01") is None
    assert limiter.retry_in("U01") is None
    assert limiter.retry_in("U01") == 60
    assert limiter.retry_in("U02") is None  # per user
    clock.now += 30
    assert limiter.retry_in("U01") == 30
    clock.now += 30
    assert limiter.retry_in("U01") is None


HOME = Workspace("T01", None)


def who(user: str, team: str | None = "T01", enterprise: str | None = None) -> Requester:
    return Requester(user, team, enterprise)


def control(env: dict[str, str], slack: SlackStub, **kwargs: Any) -> AccessControl:
    return AccessControl(load_settings({**BASE, **env}), slack, lambda: HOME, **kwargs)


async def test_named_users_need_no_slack_lookup_but_must_be_of_this_workspace() -> None:
    slack = SlackStub({})
    access = control({"APIKEYID_ALLOWED_USERS": "U01"}, slack)
    assert await access.check(who("U01")) is None
    assert await access.check(who("U02")) == Refusal.NOT_LISTED
    assert await access.check(who("U01", team="T99")) == Refusal.OTHER_WORKSPACE
    assert await access.check(who("U01", team=None)) == Refusal.OTHER_WORKSPACE
    assert slack.info_calls == 0


async def test_everyone_means_full_members_of_this_workspace() -> None:
    slack = SlackStub({})
    slack.people = {
        "U0M": member(),
        "U0G": member(is_restricted=True),
        "U0U": member(is_ultra_restricted=True),
        "U0D": member(deleted=True),
        "U0B": member(is_bot=True),
        "U0X": member(team_id="T99"),
        "U0N": {"id": "U0N"},  # Slack did not say whether the account is active
    }
    access = control({"APIKEYID_ALLOW_EVERYONE": "yes"}, slack)
    assert await access.check(who("U0M")) is None
    assert await access.check(who("U0G")) == Refusal.GUEST
    assert await access.check(who("U0U")) == Refusal.GUEST
    assert await access.check(who("U0D")) == Refusal.DEACTIVATED
    assert await access.check(who("U0B")) == Refusal.BOT_USER
    assert await access.check(who("U0X")) == Refusal.OTHER_WORKSPACE
    assert await access.check(who("U0N")) == Refusal.UNVERIFIED
    assert await access.check(who("U0MISSING")) == Refusal.UNVERIFIED
    calls = slack.info_calls
    assert await access.check(who("U0G")) == Refusal.GUEST  # remembered, not asked again
    assert slack.info_calls == calls


async def test_when_slack_cannot_say_the_answer_is_no_and_is_asked_again() -> None:
    slack = SlackStub({})
    slack.people = {"U0M": member()}
    slack.fail = True
    access = control({"APIKEYID_ALLOW_EVERYONE": "yes"}, slack)
    assert await access.check(who("U0M")) == Refusal.UNVERIFIED
    slack.fail = False
    assert await access.check(who("U0M")) is None  # a failure is not remembered


async def test_enterprise_grid_admits_the_same_org_only() -> None:
    slack = SlackStub({})
    slack.people = {"U0M": member(team_id="T02", enterprise_user={"enterprise_id": "E01"})}
    access = AccessControl(
        load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes"}), slack, lambda: Workspace("T01", "E01")
    )
    assert await access.check(who("U0M", team="T02", enterprise="E01")) is None
    assert await access.check(who("U0M", team="T02", enterprise="E99")) == Refusal.OTHER_WORKSPACE


async def test_grid_members_are_admitted_however_slack_names_their_team() -> None:
    slack = SlackStub({})
    # users.info on Grid: `team_id` can be the org's id, with or without `enterprise_user`.
    slack.people = {
        "U0A": member(team_id="E01"),
        "U0B": member(team_id="E01", enterprise_user={"enterprise_id": "E01", "teams": ["T01"]}),
        "U0P": member(team_id="T0PARTNER"),
        "U0Q": member(team_id="E99"),
    }
    access = AccessControl(
        load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes"}), slack, lambda: Workspace("T01", "E01")
    )
    for user in ("U0A", "U0B"):
        assert await access.check(who(user, team="T01", enterprise="E01")) is None
    assert await access.check(who("U0A", team=None, enterprise="E01")) is None
    # Slack Connect partners: another team with no org, or another org.
    assert await access.check(who("U0P", team="T0PARTNER")) == Refusal.OTHER_WORKSPACE
    assert await access.check(who("U0Q", team="T0PARTNER", enterprise="E99")) == Refusal.OTHER_WORKSPACE
    # A partner's payload that claims our team is still judged by Slack's record of the person.
    assert await access.check(who("U0P", team="T01", enterprise=None)) == Refusal.OTHER_WORKSPACE


async def test_nobody_is_admitted_before_the_bot_knows_its_workspace() -> None:
    access = AccessControl(
        load_settings({**BASE, "APIKEYID_ALLOWED_USERS": "U01"}), SlackStub({}), lambda: None
    )
    assert await access.check(who("U01")) == Refusal.BOT_IDENTITY_UNKNOWN


async def test_group_members_are_cached_and_failure_denies() -> None:
    clock = Clock()
    slack = SlackStub({"S01": ["U01"]})
    slack.people = {"U01": member(), "U02": member()}
    access = control({"APIKEYID_ALLOWED_USERGROUPS": "S01"}, slack, clock=clock)
    assert await access.check(who("U01")) is None
    assert await access.check(who("U02")) == Refusal.NOT_LISTED
    assert slack.calls == 1
    slack.groups_fail = True
    clock.now += GROUP_STALE_LIMIT - 1
    assert await access.check(who("U01")) is None  # a recent good answer still counts
    clock.now += 2
    assert await access.check(who("U01")) == Refusal.UNVERIFIED  # too old, and Slack cannot refresh it


def test_a_list_is_not_trusted_much_past_one_refresh_period() -> None:
    # The README promises that when Slack cannot say, the answer is no: one missed refresh at most.
    assert GROUP_STALE_LIMIT <= GROUP_TTL + 60


async def test_a_guest_in_an_allowed_group_is_still_refused() -> None:
    slack = SlackStub({"S01": ["U0G"]})
    slack.people = {"U0G": member(is_restricted=True)}
    access = control({"APIKEYID_ALLOWED_USERGROUPS": "S01"}, slack)
    assert await access.check(who("U0G")) == Refusal.GUEST


async def test_background_refresh_picks_up_new_members() -> None:
    slack = SlackStub({"S01": []})
    slack.people = {"U01": member()}
    access = control({"APIKEYID_ALLOWED_USERGROUPS": "S01"}, slack)
    assert await access.check(who("U01")) == Refusal.NOT_LISTED
    slack.members["S01"] = ["U01"]
    await access.refresh()
    assert await access.check(who("U01")) is None


async def test_a_region_with_its_own_groups_is_closed_to_others_and_while_slack_cannot_say() -> None:
    slack = SlackStub({"S0HIPAA": ["U0CLEARED"], "S0ALL": ["U0CLEARED", "U0OTHER"]})
    env = {
        "COVEO_ACCESS_TOKEN": "",
        "COVEO_ACCESS_TOKEN_US": "t-us",
        "COVEO_ACCESS_TOKEN_HIPAA": "t-hipaa",
        "APIKEYID_ALLOWED_USERGROUPS": "S0ALL",
        "APIKEYID_ALLOWED_USERGROUPS_HIPAA": "S0HIPAA",
    }
    clock = Clock()
    access = control(env, slack, clock=clock)
    deadline = time.monotonic() + 2
    assert await access.closed_regions("U0CLEARED", deadline) == frozenset()
    assert await access.closed_regions("U0OTHER", deadline) == {"hipaa"}
    # The list grows stale and cannot be read again: unknown denies, for the cleared person too.
    clock.now += GROUP_STALE_LIMIT + 1
    slack.groups_fail = True
    assert await access.closed_regions("U0CLEARED", deadline) == {"hipaa"}
    # No region group configured: nothing is closed and Slack is not asked.
    calls = slack.calls
    plain = control({"APIKEYID_ALLOW_EVERYONE": "true"}, slack)
    assert await plain.closed_regions("U0OTHER", deadline) == frozenset()
    assert slack.calls == calls
