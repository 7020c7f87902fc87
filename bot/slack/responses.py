"""Answers posted to a `response_url`: Slack's hosts only, never redirected, retried a few times."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.outbound import Outbound

log = logging.getLogger(__name__)

POST_ATTEMPTS = 3


POST_TIMEOUT = 5.0


POST_BACKOFF = 0.5


# Statuses with which Slack (or its front) says the post was not taken: safe to send again.
NOT_TAKEN_STATUSES = frozenset({429, 503})


# Where Slack's `response_url`s live: hooks.slack.com (every payload example in
# https://docs.slack.dev/interactivity/handling-user-interaction), and GovSlack's twin on its own
# domain ("GovSlack does not run on the slack.com domain ... it runs on slack-gov.com",
# https://api.slack-gov.com/gov-slack/about). Over https, on the default port, only.
SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


class ResponsePoster:
    """Posts an answer to a `response_url`, sending again only when Slack surely did not take it.

    A timeout or a dropped connection after the request went out may mean the answer arrived,
    so those are not retried: a user seeing one answer twice is worse than a logged failure.
    The URL is a credential (anyone holding it can post as the bot for 30 minutes), so it is
    never logged; failures are logged with the status only.

    Only Slack's own hosts are posted to (`SLACK_HOOK_HOSTS` over https, or the origin of the
    configured SLACK_API_URL: same scheme, host and port), and a redirect is not followed: an
    answer never goes anywhere a request's text (or a redirect) points to.
    """

    # The longest one post can take, every attempt and pause included (for the shutdown drain).
    WORST_CASE: float = POST_ATTEMPTS * POST_TIMEOUT + sum(
        POST_BACKOFF * 2**i for i in range(POST_ATTEMPTS - 1)
    )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        slack_api_url: str,
        policy: Outbound | None = None,
        backoff: float = POST_BACKOFF,
        on_failure: Callable[[], object] = lambda: None,
    ) -> None:
        self.session = session
        self.policy = policy or Outbound()
        self.backoff = backoff
        self.on_failure = on_failure  # told of each answer lost (for metrics)
        self.timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        self.api_origin = _origin(slack_api_url)

    def trusts(self, response_url: str) -> bool:
        """Whether `response_url` is one of Slack's: a hooks host over https, or the API's origin."""
        origin = _origin(response_url)
        if origin is None:
            return False
        scheme, host, port = origin
        return (scheme == "https" and host in SLACK_HOOK_HOSTS and port == 443) or origin == self.api_origin

    async def post(self, response_url: str, message: dict[str, Any]) -> bool:
        if not self.trusts(response_url):
            # The URL is a secret: neither it nor its host is logged.
            log.warning(
                "an answer was not posted: its response_url is not Slack's",
                extra={"event": "response_url_refused"},
            )
            self.on_failure()
            return False
        proxy = self.policy.proxy_for(response_url)
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                async with self.session.post(
                    response_url, json=message, timeout=self.timeout, proxy=proxy, allow_redirects=False
                ) as response:
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


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without credentials in it; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)
