"""The command flow's promises that end-to-end tests cannot reach in reasonable time."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bot.core.command import Lookup
from bot.flow import pipeline as flow
from bot.flow.services import InFlight
from bot.metrics import Metrics
from bot.serving.lifecycle import drain_grace
from bot.settings import load_settings
from bot.slack.access import RateLimiter
from bot.slack.request import Interaction
from bot.slack.responses import ResponsePoster

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "COVEO_ACCESS_TOKEN": "t"}


class HangingDirectory:
    clients: ClassVar[dict[str, Any]] = {"us": None}

    def cached(self, org: str, region: str | None = None) -> bool:
        return False

    async def locate(self, org: str, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)


class Everyone:
    async def check(self, who: Any, deadline: float | None = None) -> None:
        return None

    async def closed_regions(self, user_id: str, deadline: float) -> frozenset[str]:
        return frozenset()


async def test_a_command_cancelled_at_shutdown_still_leaves_its_audit_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", "APIKEYID_INLINE_BUDGET": "2"})
    services = SimpleNamespace(
        settings=settings,
        directory=HangingDirectory(),
        inflight=InFlight(),
        audit_channel=None,
        limiter=RateLimiter(100),
        access=Everyone(),
        accepting=True,
        metrics=Metrics(),
    )
    acks: list[dict[str, Any]] = []

    async def ack(**message: Any) -> None:
        acks.append(message)

    who = Interaction.from_command({"user_id": "U01", "team_id": "T01", "text": "myorg k"})
    task = asyncio.create_task(flow.answer_command(services, who, ack))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # inside the inline budget, waiting for Coveo
    with caplog.at_level(logging.INFO, logger="apikeyid.audit"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [line] = [r for r in caplog.records if r.name == "apikeyid.audit"]
    assert line.outcome == "cancelled" and line.user_id == "U01" and line.org == "myorg"  # type: ignore[attr-defined]


def test_shutdown_waits_for_the_slowest_answer_and_its_posting() -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", "APIKEYID_ANSWER_DEADLINE": "20"})
    # The answer may come at the deadline, and its post may take every attempt and pause.
    assert drain_grace(settings) >= 20 + ResponsePoster.WORST_CASE
    assert ResponsePoster.WORST_CASE >= 3 * 5


class CachedButSlowDirectory(HangingDirectory):
    """Says the org is cached, then needs Coveo anyway (a name not in the cached list)."""

    def cached(self, org: str, region: str | None = None) -> bool:
        return True


async def test_the_inline_wait_never_runs_past_slacks_deadline() -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes"})
    services = SimpleNamespace(settings=settings, directory=CachedButSlowDirectory(), accepting=True)
    who = Interaction.from_command({"user_id": "U01", "text": "myorg k"}, received_at=time.monotonic() - 2.3)
    began = time.monotonic()
    work, done = await flow.within_budget(services, Lookup("myorg", "k"), who)  # type: ignore[arg-type]
    work.cancel()
    # A slow access check used 2.3 s already: the reply must leave by 2.5 s, not wait 1 s more.
    assert not done and time.monotonic() - began < 0.4


async def test_a_command_cancelled_in_its_inline_wait_cancels_its_lookup() -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", "APIKEYID_INLINE_BUDGET": "2"})
    services = SimpleNamespace(settings=settings, directory=HangingDirectory(), accepting=True)
    who = Interaction.from_command({"user_id": "U01", "text": "myorg k"})
    waiting = asyncio.create_task(flow.within_budget(services, Lookup("myorg", "k"), who))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    lookups = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "run_lookup"]  # type: ignore[union-attr]
    assert all(t.cancelled() or t.cancelling() for t in lookups)
    assert not [t for t in lookups if not t.done()]
