"""The slash command (any name: admins may register it as /apikeyid-staging or the like)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.flow.pipeline import look_up, serve
from bot.flow.services import Services
from bot.flow.surfaces import CommandAck
from bot.slack.request import Interaction


def register(app: AsyncApp, services: Services) -> None:
    @app.command(re.compile(r"^/.+"))
    async def on_command(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
        who = Interaction.from_command(body, received_at=context.get("received_at"))
        await serve(services, CommandAck(services, who, ack), look_up)
