"""Socket Mode's stop: closing the socket is bounded, whatever Slack does with the Close frame."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.serving.lifecycle import SOCKET_CLOSE_BOUND, stop_bound
from bot.serving.socket_mode import bounded_close
from bot.settings import Settings


async def test_a_close_slack_never_answers_is_given_the_bound_then_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    never = asyncio.Event()
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.serving.socket_mode"):
        await bounded_close(never.wait(), "disconnect")  # aiohttp would wait 10 s for Slack's Close
    took = time.monotonic() - began
    assert SOCKET_CLOSE_BOUND - 0.05 <= took < SOCKET_CLOSE_BOUND + 0.5, took
    assert [r.event for r in caplog.records] == ["socket_close_slow"]  # type: ignore[attr-defined]


def test_the_socket_mode_stop_bound_counts_both_closes() -> None:
    settings = Settings(coveo_regions=())
    http = stop_bound(settings) - settings.shutdown_delay
    assert stop_bound(settings, socket_mode=True) == http + 3.0 + 2 * SOCKET_CLOSE_BOUND
