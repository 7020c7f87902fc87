"""Everything one process shares across commands, opened at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessControl, RateLimiter
from bot.coveo import CoveoClient
from bot.lookup import KeyDirectory
from bot.metrics import Metrics
from bot.replies.messages import audit_channel_line, audit_channel_summary
from bot.settings import Settings
from bot.slack import AUDIT_FLUSH, AuditChannel, ResponsePoster, SlackAuth, web_client
from bot.transport import Outbound


class Counter:
    """How many of something are under way, and a way to wait until there are none."""

    def __init__(self) -> None:
        self.value = 0
        self._none = asyncio.Event()
        self._none.set()

    def enter(self) -> None:
        self.value += 1
        self._none.clear()

    def leave(self) -> None:
        self.value -= 1
        if self.value == 0:
            self._none.set()

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    async def wait_none(self, grace: float) -> bool:
        """True when the count reached zero within `grace` seconds."""
        try:
            async with asyncio.timeout(grace):
                await self._none.wait()
        except TimeoutError:
            return False
        return True


class InFlight:
    """Counts commands still being answered, so shutdown can wait for them (and then for what
    they left behind, such as the audit channel's queue)."""

    def __init__(self) -> None:
        self._working = Counter()
        # Requests whose reply to Slack (the ack) is not out yet; Socket Mode must not close
        # its connection under them, or the answer they carry is lost.
        self._unacked = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        # Called once the work is done, with the seconds left of the drain's grace.
        self._then: list[Callable[[float], Awaitable[bool]]] = []

    @property
    def count(self) -> int:
        return self._working.value

    def track(self) -> contextlib.AbstractContextManager[None]:
        return self._working.counted()

    def acking(self) -> contextlib.AbstractContextManager[None]:
        return self._unacked.counted()

    def then_wait(self, finish: Callable[[float], Awaitable[bool]]) -> None:
        """After the work, `wait_idle` also awaits `finish(seconds left of its grace)`."""
        self._then.append(finish)

    async def wait_idle(self, grace: float) -> bool:
        """True when every command ended (and everything they left went out) within `grace` s."""
        end = time.monotonic() + grace
        done = await self._working.wait_none(grace)
        for finish in self._then:
            done = await finish(end - time.monotonic()) and done
        return done

    async def wait_acked(self, grace: float) -> bool:
        return await self._unacked.wait_none(grace)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, counted until it ends."""
        self._working.enter()

        async def tracked() -> None:
            try:
                await work
            finally:
                self._working.leave()

        task = asyncio.create_task(tracked())
        self._tasks.add(task)  # a reference, or the task may be garbage-collected mid-flight
        task.add_done_callback(self._tasks.discard)


@dataclass
class Services:
    settings: Settings
    coveo: dict[str, CoveoClient]  # one client per region served, by region name
    directory: KeyDirectory
    slack_client: AsyncWebClient
    slack_auth: SlackAuth
    access: AccessControl
    limiter: RateLimiter
    poster: ResponsePoster
    inflight: InFlight
    session: aiohttp.ClientSession
    metrics: Metrics
    audit_channel: AuditChannel | None = None
    accepting: bool = True

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Create the shared clients; call inside the running event loop."""
        metrics = Metrics()
        # One outbound policy (proxies and NO_PROXY from the environment, never ~/.netrc, no
        # redirects) for Coveo, the Web API and response_url alike.
        policy = Outbound()
        coveo = CoveoClient.from_settings(settings, metrics, policy)
        bot_token = settings.slack_bot_token.reveal() if settings.slack_bot_token else None
        slack_client = web_client(settings.slack_api_url, bot_token, policy=policy)
        slack_auth = SlackAuth(slack_client)
        session = policy.session()
        inflight = InFlight()
        audit_channel: AuditChannel | None = None
        if settings.audit_channel:
            audit_channel = channel = AuditChannel(
                slack_client,
                settings.audit_channel,
                line=audit_channel_line,
                summary=audit_channel_summary,
                on_drop=metrics.audit_channel_dropped,
            )
            channel.start()
            # The drain waits for the commands, then gives the channel what is left of its
            # grace, at most AUDIT_FLUSH seconds: the shutdown's bound does not move.
            inflight.then_wait(lambda left: channel.flush(min(left, AUDIT_FLUSH)))
        services = cls(
            settings=settings,
            coveo=coveo,
            directory=KeyDirectory(coveo, settings.cache_ttl, metrics=metrics, suggest=settings.suggest_orgs),
            slack_client=slack_client,
            slack_auth=slack_auth,
            access=AccessControl(settings, slack_client, lambda: slack_auth.workspace),
            limiter=RateLimiter(settings.rate_limit_per_minute),
            poster=ResponsePoster(
                session,
                slack_api_url=settings.slack_api_url,
                policy=policy,
                on_failure=metrics.response_url_failed,
            ),
            inflight=inflight,
            session=session,
            metrics=metrics,
            audit_channel=audit_channel,
        )
        metrics.watch(
            in_flight=lambda: services.inflight.count,
            token_rejected={region: client.token_known_rejected for region, client in coveo.items()},
            access_list_read=(
                services.access.last_group_read
                if settings.allowed_usergroups or settings.region_usergroups
                else None
            ),
        )
        return services

    def not_ready(self) -> list[str]:
        """Why this process should get no new requests now (for /readyz); [] when it is ready."""
        reasons = [] if self.accepting else ["draining"]
        if not self.slack_auth.warm:
            reasons.append("slack_auth_pending")  # auth.test has not succeeded: everyone is refused
        rejected = self.rejected_regions()
        if len(rejected) == len(self.coveo):
            # Only when no region can answer: one region's expired token must not take the other
            # regions' answers away (every replica shares the tokens, so all would go unready at once
            # and Slack would show its own error instead of the bot's "rotate COVEO_ACCESS_TOKEN_EU").
            reasons += [f"coveo_token_rejected:{r}" for r in rejected]
        return reasons

    def rejected_regions(self) -> list[str]:
        """Regions whose Coveo token is known rejected (for /readyz: `degraded` while others answer)."""
        return [r for r, c in self.coveo.items() if c.token_known_rejected()]

    def coveo_last_answer(self) -> float | None:
        """When any region's Coveo last answered (wall clock), for /healthz."""
        return max((c.last_answer_at for c in self.coveo.values() if c.last_answer_at), default=None)

    async def close(self) -> None:
        if self.audit_channel is not None:
            await self.audit_channel.close()
        await self.slack_auth.stop()
        await self.access.stop()
        for client in self.coveo.values():
            await client.aclose()
        await self.session.close()
