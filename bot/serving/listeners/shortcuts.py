"""The global shortcut and the message shortcut (which Slack offers in threads too), and the
submission of the modal they open."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.flow.pipeline import look_up, serve
from bot.flow.services import Services
from bot.flow.surfaces import ModalSubmission
from bot.flow.views import open_lookup
from bot.replies.surfaces import LOOKUP_VIEW
from bot.slack.request import Interaction

GLOBAL_SHORTCUT = "apikeyid_lookup_shortcut"
MESSAGE_SHORTCUT = "apikeyid_lookup_message"


def register(app: AsyncApp, services: Services) -> None:
    @app.shortcut(GLOBAL_SHORTCUT)
    async def on_global_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        who = Interaction.from_payload(body)
        services.inflight.spawn(open_lookup(services, who, from_message=False))

    @app.shortcut(MESSAGE_SHORTCUT)
    async def on_message_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        who = Interaction.from_payload(body)
        services.inflight.spawn(open_lookup(services, who, from_message=True))

    @app.view(LOOKUP_VIEW)
    async def on_lookup_submitted(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
        who = Interaction.from_payload(body, received_at=context.get("received_at"))
        await serve(services, ModalSubmission(services, who, ack), look_up)
