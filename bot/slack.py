"""The bot's side of Slack's Web API: who the bot is (`auth.test`), and answers posted to `response_url`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

POST_ATTEMPTS = 3
POST_TIMEOUT = 5.0
POST_BACKOFF = 0.5
# Statuses with which Slack (or its front) says the post was not taken: safe to send again.
NOT_TAKEN_STATUSES = frozenset({429, 503})
AUTH_RETRY_FIRST, AUTH_RETRY_MAX = 2.0, 60.0
WEB_API_TIMEOUT = 5.0  # slack_sdk waits 30 s by default; no call of ours is worth that long


@dataclass(frozen=True)
class Workspace:
    """The bot's own Slack team, as `auth.test` reports it."""

    team_id: str
    enterprise_id: str | None

    def includes(self, team_id: str | None, enterprise_id: str | None) -> bool:
        """Whether a request or user from `team_id` belongs here (on Enterprise Grid: the same org)."""
        if self.enterprise_id and enterprise_id:
            return enterprise_id == self.enterprise_id
        return bool(team_id) and team_id == self.team_id


class SlackAuth:
    """Calls `auth.test` at start-up, and again in the background until it succeeds.

    A command never waits for it: until Slack has said which workspace the bot belongs to,
    `workspace` is None and access control refuses everyone (fail closed, but fast).
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.workspace: Workspace | None = None
        self._result: AuthorizeResult | None = None
        self._retrying: asyncio.Task[None] | None = None

    @property
    def warm(self) -> bool:
        return self._result is not None

    async def warm_up(self) -> None:
        response = await self.client.auth_test()
        self._result = AuthorizeResult.from_auth_test_response(
            bot_token=self.client.token, auth_test_response=response
        )
        team_id = response.get("team_id")
        enterprise_id = response.get("enterprise_id")
        self.workspace = Workspace(str(team_id or ""), str(enterprise_id) if enterprise_id else None)
        log.info("slack auth warm", extra={"event": "slack_auth", "team_id": team_id})

    async def start(self) -> None:
        """Warm up now; on failure keep retrying in the background (the bot serves meanwhile)."""
        try:
            await self.warm_up()
        except Exception as exc:
            log.error(
                "Slack auth.test failed at start-up; retrying in the background",
                extra={"event": "slack_auth_error", "error": type(exc).__name__},
            )
            self._retrying = asyncio.create_task(self._retry())

    async def stop(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)

    async def _retry(self) -> None:
        pause = AUTH_RETRY_FIRST
        while not self.warm:
            await asyncio.sleep(pause)
            try:
                await self.warm_up()
            except Exception as exc:
                log.warning(
                    "Slack auth.test failed again",
                    extra={"event": "slack_auth_error", "error": type(exc).__name__},
                )
                pause = min(pause * 2, AUTH_RETRY_MAX)

    def result(self) -> AuthorizeResult:
        """What Bolt needs for every request: the bot token, and who the bot is once known."""
        if self._result is not None:
            return self._result
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=self.client.token)


class ResponsePoster:
    """Posts an answer to a `response_url`, sending again only when Slack surely did not take it.

    A timeout or a dropped connection after the request went out may mean the answer arrived,
    so those are not retried: a user seeing one answer twice is worse than a logged failure.
    The URL is a credential (anyone holding it can post as the bot for 30 minutes), so it is
    never logged; failures are logged with the status only.
    """

    # The longest one post can take, every attempt and pause included (for the shutdown drain).
    WORST_CASE: float = POST_ATTEMPTS * POST_TIMEOUT + sum(
        POST_BACKOFF * 2**i for i in range(POST_ATTEMPTS - 1)
    )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        backoff: float = POST_BACKOFF,
        on_failure: Callable[[], object] = lambda: None,
    ) -> None:
        self.session = session
        self.backoff = backoff
        self.on_failure = on_failure  # told of each answer lost (for metrics)
        self.timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)

    async def post(self, response_url: str, message: dict[str, Any]) -> bool:
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                async with self.session.post(response_url, json=message, timeout=self.timeout) as response:
                    if response.status < 300:
                        return True
                    retryable = response.status in NOT_TAKEN_STATUSES
                    problem = f"HTTP {response.status}"
            except aiohttp.ClientConnectorError as exc:  # no connection was made: nothing was sent
                retryable, problem = True, type(exc).__name__
            except (aiohttp.ClientError, TimeoutError) as exc:
                retryable, problem = False, type(exc).__name__
            log.warning(
                "posting the answer to Slack failed",
                extra={"event": "response_url_error", "attempt": attempt, "problem": problem},
            )
            if not retryable or attempt == POST_ATTEMPTS:
                self.on_failure()
                return False
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return False


class AuditChannel:
    """Posts one line per command to the security team's channel; never delays or fails a command."""

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def post(self, text: str) -> None:
        try:
            await self.client.chat_postMessage(
                channel=self.channel,
                text=text,
                # verbatim: no URL or @here in a quoted name becomes a link or a ping.
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}],
                # The line quotes what users typed: nothing in it may unfurl or notify anyone.
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
                parse="none",
            )
        except Exception as exc:
            log.warning(
                "posting to the audit channel failed",
                extra={"event": "audit_channel_error", "error": type(exc).__name__},
            )
