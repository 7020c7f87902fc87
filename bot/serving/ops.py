"""The routes for the platform, the same in HTTP mode and on Socket Mode's health port:
`/healthz` (liveness), `/readyz` (readiness), `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.flow.services import Services

SERVICES = web.AppKey("services", Services)
STARTED = web.AppKey("started", float)
SOCKET = web.AppKey("socket", object)  # Socket Mode client, when the bot runs in that mode
# Set on SIGTERM in HTTP mode: /readyz says 503 while requests are still served for a moment.
STOPPING = web.AppKey("stopping", asyncio.Event)


def add_ops_routes(webapp: web.Application) -> None:
    """The routes for the platform, the same in HTTP mode and on Socket Mode's health port."""
    webapp.router.add_get("/healthz", healthz)
    webapp.router.add_get("/readyz", readyz)
    webapp.router.add_get("/metrics", metrics)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    last = coveo_last_answer(services)
    extra = {}
    socket = request.app.get(SOCKET)
    if socket is not None:
        extra["socket_connected"] = await socket.is_connected()  # type: ignore[attr-defined]
    # 503 while draining, so a load balancer stops sending new commands here.
    return web.json_response(
        status=200 if services.accepting else 503,
        data=extra
        | {
            "status": "ok" if services.accepting else "stopping",
            "mode": "socket" if services.settings.socket_mode else "http",
            "slack_auth_warm": services.slack_auth.warm,
            "coveo_last_answer": datetime.fromtimestamp(last, UTC).isoformat() if last else None,
            "regions": list(services.coveo),
            "in_flight": services.inflight.count,
            "uptime_seconds": round(time.time() - request.app[STARTED], 1),
        },
    )


async def readyz(request: web.Request) -> web.Response:
    """200 when this process should get requests; 503 with the reasons otherwise.

    Readiness only takes the process out of the load balancer until the reasons go away; a
    restart would not help (a rejected token or Slack being down outlive it), so liveness stays
    /healthz."""
    reasons = not_ready(request.app[SERVICES])
    stopping = request.app.get(STOPPING)
    if stopping is not None and stopping.is_set():
        reasons.insert(0, "shutting_down")  # SIGTERM: still serving, but send nothing new here
    socket = request.app.get(SOCKET)
    if socket is not None and not await socket.is_connected():  # type: ignore[attr-defined]
        # Socket Mode: with no connection, no command can reach this process.
        reasons.append("socket_disconnected")
    body: dict[str, Any] = {"ready": not reasons, "reasons": reasons}
    degraded = [f"coveo_token_rejected:{r}" for r in rejected_regions(request.app[SERVICES])]
    if degraded and not reasons:
        body["degraded"] = degraded  # ready: the other regions still answer (see not_ready)
    return web.json_response(body, status=503 if reasons else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format; bounded labels, no user data (see bot/metrics.py)."""
    body, content_type = request.app[SERVICES].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def not_ready(services: Services) -> list[str]:
    """Why this process should get no new requests now (for /readyz); [] when it is ready."""
    reasons = [] if services.accepting else ["draining"]
    if not services.slack_auth.warm:
        reasons.append("slack_auth_pending")  # auth.test has not succeeded: everyone is refused
    rejected = rejected_regions(services)
    if len(rejected) == len(services.coveo):
        # Only when no region can answer: one region's expired token must not take the other
        # regions' answers away (every replica shares the tokens, so all would go unready at once
        # and Slack would show its own error instead of the bot's "rotate COVEO_ACCESS_TOKEN_EU").
        reasons += [f"coveo_token_rejected:{r}" for r in rejected]
    return reasons


def rejected_regions(services: Services) -> list[str]:
    """Regions whose Coveo token is known rejected (for /readyz: `degraded` while others answer)."""
    return [r for r, c in services.coveo.items() if c.token_known_rejected()]


def coveo_last_answer(services: Services) -> float | None:
    """When any region's Coveo last answered (wall clock), for /healthz."""
    return max((c.last_answer_at for c in services.coveo.values() if c.last_answer_at), default=None)
