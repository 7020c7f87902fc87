"""The bot's side of Slack's Web API: who the bot is (`auth.test`), answers posted to `response_url`,
and the audit channel's paced queue."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbound import Outbound

log = logging.getLogger(__name__)

AUTH_RETRY_FIRST, AUTH_RETRY_MAX = 2.0, 60.0
WEB_API_TIMEOUT = 5.0  # slack_sdk waits 30 s by default; no call of ours is worth that long


def web_client(base_url: str, token: str | None = None, *, policy: Outbound | None = None) -> AsyncWebClient:
    """A Slack Web API client under the bot's outbound policy.

    slack_sdk picks its proxy by itself from HTTPS_PROXY (else HTTP_PROXY) whatever the URL's
    scheme, and ignores NO_PROXY; the policy's choice for the API's URL replaces it. Without a
    session of ours, slack_sdk makes one per call with aiohttp's `trust_env=False`: no `.netrc`.
    No retry handler for 429 is configured (slack_sdk's default is one retry on a dropped
    connection only), so a rate-limited call raises `SlackApiError`: the audit channel reads its
    `Retry-After` itself.
    """
    client = AsyncWebClient(token=token, base_url=base_url, timeout=int(WEB_API_TIMEOUT))
    client.proxy = (policy or Outbound()).proxy_for(base_url)
    return client


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

    def known_workspace(self) -> Workspace | None:
        """The bot's workspace once auth.test said it (for access control, read at each request)."""
        return self.workspace

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
