"""Who may use the command, and how often.

Identities are Slack ids, never display names (names can be changed by their owner).
When group membership cannot be read from Slack, the answer is no.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)

GROUP_TTL = 300.0  # how long a membership list is trusted before it is read again
GROUP_STALE_LIMIT = 3 * GROUP_TTL  # past this without a successful read, members are unknown
LOOKUP_TIMEOUT = 2.0  # a cold membership read must leave time to answer Slack within 3 s


class AccessControl:
    def __init__(
        self,
        settings: Settings,
        slack_client: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.everyone = settings.allow_everyone
        self.users = settings.allowed_users
        self.groups = settings.allowed_usergroups
        self._slack = slack_client
        self._clock = clock
        self._members: dict[str, tuple[frozenset[str], float]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def allows(self, user_id: str) -> bool:
        if self.everyone or user_id in self.users:
            return True
        if not self.groups:
            return False
        members = await self._group_members()
        return user_id in members

    def who_to_ask(self) -> str:
        if self.groups:
            # Inside an ephemeral message a group mention shows its name and notifies nobody.
            names = ", ".join(f"<!subteam^{g}>" for g in sorted(self.groups))
            return f"Members of {names} may use it: ask a lead of one of these groups or the bot's admin to add you."
        return "Ask the bot's admin to add your Slack id to APIKEYID_ALLOWED_USERS."

    def start(self) -> None:
        """Keep group memberships fresh in the background, so no command waits for Slack."""
        if self.groups and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None

    async def _group_members(self) -> frozenset[str]:
        if any(self._stale(group) for group in self.groups):
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT):
                    await self.refresh([g for g in self.groups if self._stale(g)])
            except TimeoutError:
                log.warning("reading user group members timed out; denying until it succeeds")
        # Only lists read successfully and recently count: unknown membership denies.
        return frozenset().union(*(self._members[g][0] for g in self.groups if not self._stale(g)))

    def _stale(self, group: str) -> bool:
        cached = self._members.get(group)
        return cached is None or self._clock() - cached[1] >= GROUP_STALE_LIMIT

    async def refresh(self, groups: list[str] | None = None) -> None:
        async with self._lock:
            for group in groups or sorted(self.groups):
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
