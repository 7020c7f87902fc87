"""A fake Slack: the Web API methods the bot calls, and `response_url` endpoints that record answers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import BackgroundServer

TAKE_THEN_HANG = -1  # a response_faults entry: record the answer, then answer only after the bot gave up
BOT_TOKEN = "xoxb-1111111111-2222222222-testtokenvalue"
APP_TOKEN = "xapp-1-A0APP-3333333333-testapptokenvalue"


class FakeSlack:
    def __init__(self, enterprise_id: str | None = None) -> None:
        # Set: the bot's workspace T0001 is part of this Enterprise Grid org (auth.test says so,
        # and every users.info record carries `enterprise_user`, as Slack's docs show on Grid).
        self.enterprise_id = enterprise_id
        self.auth_test_calls = 0
        self.auth_test_fails = False
        self.auth_test_delay = 0.0  # seconds before auth.test answers (a slow Slack at start-up)
        # users.info records by user id; anyone not here is "user_not_found".
        self.users: dict[str, dict[str, Any]] = {
            user: member(user, enterprise_id)
            for user in ("U0ALLOWED", "U0MEMBER", "U0OUTSIDER", "U0NOPE", "U0STRANGER")
        }
        self.users_info_calls: list[str] = []
        self.users_info_delay = 0.0  # seconds before users.info answers (a slow Slack)
        self.posted: list[dict[str, Any]] = []  # chat.postMessage calls
        self.ephemerals: list[dict[str, Any]] = []  # chat.postEphemeral calls
        self.views: list[tuple[str, dict[str, Any]]] = []  # views.open / update / publish calls
        self.post_message_fails = False
        # Slack's pace for chat.postMessage, when set: about one message per second per channel;
        # a faster call gets HTTP 429, `Retry-After` (whole seconds) and {"ok": false, "error":
        # "ratelimited"} (https://docs.slack.dev/apis/web-api/rate-limits, "Responding to rate
        # limiting conditions"), and is not posted.
        self.post_message_interval: float | None = None
        self.post_message_retry_after = "1"
        self.post_message_calls: list[tuple[float, str, int]] = []  # (time.monotonic(), channel, status)
        self.post_message_limited = 0
        self._last_post_at: dict[str, float] = {}
        # A response_url post is answered with a redirect there, when set (a bot must not follow it).
        self.response_redirect: str | None = None
        self.usergroups: dict[str, list[str]] = {}
        self.usergroups_fail = False
        self.usergroups_delay = 0.0  # seconds before usergroups.users.list answers (a slow Slack)
        self.answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.response_faults: deque[int] = deque()  # statuses to answer response_url posts with, first
        self.api_calls: list[str] = []
        self.received_at: dict[str, float] = {}  # response id → time.monotonic() of its first answer
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._web_api)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_get("/socket", self._socket)
        # For the benchmark: a bare server answering like an ack, to show what the load alone costs.
        app.router.add_post("/floor", self._floor)
        self.sockets: list[web.WebSocketResponse] = []
        self.envelope_replies: dict[str, dict[str, Any]] = {}
        # Set: apps.connections.open hands out this WebSocket URL instead (one nobody answers on,
        # to play a Socket Mode endpoint the bot cannot reach).
        self.socket_url: str | None = None
        # Set: the socket end never answers the bot's close frame (a Slack that has gone quiet);
        # RFC 6455 §5.5.1: the endpoint that sent a Close waits for the peer's Close in reply.
        self.socket_ignores_close = False
        self.server = BackgroundServer(app)

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/"

    def new_response_url(self) -> str:
        return f"{self.server.url}/response/{uuid.uuid4().hex}"

    def answers_for(self, response_url: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.answers[response_url.rsplit("/", 1)[-1]])

    def wait_for_answers(
        self, response_url: str, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = self.answers_for(response_url)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.answers_for(response_url)

    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        with self._lock:
            self.api_calls.append(method)
        if method == "apps.connections.open":
            if request.headers.get("Authorization") != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            # Slack's apps.connections.open answer: {"ok": true, "url": "wss://…"}; a refused app
            # token gets {"ok": false, "error": "invalid_auth"} (Slack's method docs).
            url = self.socket_url or f"ws://127.0.0.1:{self.server.port}/socket"
            return web.json_response({"ok": True, "url": url})
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            with self._lock:
                self.auth_test_calls += 1
            if self.auth_test_delay:
                await asyncio.sleep(self.auth_test_delay)
            if self.auth_test_fails:
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
            # auth.test as Slack's docs show it; on Grid it adds `enterprise_id` (and `is_enterprise_install`).
            grid = {"enterprise_id": self.enterprise_id, "is_enterprise_install": False}
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://example.slack.com/",
                    "team": "Example",
                    "user": "apikeyid",
                    "team_id": "T0001",
                    "user_id": "U0BOT",
                    "bot_id": "B0BOT",
                }
                | (grid if self.enterprise_id else {})
            )
        if method == "usergroups.users.list":
            form = await request.post()
            group = str(request.query.get("usergroup") or form.get("usergroup", ""))
            if self.usergroups_delay:
                await asyncio.sleep(self.usergroups_delay)
            if self.usergroups_fail:
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
            if group not in self.usergroups:
                return web.json_response({"ok": False, "error": "no_such_subteam"})
            return web.json_response({"ok": True, "users": self.usergroups[group]})
        if method == "users.info":
            form = await request.post()
            user = str(request.query.get("user") or form.get("user", ""))
            with self._lock:
                self.users_info_calls.append(user)
            if self.users_info_delay:
                await asyncio.sleep(self.users_info_delay)
            if user not in self.users:
                return web.json_response({"ok": False, "error": "user_not_found"})
            return web.json_response({"ok": True, "user": self.users[user]})
        if method == "chat.postMessage":
            data = (
                await request.json()
                if request.content_type == "application/json"
                else dict(await request.post())
            )
            if self.post_message_fails:
                return web.json_response({"ok": False, "error": "channel_not_found"})
            channel, now = str(data.get("channel")), time.monotonic()
            with self._lock:
                last = self._last_post_at.get(channel)
                if (
                    self.post_message_interval
                    and last is not None
                    and now - last < self.post_message_interval
                ):
                    self.post_message_calls.append((now, channel, 429))
                    self.post_message_limited += 1
                    return web.json_response(
                        {"ok": False, "error": "ratelimited"},
                        status=429,
                        headers={"Retry-After": self.post_message_retry_after},
                    )
                self.post_message_calls.append((now, channel, 200))
                self._last_post_at[channel] = now
                self.posted.append(data)
            return web.json_response({"ok": True, "channel": data.get("channel"), "ts": "1.2"})
        if method == "chat.postEphemeral":
            # https://docs.slack.dev/reference/methods/chat.postEphemeral: channel, user, text
            # and/or blocks; the answer is {"ok": true, "message_ts": "…"}.
            data = (
                await request.json()
                if request.content_type == "application/json"
                else dict(await request.post())
            )
            if isinstance(data.get("blocks"), str):
                data["blocks"] = json.loads(data["blocks"])
            with self._lock:
                self.ephemerals.append(data)
            return web.json_response({"ok": True, "message_ts": "1502210682.580145"})
        if method in ("views.open", "views.update", "views.publish"):
            data = (
                await request.json()
                if request.content_type == "application/json"
                else dict(await request.post())
            )
            for name in ("view",):  # form-encoded calls carry the view as a JSON string
                if isinstance(data.get(name), str):
                    data[name] = json.loads(data[name])
            with self._lock:
                self.views.append((method, data))
            return web.json_response({"ok": True, "view": {"id": "V0MODAL", **(data.get("view") or {})}})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def views_of(self, method: str, timeout: float = 5.0, count: int = 1) -> list[dict[str, Any]]:
        """The `views.*` calls of one method, once `count` of them arrived."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [data for name, data in self.views if name == method]
            if len(found) >= count or time.monotonic() > end:
                return found
            time.sleep(0.01)

    async def _floor(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"response_type": "ephemeral", "text": "Looking up…"})

    async def _response(self, request: web.Request) -> web.Response:
        if self.response_redirect is not None:
            raise web.HTTPTemporaryRedirect(self.response_redirect)
        with self._lock:
            status = self.response_faults.popleft() if self.response_faults else 200
        if status not in (200, TAKE_THEN_HANG):
            return web.Response(status=status, text="fault")
        body = await request.json()
        with self._lock:
            self.answers[request.match_info["id"]].append(body)
            self.received_at.setdefault(request.match_info["id"], time.monotonic())
        if status == TAKE_THEN_HANG:
            await asyncio.sleep(7)  # longer than the bot waits for a post
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Slack's Socket Mode end: says hello, then relays envelopes and records the bot's acks."""
        quiet = self.socket_ignores_close
        socket = web.WebSocketResponse(autoclose=not quiet)
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}}
        )
        while True:
            message = await socket.receive()
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    with self._lock:
                        self.envelope_replies[data["envelope_id"]] = data
            elif message.type == WSMsgType.CLOSE and quiet:
                await asyncio.sleep(12)  # no Close in reply: longer than aiohttp waits for one (10 s)
                break
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        self.sockets.remove(socket)
        return socket

    def wait_for_envelope(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The bot's ack of one Socket Mode envelope."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if envelope_id in self.envelope_replies:
                    return self.envelope_replies[envelope_id]
            time.sleep(0.01)
        raise AssertionError("the bot did not ack the envelope")

    def send_slash_command(self, payload: dict[str, Any]) -> str:
        """Push a slash command to the connected bot over its socket; returns the envelope id."""
        return self.send_envelope("slash_commands", payload)

    def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Push any envelope (slash_commands, interactive, events_api) over the bot's socket."""
        envelope_id = uuid.uuid4().hex

        async def push() -> None:
            await self.sockets[-1].send_json(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": True,
                }
            )

        self.server.call(push)
        return envelope_id


def member(user: str, enterprise_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A users.info record of a full member of the bot's team T0001, with `fields` changed; on
    Grid (`enterprise_id`) with the `enterprise_user` object Slack adds there."""
    record: dict[str, Any] = {
        "id": user,
        "team_id": "T0001",
        "deleted": False,
        "is_bot": False,
        "is_app_user": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
    }
    if enterprise_id:
        record["enterprise_user"] = {
            "id": user,
            "enterprise_id": enterprise_id,
            "enterprise_name": "Example Org",
            "is_admin": False,
            "is_owner": False,
            "teams": ["T0001"],
        }
    return record | fields
