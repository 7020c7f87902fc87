from __future__ import annotations

from typing import Any

from bot.access import GROUP_STALE_LIMIT, AccessControl, RateLimiter
from bot.settings import load_settings

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
        self.fail = False

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("slack down")
        return {"ok": True, "users": self.members.get(usergroup, [])}


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


async def test_users_and_everyone() -> None:
    access = AccessControl(load_settings({**BASE, "APIKEYID_ALLOWED_USERS": "U01"}), SlackStub({}))
    assert await access.allows("U01")
    assert not await access.allows("U02")
    assert "APIKEYID_ALLOWED_USERS" in access.who_to_ask()
    everyone = AccessControl(load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes"}), SlackStub({}))
    assert await everyone.allows("U0999")


async def test_group_members_are_cached_and_failure_denies() -> None:
    clock = Clock()
    slack = SlackStub({"S01": ["U01"]})
    access = AccessControl(load_settings({**BASE, "APIKEYID_ALLOWED_USERGROUPS": "S01"}), slack, clock=clock)
    assert await access.allows("U01")
    assert not await access.allows("U02")
    assert slack.calls == 1
    slack.fail = True
    clock.now += GROUP_STALE_LIMIT - 1
    assert await access.allows("U01")  # a recent good answer still counts
    clock.now += 2
    assert not await access.allows("U01")  # too old, and Slack cannot refresh it: deny


async def test_background_refresh_picks_up_new_members() -> None:
    slack = SlackStub({"S01": []})
    access = AccessControl(load_settings({**BASE, "APIKEYID_ALLOWED_USERGROUPS": "S01"}), slack)
    assert not await access.allows("U01")
    slack.members["S01"] = ["U01"]
    await access.refresh()
    assert await access.allows("U01")
