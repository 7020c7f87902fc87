"""Buttons: Share in channel, Next / Previous, Dismiss, the Home tab's "Look up an API key", and
the "Open in Coveo" link (Slack opens the page itself but still sends the click, which wants an ack).

Each click is acked at once (Slack wants it within 3 s, and Bolt sends the ack when the
listener returns); the work follows in a task that answers through the click's `response_url`
or updates the modal the click came from.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.core.outcomes import Event
from bot.flow.clicks import clicked
from bot.flow.services import Services
from bot.flow.views import open_lookup
from bot.replies.blocks import DISMISS, OPEN_CONSOLE, OPEN_LOOKUP, PAGE_NEXT, PAGE_PREVIOUS, SHARE
from bot.slack.request import Interaction

KIND_OF = {SHARE: Event.SHARED, PAGE_NEXT: Event.PAGED, PAGE_PREVIOUS: Event.PAGED, DISMISS: Event.DISMISSED}


def register(app: AsyncApp, services: Services) -> None:
    @app.action(re.compile("^(" + "|".join(map(re.escape, KIND_OF)) + ")$"))
    async def on_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        who = Interaction.from_payload(body)
        await clicked(services, who, KIND_OF[who.action_id])

    @app.action(OPEN_LOOKUP)
    async def on_open_lookup(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        who = Interaction.from_payload(body)
        services.inflight.spawn(open_lookup(services, who, from_message=False))

    @app.action(OPEN_CONSOLE)
    async def on_open_console(ack: AsyncAck) -> None:
        await ack()  # a link: the browser opens it; nothing else to do
