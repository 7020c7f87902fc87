"""The Slack app: Bolt, configured once, with the listeners of `bot.serving.listeners` wired in."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from bot.flow.services import Services
from bot.serving import listeners
from bot.slack.web import web_client


class _DropTokenUnusedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our client
    (which hands out that same token through `authorize`) wins; the warning only confuses admins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_DropTokenUnusedWarning())


def build_app(services: Services) -> AsyncApp:
    # Bolt passes arguments by name, and a bound method's `self` confuses it: use a plain function.
    async def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return services.slack_auth.result()

    app = AsyncApp(
        # Bolt's own client carries no token; `authorize` hands it the bot token per request.
        client=web_client(services.settings.slack_api_url),
        authorize=authorize,
        # The HTTP server checks signatures itself (failing closed on malformed headers);
        # Socket Mode needs no signature.
        request_verification_enabled=False,
        signing_secret="",
        raise_error_for_unhandled_request=False,
        # Slack's url_verification challenge (when the Events API URL is saved) and ssl_check
        # stay on. The bot's own events never reach it (it subscribes to app_home_opened only).
        ignoring_self_events_enabled=False,
        attaching_function_token_enabled=False,
        # Run the listener inline so its ack() is the HTTP answer at once; otherwise Bolt
        # polls for the ack every 10 ms. The slow part runs in a task the listener starts.
        process_before_response=True,
    )

    listeners.register(app, services)
    return app
