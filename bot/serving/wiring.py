"""Opening the process's shared clients at start-up: one place that builds each part and hands it its hooks."""

from __future__ import annotations

from bot.coveo.client import CoveoClient
from bot.coveo.directory import KeyDirectory
from bot.flow.services import InFlight, Services
from bot.metrics import Metrics
from bot.outbound import Outbound
from bot.replies.audit_lines import audit_channel_line, audit_channel_summary
from bot.settings import Settings
from bot.slack.access import AccessControl, RateLimiter
from bot.slack.audit_channel import AUDIT_FLUSH, AuditChannel
from bot.slack.responses import ResponsePoster
from bot.slack.web import SlackAuth, web_client


def open_services(settings: Settings) -> Services:
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
    services = Services(
        settings=settings,
        coveo=coveo,
        directory=KeyDirectory(coveo, settings.cache_ttl, hooks=metrics, suggest=settings.suggest_orgs),
        slack_client=slack_client,
        slack_auth=slack_auth,
        access=AccessControl(settings, slack_client, slack_auth.known_workspace),
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
