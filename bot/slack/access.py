"""Who may use the command, and how often.

Identities are Slack ids, never display names (names can be changed by their owner).
The checks, in order: the request comes from the bot's own workspace; the person is named
in APIKEYID_ALLOWED_USERS (nothing more is asked), or is in an allowed user group, or
everyone is allowed; and then Slack confirms (`users.info`) that the person is a full member
of this workspace: not a guest, not deactivated, not a bot. Whenever Slack cannot say, the
answer is no.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.outcomes import Refusal
from bot.settings import Settings
from bot.slack.web import Workspace

log = logging.getLogger(__name__)

GROUP_TTL = 300.0  # how often membership lists are read again
# A list older than one refresh period and a little margin means the last refresh failed:
# its members are no longer trusted (when Slack cannot say, the answer is no).
GROUP_STALE_LIMIT = GROUP_TTL + 60.0
USER_TTL = 300.0  # how long Slack's word on one person (guest, deactivated, team) is kept
MAX_USERS_KEPT = 10_000
LOOKUP_TIMEOUT = 2.0  # one Slack read (a user group's members, or users.info)
# The whole check (a stale group list re-read, then users.info) shares this, from the request's
# arrival. Past 2.5 s the person gets a "looking up" ack and the answer at response_url.
ADMISSION_BUDGET = 4.0


@dataclass(frozen=True)
class Requester:
    user_id: str
    team_id: str | None
    enterprise_id: str | None


class AccessControl:
    def __init__(
        self,
        settings: Settings,
        slack_client: Any,
        workspace: Callable[[], Workspace | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.everyone = settings.allow_everyone
        self.users = settings.allowed_users
        self.groups = settings.allowed_usergroups
        # Regions only their own groups' members may ask, and every group whose members are read.
        self.region_groups = settings.region_usergroups
        self._all_groups = self.groups.union(*self.region_groups.values())
        self._slack = slack_client
        self._workspace = workspace
        self._clock = clock
        self._members: dict[str, tuple[frozenset[str], float]] = {}
        self._people: OrderedDict[str, tuple[Refusal | None, float]] = OrderedDict()
        self._refresher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def check(self, who: Requester, deadline: float | None = None) -> Refusal | None:
        """None when `who` may use the bot, otherwise why not. Slack's reads share `deadline` (a
        `time.monotonic()` instant; ADMISSION_BUDGET from now without one): past it, unknown denies."""
        if deadline is None:
            deadline = time.monotonic() + ADMISSION_BUDGET
        workspace = self._workspace()
        if workspace is None:
            return Refusal.BOT_IDENTITY_UNKNOWN
        if not workspace.includes(who.team_id, who.enterprise_id):
            return Refusal.OTHER_WORKSPACE
        if who.user_id in self.users:
            return None
        if not self.everyone:
            if not self.groups:
                return Refusal.NOT_LISTED
            members, complete = await self._group_members(deadline)
            if who.user_id not in members:
                return Refusal.NOT_LISTED if complete else Refusal.UNVERIFIED
        return await self._person(who.user_id, workspace, deadline)

    async def closed_regions(self, user_id: str, deadline: float) -> frozenset[str]:
        """The regions `user_id` may not ask: those with their own user groups (the region's
        APIKEYID_ALLOWED_USERGROUPS_<REGION>) that the person is not known to be a member of.
        A list Slack cannot give fresh counts as "not a member" (unknown denies)."""
        if not self.region_groups:
            return frozenset()
        needed = frozenset().union(*self.region_groups.values())
        await self._refresh_stale(
            sorted(needed),
            deadline,
            "reading a region's user group members timed out; that region stays closed",
        )
        return frozenset(
            region
            for region, groups in self.region_groups.items()
            if not any(not self._stale(g) and user_id in self._members[g][0] for g in groups)
        )

    def last_group_read(self) -> float | None:
        """When the oldest membership list was last read (clock time), None when one never was."""
        if not self._all_groups or any(g not in self._members for g in self._all_groups):
            return None
        return min(read for _, read in self._members.values())

    def start(self) -> None:
        """Keep group memberships fresh in the background, so no command waits for Slack."""
        if self._all_groups and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None

    async def _person(self, user_id: str, workspace: Workspace, deadline: float) -> Refusal | None:
        known = self._people.get(user_id)
        if known is not None and self._clock() - known[1] < USER_TTL:
            return known[0]
        try:
            async with asyncio.timeout(_within(deadline)):
                response = await self._slack.users_info(user=user_id)
            user = response.get("user")
        except Exception as exc:  # any Slack failure means "unknown", and unknown denies
            log.warning(
                "could not ask Slack who a user is",
                extra={"event": "users_info_error", "error": type(exc).__name__},
            )
            return Refusal.UNVERIFIED
        verdict = _judge(user, workspace) if isinstance(user, dict) else Refusal.UNVERIFIED
        self._people[user_id] = (verdict, self._clock())
        self._people.move_to_end(user_id)
        if len(self._people) > MAX_USERS_KEPT:
            self._people.popitem(last=False)
        return verdict

    async def _group_members(self, deadline: float) -> tuple[frozenset[str], bool]:
        """Members of the allowed groups whose lists are fresh, and whether every list is."""
        await self._refresh_stale(
            self.groups, deadline, "reading user group members timed out; denying until it succeeds"
        )
        fresh = [g for g in self.groups if not self._stale(g)]
        members = frozenset().union(*(self._members[g][0] for g in fresh))
        return members, len(fresh) == len(self.groups)

    async def _refresh_stale(self, groups: Iterable[str], deadline: float, timed_out: str) -> None:
        """Read again the lists of `groups` that are stale, until `deadline` (then `timed_out` is
        logged, and what is still stale counts as unknown: it denies)."""
        stale = [g for g in groups if self._stale(g)]
        if not stale:
            return
        try:
            async with asyncio.timeout(_within(deadline)):
                await self.refresh(stale)
        except TimeoutError:
            log.warning(timed_out)

    def _stale(self, group: str) -> bool:
        cached = self._members.get(group)
        return cached is None or self._clock() - cached[1] >= GROUP_STALE_LIMIT

    async def refresh(self, groups: list[str] | None = None) -> None:
        async with self._lock:
            for group in groups or sorted(self._all_groups):
                try:
                    response = await self._slack.usergroups_users_list(usergroup=group)
                    users = response.get("users") or []
                except Exception as exc:  # any Slack failure means "unknown", and unknown denies
                    log.warning(
                        "could not read members of a user group",
                        extra={"event": "usergroup_error", "usergroup": group, "error": type(exc).__name__},
                    )
                    continue
                self._members[group] = (frozenset(u for u in users if isinstance(u, str)), self._clock())

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(GROUP_TTL)


def _within(deadline: float) -> float:
    """Seconds one Slack read may take: LOOKUP_TIMEOUT, and never past the admission's deadline."""
    return max(0.0, min(LOOKUP_TIMEOUT, deadline - time.monotonic()))


