"""Slack listeners, one module per kind: each reads the request once and hands it to the flow (`bot/flow/`)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.flow.services import Services
from bot.serving.listeners import actions, commands, events, shortcuts


def register(app: AsyncApp, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    shortcuts.register(app, services)
    events.register(app, services)
