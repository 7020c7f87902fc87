"""The HTTP front door: `POST /slack/events` for Slack; `GET /healthz`, `/readyz` and `/metrics`
for the platform.

Signatures are checked here, before Bolt sees the request, so that every malformed,
stale or forged request is refused with 401 (never a 500) and its body is never parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.serving.lifecycle import HANDLER_GRACE, drain, stop_signals, unless_stopped
from bot.serving.lifecycle import start as lifecycle_start
from bot.serving.lifecycle import stop as lifecycle_stop
from bot.serving.ops import SERVICES, STARTED, STOPPING, add_ops_routes
from bot.settings import Settings

log = logging.getLogger(__name__)

# A slash command is a few KB, but a click inside a modal carries the whole view (up to 100
# blocks of 3,000 characters, JSON-escaped); anything larger than this is not Slack.
MAX_BODY_BYTES = 1024 * 1024
# Slack sends its few KB at once: a body still arriving after this is refused with 408 (a client
# that trickles or stops must not hold a handler, nor up to MAX_BODY_BYTES, for long).
BODY_READ_DEADLINE = 5.0
# After a 408 or 413, how long the rest of an unread body is read and dropped before the
# connection closes (aiohttp's lingering close; its default is 10 s).
LINGER = 1.0
SIGNATURE_WINDOW = 300  # Slack's 5 minutes: older requests may be replays
MAX_FORM_FIELDS = 100  # a slash command has about 15; more is not Slack


class _BadRequestsAreRefusals(logging.Filter):
    """aiohttp answers a request it cannot parse (a broken chunk size, a malformed header) with
    400 itself, and logs the parser's traceback as an error. Such a request is not Slack's: it
    becomes one warning line like the bot's own refusals, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, web.RequestPayloadError):
            status = 400
        elif isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
            status = exc.code or 400
        else:
            return True
        record.msg, record.args = "request refused", ()
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.event, record.status = "request_refused", status
        record.reason = f"malformed HTTP request ({type(exc).__name__})"
        return True


logging.getLogger("aiohttp.server").addFilter(_BadRequestsAreRefusals())

BOLT = web.AppKey("bolt", AsyncApp)


async def run_http(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT; then stop without refusing anyone the platform still routes here.

    On the signal /readyz turns 503 at once, but the listener keeps serving for
    APIKEYID_SHUTDOWN_DELAY seconds: an orchestrator takes the process out of its endpoints only
    after its next probe, and a request sent in between would otherwise meet a closed port (Slack
    shows the user an error). Then the listener closes, the commands in flight are drained, and
    the process exits 0. A second signal skips what is left of the delay.
    """
    stop = stop_signals()
    webapp = build_web_app(settings)
    runner = web.AppRunner(
        webapp,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=HANDLER_GRACE,
        lingering_time=LINGER,
        # Slack sends no compressed body: one that says it is compressed is refused (415) unread,
        # and aiohttp must not inflate it on the way in (a bad gzip body was a 500 and a traceback).
        auto_decompress=False,
    )
    if not await unless_stopped(stop, _setup(runner)):
        log.info("stopped during start-up", extra={"event": "shutdown"})
        return 0
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info(
            "starting HTTP server",
            extra={
                "event": "start",
                "host": settings.host,
                "port": settings.port,
                "access": settings.access_policy(),
            },
        )
        await stop.wait()
        webapp[STOPPING].set()
        log.info(
            "stopping: not ready, still serving",
            extra={"event": "stopping", "shutdown_delay": settings.shutdown_delay},
        )
        stop.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.shutdown_delay)
    finally:
        await runner.cleanup()  # the listener closes, then the drain (on_shutdown), then the clients
    return 0


async def _setup(runner: web.AppRunner) -> bool:
    await runner.setup()  # runs the lifecycle's start (auth.test, group lists)
    return True


def build_web_app(settings: Settings) -> web.Application:
    webapp = web.Application(client_max_size=MAX_BODY_BYTES)
    webapp[STOPPING] = asyncio.Event()
    webapp.router.add_post("/slack/events", slack_events)
    add_ops_routes(webapp)
    webapp.cleanup_ctx.append(_lifecycle(settings))
    webapp.on_shutdown.append(_drain)
    return webapp


def _lifecycle(settings: Settings) -> Any:
    async def lifecycle(webapp: web.Application) -> AsyncIterator[None]:
        services, app = await lifecycle_start(settings)
        webapp[SERVICES] = services
        webapp[BOLT] = app
        webapp[STARTED] = time.time()
        yield
        await lifecycle_stop(services)

    return lifecycle


async def _drain(webapp: web.Application) -> None:
    """On SIGTERM: refuse new commands, let the ones in flight post their answers."""
    await drain(webapp[SERVICES])


async def slack_events(request: web.Request) -> web.StreamResponse:
    received_at = time.monotonic()  # the inline answer budget counts from here
    services = request.app[SERVICES]
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _refuse(413, "body too large")
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return _refuse(415, "compressed body (Slack sends none)")
    try:
        async with asyncio.timeout(BODY_READ_DEADLINE):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(413, "body too large")
    except TimeoutError:
        return _refuse(408, "body too slow")
    except (web.RequestPayloadError, ConnectionResetError):  # a broken body, or the client gone mid-way
        return _refuse(400, "body could not be read")
    secret = services.settings.slack_signing_secret
    problem = signature_problem(
        secret.reveal() if secret else "",
        body,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
    )
    if problem:
        return _refuse(401, problem)
    if not services.accepting:
        return _refuse(503, "shutting down")
    payload = parse_body(body, request.content_type)
    if payload is None:
        return _refuse(400, "body is not a Slack form or JSON object")
    # Bolt's own parser guesses the body's kind from its text (any body holding the word
    # "payload" is taken for a button click): it gets the parsed object instead. Bolt accepts a
    # dict only in its "socket_mode" mode, which differs from "http" only in skipping signature
    # checks, done above.
    bolt_request = AsyncBoltRequest(
        body=payload,
        query=request.query_string,
        headers=dict(request.headers),
        context={"received_at": received_at},
        mode="socket_mode",
    )
    bolt_response = await request.app[BOLT].async_dispatch(bolt_request)
    return await to_aiohttp_response(bolt_response)


def parse_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    """A signed request's body as Slack meant it, or None when it is not one Slack sends.

    Forms carry slash commands (fields) or interactions (one `payload` field holding JSON);
    JSON bodies carry events. Only the field name `payload` makes a form an interaction.
    """
    try:
        text = body.decode("utf-8")
        if content_type == "application/json":
            data = json.loads(text)
        else:
            fields = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
            form = dict(fields)
            data = json.loads(form["payload"]) if "payload" in form else form
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError and too many fields are ValueErrors
        return None
    return data if isinstance(data, dict) else None


def signature_problem(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> str | None:
    """Why a request is not Slack's, or None when its signature is good."""
    if not secret:
        return "no signing secret configured"
    if not timestamp or not signature:
        return "missing signature headers"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "malformed timestamp"
    if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW:
        return "stale timestamp"
    # Computed over the bytes as received: slack_sdk's helper decodes the body first and raises
    # on anything that is not UTF-8.
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "bad signature"
    return None


def _refuse(status: int, reason: str) -> web.Response:
    # The reason is ours; no header value or body goes into the log.
    log.warning("request refused", extra={"event": "request_refused", "status": status, "reason": reason})
    return web.json_response({"error": reason}, status=status)
