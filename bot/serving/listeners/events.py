"""Events API: the Home tab. (Slack's `url_verification` challenge is answered by Bolt.)"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.flow.services import Services
from bot.flow.views import publish_home
from bot.slack.request import Interaction


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") != "home":  # the Messages tab is off in the manifests
            return
        services.inflight.spawn(publish_home(services, Interaction.from_event(body)))
