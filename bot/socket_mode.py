"""Socket Mode: the same app over a WebSocket that the bot opens, for teams without a public URL."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot import lifecycle
from bot.server import SERVICES, SOCKET, STARTED, add_ops_routes
from bot.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)
ACK_GRACE = 3.0  # Slack waits this long for a reply; past it, the reply is lost anyway


async def run_socket_mode(settings: Settings) -> None:
    assert settings.slack_app_token is not None  # socket_mode is true only with an app token
    services, app = await lifecycle.start(settings)
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.reveal(), web_client=services.slack_client)
    health = await _start_health_server(settings, services, handler) if settings.port_given else None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "starting Socket Mode", extra={"event": "start", "mode": "socket", "access": settings.access_policy()}
    )
    await handler.connect_async()
    await stop.wait()

    # Stop taking new work, let every request already taken send its reply over the socket
    # (a reply holding the answer is the answer), then close it for good: no reconnecting while
    # the answers that follow their replies are posted.
    services.accepting = False
    handler.client.auto_reconnect_enabled = handler.client.default_auto_reconnect_enabled = False
    await services.inflight.wait_acked(ACK_GRACE)
    await handler.disconnect_async()
    await lifecycle.drain(services)
    await handler.close_async()
    if health is not None:
        await health.cleanup()
    await lifecycle.stop(services)


async def _start_health_server(
    settings: Settings, services: Services, handler: AsyncSocketModeHandler
) -> web.AppRunner:
    webapp = web.Application()
    webapp[SERVICES] = services
    webapp[STARTED] = time.time()
    webapp[SOCKET] = handler.client
    add_ops_routes(webapp)
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    return runner