def _judge(user: dict[str, Any], workspace: Workspace) -> Refusal | None:
    """Slack's `users.info` record → why this person may not use the bot, or None."""
    if user.get("deleted") is not False:
        return Refusal.DEACTIVATED if user.get("deleted") else Refusal.UNVERIFIED
    if user.get("is_bot") or user.get("is_app_user"):
        return Refusal.BOT_USER
    if user.get("is_restricted") or user.get("is_ultra_restricted") or user.get("is_stranger"):
        return Refusal.GUEST
    # On Grid the record names the org in `enterprise_user.enterprise_id`, and its `team_id` can be
    # the org's id (E…) rather than a workspace's (Slack's users.info and user object docs).
    grid = user.get("enterprise_user")
    enterprise_id = grid.get("enterprise_id") if isinstance(grid, dict) else None
    team_id = user.get("team_id")
    if isinstance(team_id, str) and is_enterprise_id(team_id):
        enterprise_id, team_id = enterprise_id or team_id, None
    if not workspace.includes(team_id, enterprise_id):
        return Refusal.OTHER_WORKSPACE
    return None


def is_enterprise_id(team_id: str) -> bool:
    """Slack's ids of Enterprise Grid orgs start with E (workspaces' with T)."""
    return team_id.startswith("E")


class RateLimiter:
    """At most `limit` commands per user in any `window` seconds."""

    def __init__(
        self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def retry_in(self, user_id: str) -> float | None:
        """None when the user may go ahead (and counts this use); otherwise seconds to wait."""
        now = self._clock()
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            return self.window - (now - recent[0])
        recent.append(now)
        if len(self._recent) > 10_000:
            self._forget_idle(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for user in [u for u, q in self._recent.items() if not q or now - q[-1] >= self.window]:
            del self._recent[user]
