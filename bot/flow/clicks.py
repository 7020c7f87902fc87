"""The work behind the buttons of an answer, run by the same pipeline as a command: Next and
Previous look up again at another page (`look_up`); Share in channel and Dismiss are here."""

from __future__ import annotations

from bot.core.buttons import KeyRef
from bot.core.command import Lookup
from bot.core.matching import MatchedBy
from bot.core.outcomes import Event, Outcome
from bot.coveo.results import Failed, Found
from bot.flow.pipeline import Work, look_up, run_lookup, serve
from bot.flow.services import Services
from bot.flow.surfaces import ClickedMessage
from bot.replies.surfaces import (
    dismissed,
    key_gone,
    not_in_modal,
    share_confirmation,
    shared_copy,
    sharing_off,
)
from bot.slack.request import Interaction


async def clicked(services: Services, who: Interaction, event: Event) -> None:
    """A button of an answer was clicked (and acked): answer it through the pipeline."""
    work: Work[ClickedMessage] = {Event.SHARED: share, Event.DISMISSED: dismiss, Event.PAGED: look_up}[event]
    await serve(services, ClickedMessage(services, who, event), work)


async def share(services: Services, surface: ClickedMessage) -> None:
    """Post the key's public copy in the channel, then say so where the answer was."""
    who, audit = surface.who, surface.audit
    ref = KeyRef.decode(who.action_value)
    audit.update(org=ref.org, key_ids=[ref.key_id])
    if not services.settings.allow_sharing:  # the button is not shown; this click was forged
        audit.ended(Outcome.SHARING_OFF)
        await surface.show(sharing_off())
        return
    if who.in_modal:
        audit.ended(Outcome.INVALID)
        await surface.show(not_in_modal())
        return
    # Asked again by id: the key may have gone, or changed, since the answer was shown.
    result = await run_lookup(services, Lookup(ref.org, ref.key_id, ref.region or None), who)
    audit.result(result)
    if isinstance(result, Failed):  # the audit says error already
        await surface.answer(result)
        return
    if not (isinstance(result, Found) and result.how is MatchedBy.ID):
        audit.ended(Outcome.GONE)
        await surface.show(key_gone(ref.key_id, ref.org))
        return
    key = result.keys[0]
    audit.ended(Outcome.SHARED, key_ids=[key.id])
    if await surface.post(shared_copy(key, ref.org, result.region, who.user_id)):
        await surface.post(share_confirmation(key))
    else:
        audit.update(delivery="failed")


async def dismiss(services: Services, surface: ClickedMessage) -> None:
    """Delete the answer the button is in (a modal has no Dismiss: it has its own Done)."""
    surface.audit.ended(Outcome.DISMISSED)
    if not surface.who.in_modal:
        await surface.post(dismissed())
