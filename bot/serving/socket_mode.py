"""Socket Mode: the same app over a WebSocket that the bot opens, for teams without a public URL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.flow.services import Services
from bot.serving import lifecycle
from bot.serving.lifecycle import HANDLER_GRACE
from bot.serving.ops import SERVICES, SOCKET, STARTED, add_ops_routes
from bot.settings import Settings

log = logging.getLogger(__name__)
ACK_GRACE = 3.0  # Slack waits this long for a reply; past it, the reply is lost anyway


# apps.connections.open's answers that no retry can change: the app-level token is wrong, revoked,
# of the wrong kind or lacks connections:write (Slack's apps.connections.open docs).
REFUSED_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
    }
)
EXIT_CONFIGURATION = 2


async def run_socket_mode(settings: Settings) -> int:
    """Serve over Socket Mode until SIGTERM or SIGINT (exit 0), whether connected or still trying;
    a refused app token is a configuration error (exit 2) instead of an endless retry."""
    assert settings.slack_app_token is not None  # socket_mode is true only with an app token
    stop = lifecycle.stop_signals()  # first: a signal during start-up counts too
    started = await lifecycle.unless_stopped(stop, lifecycle.start(settings))
    if started is None:
        log.info("stopped during start-up", extra={"event": "shutdown"})
        return 0
    services, app = started
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.reveal(), web_client=services.slack_client)
    refused = _watch_for_refusal(handler)
    health = await _start_health_server(settings, services, handler) if settings.port_given else None
    log.info(
        "starting Socket Mode", extra={"event": "start", "mode": "socket", "access": settings.access_policy()}
    )
    # slack_sdk's connect() retries forever while it cannot connect: it runs beside the wait for a
    # signal or a refusal, and is cancelled when either comes first.
    connecting = asyncio.create_task(handler.connect_async())
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(refused.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    code = 0
    if refused.is_set() and not stop.is_set():
        code = EXIT_CONFIGURATION
        log.error(
            "Slack refused SLACK_APP_TOKEN: set it to an app-level token (xapp-…) of this app with the "
            "connections:write scope (the app's Basic Information → App-Level Tokens), and enable "
            "Socket Mode for the app",
            extra={"event": "app_token_refused", "error": refused.error},
        )

    # Stop taking new work, let every request already taken send its reply over the socket
    # (a reply holding the answer is the answer), then close it for good: no reconnecting while
    # the answers that follow their replies are posted.
    services.accepting = False
    handler.client.auto_reconnect_enabled = handler.client.default_auto_reconnect_enabled = False
    if not connecting.done():
        handler.client.closed = True  # ends slack_sdk's retry loop, wherever it is
        connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)
    await services.inflight.wait_acked(ACK_GRACE)
    await bounded_close(handler.disconnect_async(), "disconnect")
    await lifecycle.drain(services)
    await bounded_close(handler.close_async(), "close")
    if health is not None:
        await health.cleanup()
    await lifecycle.stop(services)
    return code


async def bounded_close(step: Awaitable[None], what: str) -> None:
    """Closing the socket waits for Slack's Close frame in reply (aiohttp: up to 10 s); a Slack
    gone quiet gets SOCKET_CLOSE_BOUND, then the stop goes on (counted in lifecycle.stop_bound)."""
    try:
        async with asyncio.timeout(lifecycle.SOCKET_CLOSE_BOUND):
            await step
    except TimeoutError:
        log.warning(
            "Slack did not answer the socket's close in time; the stop goes on",
            extra={"event": "socket_close_slow", "step": what},
        )


class _Refusal(asyncio.Event):
    error: str = ""


def _watch_for_refusal(handler: AsyncSocketModeHandler) -> _Refusal:
    """An event set when Slack refuses the app token (at start or on any reconnection)."""
    refused = _Refusal()
    issue = handler.client.issue_new_wss_url

    async def issue_new_wss_url() -> str:
        try:
            url: str = await issue()
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else None
            if code in REFUSED_TOKEN_ERRORS:
                refused.error = str(code)
                refused.set()
            raise
        return url

    handler.client.issue_new_wss_url = issue_new_wss_url  # type: ignore[method-assign]
    return refused


async def _start_health_server(
    settings: Settings, services: Services, handler: AsyncSocketModeHandler
) -> web.AppRunner:
    webapp = web.Application()
    webapp[SERVICES] = services
    webapp[STARTED] = time.time()
    webapp[SOCKET] = handler.client
    add_ops_routes(webapp)
    # Only GET probes here: a connection still open at the stop is given HANDLER_GRACE, not 60 s.
    runner = web.AppRunner(webapp, access_log=None, shutdown_timeout=HANDLER_GRACE, auto_decompress=False)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    return runner
