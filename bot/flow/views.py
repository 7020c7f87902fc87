"""Views the bot opens or publishes rather than answers in: the lookup modal a shortcut (or the
Home tab's button) opens, and the Home tab. Through the same gate and audit as every request."""

from __future__ import annotations

import asyncio
import logging

from bot.core.command import find_org
from bot.core.outcomes import Event, Limited, Outcome
from bot.flow.audit import Audit
from bot.flow.pipeline import admit
from bot.flow.services import Services
from bot.replies.surfaces import RegionAccess, home_view, lookup_modal, modal_of
from bot.slack.access import ADMISSION_BUDGET
from bot.slack.request import Interaction

log = logging.getLogger(__name__)

OPEN_CHECK_BUDGET = 1.5  # a shortcut's trigger_id expires 3 s after the click


async def open_lookup(services: Services, who: Interaction, *, from_message: bool) -> None:
    """A shortcut or the Home tab's button: open the lookup modal (or say why not) right away;
    Slack's trigger_id expires in 3 seconds."""
    audit = Audit(services, Event.OPENED, who)
    try:
        try:
            async with asyncio.timeout(OPEN_CHECK_BUDGET):
                stop = await admit(services, who, audit)
        except TimeoutError:
            # Slack is slow to say who this is, and the trigger expires: open the form anyway,
            # its submission goes through the same check again.
            stop = None
            audit.update(checked=False)
        if stop is not None:
            view = modal_of(stop)
        else:
            audit.ended(Outcome.OPENED)
            view = lookup_modal(org=find_org(who.text) if from_message else "")
        await services.slack_client.views_open(trigger_id=who.trigger_id, view=view)
    except Exception as exc:
        _failed(audit, exc, "could not open the lookup modal", "views_open_error")
    finally:
        audit.write()


async def publish_home(services: Services, who: Interaction) -> None:
    """The Home tab, for the person who opened it: whether they may use the bot, and a way in.
    Through the same gate as every surface (rate limit, then access), and audited: a person
    over the limit gets no new view (the tab keeps the last one) and costs Slack no call."""
    audit = Audit(services, Event.HOME, who)
    try:
        stop = await admit(services, who, audit)
        if isinstance(stop, Limited):
            return
        regions: RegionAccess | None = None
        if stop is None:
            audit.ended(Outcome.HOME)
            if services.settings.region_usergroups:
                closed = await services.access.closed_regions(who.user_id, who.received_at + ADMISSION_BUDGET)
                regions = RegionAccess(services.settings.region_names, closed)
        await services.slack_client.views_publish(user_id=who.user_id, view=home_view(stop, regions))
    except Exception as exc:
        _failed(audit, exc, "could not publish the Home tab", "views_publish_error")
    finally:
        audit.write()


def _failed(audit: Audit, exc: Exception, what: str, event: str) -> None:
    """A view Slack would not take (or a bug on our way to it): the audit and the log say so;
    the person keeps what they had (a view is no message to answer in)."""
    audit.ended(Outcome.ERROR, error=type(exc).__name__)
    log.warning(what, extra={"event": event, "error": type(exc).__name__})
