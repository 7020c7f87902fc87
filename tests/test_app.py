"""The command flow's promises that end-to-end tests cannot reach in reasonable time."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bot.app import CommandRun
from bot.command import Lookup
from bot.server import drain_grace
from bot.services import InFlight
from bot.settings import load_settings
from bot.slack import ResponsePoster

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "COVEO_ACCESS_TOKEN": "t"}


class HangingDirectory:
    clients: ClassVar[dict[str, Any]] = {"us": None}

    async def locate(self, org: str, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)


async def test_a_command_cancelled_at_shutdown_still_leaves_its_audit_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes"})
    services = SimpleNamespace(
        settings=settings, directory=HangingDirectory(), inflight=InFlight(), audit_channel=None
    )
    run = CommandRun({"user_id": "U01", "team_id": "T01"}, None, services)  # type: ignore[arg-type]
    task = asyncio.create_task(run.finish(Lookup("myorg", "k")))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.INFO, logger="apikeyid.audit"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [line] = [r for r in caplog.records if r.name == "apikeyid.audit"]
    assert line.outcome == "cancelled" and line.user_id == "U01"  # type: ignore[attr-defined]


def test_shutdown_waits_for_the_slowest_answer_and_its_posting() -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", "APIKEYID_ANSWER_DEADLINE": "20"})
    # The answer may come at the deadline, and its post may take every attempt and pause.
    assert drain_grace(settings) >= 20 + ResponsePoster.WORST_CASE
    assert ResponsePoster.WORST_CASE >= 3 * 5
