"""The floor for `make bench`: the smallest correct slash-command bot in raw aiohttp.

What any bot answering `/apikeyid <org> <key name>` must do, and nothing more: check Slack's
signature (HMAC-SHA256 over `v0:{ts}:{body}`), parse the form, make one GET to
`{coveo}/rest/organizations/{org}/apikeys` on one shared aiohttp session with the bearer token,
`json.loads` the answer, find the exact display name, answer with the id. No retries, no
deadline, no access control, no cache, no escaping, no Block Kit: a floor to measure the real
bot against, never a bot to run.

Two shapes (`--mode`):

- `one`: the answer is the HTTP response to the command itself (one message);
- `two`: an empty 200 at once, then the answer posted to `response_url` (two messages).

Run as its own process, like the bot: `FLOOR_COVEO_TOKEN=… FLOOR_SIGNING_SECRET=… python
scripts/floor_bot.py --mode one --port 8000 --coveo http://127.0.0.1:9000`; `GET /healthz` answers
once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import time
from typing import Any
from urllib.parse import parse_qsl, quote

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
TASKS: set[asyncio.Task[None]] = set()


def build(mode: str, coveo: str, token: str, secret: str) -> web.Application:
    key = secret.encode()
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def find(session: aiohttp.ClientSession, text: str) -> dict[str, Any]:
        org, _, name = text.strip().partition(" ")
        url = f"{coveo}/rest/organizations/{quote(org, safe='')}/apikeys"
        async with session.get(url, headers=auth) as response:
            body = await response.read()
            if response.status != 200:
                return {"response_type": "ephemeral", "text": f"Coveo answered {response.status}"}
        for item in json.loads(body):
            if item.get("displayName") == name:
                return {"response_type": "ephemeral", "text": f"apiKeyId: `{item['id']}`"}
        return {"response_type": "ephemeral", "text": "No key with that name."}

    async def answer_later(session: aiohttp.ClientSession, text: str, response_url: str) -> None:
        message = await find(session, text)
        async with session.post(response_url, json=message) as response:
            await response.read()

    async def events(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return web.Response(status=401)
        expected = (
            "v0=" + hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, signature):
            return web.Response(status=401)
        form = dict(parse_qsl(body.decode()))
        session = request.app[SESSION]
        if mode == "one":
            return web.json_response(await find(session, form.get("text", "")))
        task = asyncio.create_task(answer_later(session, form.get("text", ""), form["response_url"]))
        TASKS.add(task)
        task.add_done_callback(TASKS.discard)
        return web.Response()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(session_ctx)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["one", "two"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--coveo", required=True, help="Coveo platform URL")
    args = parser.parse_args()
    token, secret = os.environ["FLOOR_COVEO_TOKEN"], os.environ["FLOOR_SIGNING_SECRET"]
    app = build(args.mode, args.coveo.rstrip("/"), token, secret)
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
