"""Everything one process shares across commands, opened at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.coveo.client import CoveoClient
from bot.coveo.directory import KeyDirectory
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.access import AccessControl, RateLimiter
from bot.slack.audit_channel import AuditChannel
from bot.slack.responses import ResponsePoster
from bot.slack.web import SlackAuth


class Counter:
    """How many of something are under way, and a way to wait until there are none."""

    def __init__(self) -> None:
        self.value = 0
        self._none = asyncio.Event()
        self._none.set()

    def enter(self) -> None:
        self.value += 1
        self._none.clear()

    def leave(self) -> None:
        self.value -= 1
        if self.value == 0:
            self._none.set()

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    async def wait_none(self, grace: float) -> bool:
        """True when the count reached zero within `grace` seconds."""
        try:
            async with asyncio.timeout(grace):
                await self._none.wait()
        except TimeoutError:
            return False
        return True


class InFlight:
    """Counts commands still being answered, so shutdown can wait for them (and then for what
    they left behind, such as the audit channel's queue)."""

    def __init__(self) -> None:
        self._working = Counter()
        # Requests whose reply to Slack (the ack) is not out yet; Socket Mode must not close
        # its connection under them, or the answer they carry is lost.
        self._unacked = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        # Called once the work is done, with the seconds left of the drain's grace.
        self._then: list[Callable[[float], Awaitable[bool]]] = []

    @property
    def count(self) -> int:
        return self._working.value

    def acking(self) -> contextlib.AbstractContextManager[None]:
        return self._unacked.counted()

    def then_wait(self, finish: Callable[[float], Awaitable[bool]]) -> None:
        """After the work, `wait_idle` also awaits `finish(seconds left of its grace)`."""
        self._then.append(finish)

    async def wait_idle(self, grace: float) -> bool:
        """True when every command ended (and everything they left went out) within `grace` s."""
        end = time.monotonic() + grace
        done = await self._working.wait_none(grace)
        for finish in self._then:
            done = await finish(end - time.monotonic()) and done
        return done

    async def wait_acked(self, grace: float) -> bool:
        return await self._unacked.wait_none(grace)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in the background, counted until it ends."""
        self._working.enter()
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a reference, or the task may be garbage-collected mid-flight
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._working.leave()


@dataclass
class Services:
    settings: Settings
    coveo: dict[str, CoveoClient]  # one client per region served, by region name
    directory: KeyDirectory
    slack_client: AsyncWebClient
    slack_auth: SlackAuth
    access: AccessControl
    limiter: RateLimiter
    poster: ResponsePoster
    inflight: InFlight
    session: aiohttp.ClientSession
    metrics: Metrics
    audit_channel: AuditChannel | None = None
    accepting: bool = True

    async def close(self) -> None:
        if self.audit_channel is not None:
            await self.audit_channel.close()
        await self.slack_auth.stop()
        await self.access.stop()
        for client in self.coveo.values():
            await client.aclose()
        await self.session.close()
