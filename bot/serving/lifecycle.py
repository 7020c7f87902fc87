"""Start and stop, the same for the HTTP server and Socket Mode."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable
from typing import TypeVar

from slack_bolt.async_app import AsyncApp

from bot.flow.services import Services
from bot.serving.app import build_app
from bot.serving.wiring import open_services
from bot.settings import Settings
from bot.slack.audit_channel import AUDIT_FLUSH
from bot.slack.responses import ResponsePoster

log = logging.getLogger(__name__)
GC_THRESHOLD = 200_000


def stop_signals() -> asyncio.Event:
    """An event set by SIGTERM (the platform) or SIGINT (Ctrl-C), whatever the bot is doing then."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


T = TypeVar("T")


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when a signal comes first (then `work` is cancelled): a start-up
    waiting on Slack (auth.test, up to its timeout) never delays a stop."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


async def start(settings: Settings) -> tuple[Services, AsyncApp]:
    """Open the shared clients, build the app, warm up Slack's `auth.test` and the group lists."""
    services = open_services(settings)
    app = build_app(services)
    await services.slack_auth.start()
    services.access.start()
    freeze_startup_objects()
    return services, app


async def drain(services: Services) -> None:
    """Refuse new requests, let the ones in flight post their answers."""
    services.accepting = False
    waiting = services.inflight.count
    done = await services.inflight.wait_idle(drain_grace(services.settings))
    log.info("shutdown", extra={"event": "shutdown", "in_flight_at_start": waiting, "drained": done})


async def stop(services: Services) -> None:
    await services.close()


# On SIGTERM, after the drain: how long a connection still handling a request (a probe, a body
# still arriving, itself cut at the body deadline) is waited for before it is closed. aiohttp's
# default is 60 s, which one stalled client could make the whole stop wait.
HANDLER_GRACE = 1.0
# Socket Mode's disconnect and close each wait for Slack's Close frame in reply (aiohttp: up to
# 10 s); a Slack gone quiet is given this much for each, then the stop goes on.
SOCKET_CLOSE_BOUND = 1.0


def stop_bound(settings: Settings, *, socket_mode: bool = False) -> float:
    """The longest stop from SIGTERM to exit: the delay (HTTP) or the last acks (Socket Mode, 3 s),
    the drain, then the connections still open."""
    if socket_mode:  # the last acks, then closing the socket twice (disconnect, then close)
        return 3.0 + 2 * SOCKET_CLOSE_BOUND + drain_grace(settings) + HANDLER_GRACE
    return settings.shutdown_delay + drain_grace(settings) + HANDLER_GRACE


def drain_grace(settings: Settings) -> float:
    """How long shutdown waits: the slowest command's answer, then its posting with every retry,
    then what the audit channel's queue gets."""
    return settings.answer_deadline + ResponsePoster.WORST_CASE + AUDIT_FLUSH


def freeze_startup_objects() -> None:
    """Move everything allocated at start-up (modules, classes, clients) out of the collector's sight.

    A full collection otherwise walks all of it every time and stalls the event loop for
    20-50 ms (measured), which lands on whichever commands are in flight.
    """
    gc.collect()
    gc.freeze()
    # Almost everything a command allocates is freed by reference counting; the collector is
    # needed for the rare cycle only. At the default threshold (700 allocations) a burst of
    # commands, each parsing a few hundred keys, ran it hundreds of times a second, and each
    # full pass walked every cached key: about a fifth of the bot's CPU under load (measured).
    # At 50,000 the youngest generation still filled with freshly cached key lists under 200
    # commands in flight, each pass 35-70 ms; at 200,000 the collector's time in a bench run
    # fell from 1.2-1.4 s to 0.1-0.26 s, CPU per command by 0.13-0.49 ms, peak memory the same.
    gc.set_threshold(GC_THRESHOLD, 20, 20)
