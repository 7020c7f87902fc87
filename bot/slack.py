"""The bot's side of Slack's Web API: a warm `auth.test`, and answers posted to `response_url`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

POST_ATTEMPTS = 3
POST_TIMEOUT = aiohttp.ClientTimeout(total=5)


class SlackAuth:
    """Calls `auth.test` once (at start-up) and hands Bolt the result for every request."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._result: AuthorizeResult | None = None
        self._lock = asyncio.Lock()

    @property
    def warm(self) -> bool:
        return self._result is not None

    async def warm_up(self) -> AuthorizeResult:
        async with self._lock:
            if self._result is None:
                response = await self.client.auth_test()
                self._result = AuthorizeResult.from_auth_test_response(
                    bot_token=self.client.token, auth_test_response=response
                )
                log.info("slack auth warm", extra={"event": "slack_auth", "team_id": response.get("team_id")})
            return self._result

    async def result(self) -> AuthorizeResult:
        """The cached `auth.test` answer; a single workspace, so one serves every request."""
        return self._result or await self.warm_up()


class ResponsePoster:
    """Posts the final answer to a command's `response_url`, retrying what is worth retrying.

    The URL is a credential (anyone holding it can post as the bot for 30 minutes), so it
    is never logged; failures are logged with the status only.
    """

    def __init__(self, session: aiohttp.ClientSession, *, backoff: float = 0.5) -> None:
        self.session = session
        self.backoff = backoff

    async def post(self, response_url: str, message: dict[str, Any]) -> bool:
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                async with self.session.post(response_url, json=message, timeout=POST_TIMEOUT) as response:
                    if response.status < 300:
                        return True
                    retryable = response.status >= 500 or response.status == 429
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                retryable, problem = True, type(exc).__name__
            log.warning(
                "posting the answer to Slack failed",
                extra={"event": "response_url_error", "attempt": attempt, "problem": problem},
            )
            if not retryable or attempt == POST_ATTEMPTS:
                return False
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return False
