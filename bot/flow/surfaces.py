"""Where an answer goes. Each surface knows how to answer now (in the ack Slack waits for), how to
show "working", and how to deliver later, once the ack has gone:

    surface          asked with                 now: the ack                         later
    CommandAck       the slash command          the command's HTTP answer (by 3 s)   response_url (else an
                                                                                     ephemeral message)
    ModalSubmission  the lookup modal's submit  response_action: update (or errors)  views.update
    ClickedMessage   a button                   (acked by the listener at once)      response_url, or
                                                                                     views.update in a modal

The pipeline (bot/flow/pipeline.py) calls `answer` once with the final answer and `working` at most
once before it; a surface turns them into Slack calls and says when its ack is out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.core.buttons import PageRef
from bot.core.command import Command, Invalid, ListKeys, Lookup, from_fields, parse
from bot.core.outcomes import Event, Outcome, Working
from bot.coveo.results import Failed, Found, Listing, NotFound
from bot.flow.audit import Audit
from bot.flow.services import Services
from bot.replies.blocks import MESSAGE_BUTTONS, MODAL_BUTTONS, NO_BUTTONS, Controls, Reply
from bot.replies.messages import Answer, render
from bot.replies.surfaces import NAME_BLOCK, ORG_BLOCK, answer_modal, modal_errors, modal_of
from bot.slack.request import Interaction

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]
# Slack drops a reply that comes 3 s after its request; this leaves room for the trip back.
LAST_ACK_AFTER = 2.5
SLACK_ACK_LIMIT = 3.0  # past this, an ack carries nothing Slack will show: the answer goes elsewhere


class Surface:
    """One request's way back to the person.

    `acked` turns True when the surface hands Slack's ack its payload (Bolt sends it when the
    listener returns): from then on every answer goes the later way. A surface renders first and
    acks after, so an answer that fails to render leaves the ack free for the error instead.
    """

    event: Event
    outcome_of_a_result: Outcome | None = None  # the audit outcome of any result here (a page: paged)

    def __init__(self, services: Services, who: Interaction) -> None:
        self.services = services
        self.who = who
        self.audit = Audit(services, self.event, who)
        self.acked = False
        # Resolved once the ack is handed over (or the work ended without one): the listener waits on it.
        self._listener_free: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # What a surface says

    def asked(self) -> Command:
        """What the person asked, read from the request."""
        raise NotImplementedError

    @property
    def controls(self) -> Controls:
        """The buttons under a lookup's answer here."""
        return (
            MESSAGE_BUTTONS if self.services.settings.allow_sharing else Controls(dismiss=True, paging=True)
        )

    async def now(self, answer: Answer, controls: Controls) -> None:
        """Answer in the ack: render first, then hand Slack's ack the payload."""
        raise NotImplementedError

    async def later(self, answer: Answer, controls: Controls) -> None:
        """Answer after the ack."""
        raise NotImplementedError

    # What the pipeline and the listener call

    @property
    def ack_by(self) -> float:
        """Until when (time.monotonic()) an answer may still wait to go in the ack."""
        return self.who.received_at + LAST_ACK_AFTER

    async def answer(self, answer: Answer, controls: Controls = NO_BUTTONS) -> None:
        """The final answer: in the ack while that is still to be sent, otherwise later."""
        if self.acked:
            await self.later(answer, controls)
        else:
            await self._in_the_ack(answer, controls)

    async def working(self, note: Working) -> None:
        """The "looking up" note, in the ack; the final answer then comes later."""
        if not self.acked:
            await self._in_the_ack(note, NO_BUTTONS)

    async def listener_free(self) -> None:
        """Returns once the ack is handed over: the listener may return, and Bolt sends it."""
        await self._listener_free

    def free_the_listener(self) -> None:
        if not self._listener_free.done():
            self._listener_free.set_result(None)

    async def _in_the_ack(self, answer: Answer, controls: Controls) -> None:
        try:
            await self.now(answer, controls)
        finally:
            if self.acked:
                self.free_the_listener()


class AckedByTheBot(Surface):
    """A request whose ack the bot gives (a command, a modal submission): the ack may carry the answer."""

    def __init__(self, services: Services, who: Interaction, ack: Ack) -> None:
        super().__init__(services, who)
        self._ack = services.metrics.timed_ack(ack, self.event, who.received_at)

    async def _send_ack(self, **payload: Any) -> None:
        self.acked = True
        await self._ack(**payload)


class CommandAck(AckedByTheBot):
    """The slash command: the answer in the command's own HTTP answer when it is ready in time,
    otherwise a short note there and the answer at `response_url`."""

    event = Event.COMMAND

    def asked(self) -> Command:
        return parse(self.who.text)

    async def now(self, answer: Answer, controls: Controls) -> None:
        message = render(answer, datetime.now(UTC), controls=controls).to_slack()
        if time.monotonic() - self.who.received_at < SLACK_ACK_LIMIT:
            await self._send_ack(**message)
            return
        # Slack dropped this request already: an answer in the ack would vanish.
        log.warning("an answer missed the ack; it goes to response_url", extra={"event": "ack_missed"})
        self.audit.update(ack_missed=True)
        await self._send_ack()
        self.free_the_listener()  # nothing waits on this ack any more
        await self._post(answer, message)

    async def later(self, answer: Answer, controls: Controls) -> None:
        await self._post(answer, render(answer, datetime.now(UTC), controls=controls).to_slack())

    async def _post(self, answer: Answer, message: dict[str, Any]) -> None:
        if not await self.services.poster.post(self.who.response_url, message):
            self.audit.update(delivery="failed")
            if not isinstance(answer, Working):
                await self._answer_elsewhere(message)

    async def _answer_elsewhere(self, message: dict[str, Any]) -> None:
        """An answer its response_url could not take. When the URL was refused (not Slack's), the
        person would keep only the "looking up" note: the answer goes to them as an ephemeral
        message in the command's channel instead (Slack's chat.postEphemeral; it needs the bot in
        that channel or a DM with it). Otherwise (Slack refused it, retries spent), or when that
        fails too, the log says the answer was lost."""
        who, services = self.who, self.services
        if who.channel_id and not services.poster.trusts(who.response_url):
            try:
                await services.slack_client.chat_postEphemeral(
                    channel=who.channel_id,
                    user=who.user_id,
                    text=message.get("text", ""),
                    blocks=message.get("blocks"),
                )
            except Exception as exc:
                log.warning(
                    "could not post the answer as an ephemeral message either",
                    extra={"event": "ephemeral_answer_error", "error": type(exc).__name__},
                )
            else:
                self.audit.update(fallback="ephemeral")
                return
        log.warning("an answer could not be delivered", extra={"event": "answer_undelivered"})


class ModalSubmission(AckedByTheBot):
    """The lookup modal's submit: a bad organization shows under its input; otherwise the modal
    becomes the answer, in the ack when it is ready in time, else after a "looking up"."""

    event = Event.MODAL

    @property
    def controls(self) -> Controls:
        return MODAL_BUTTONS  # a modal has no Share or Dismiss

    def asked(self) -> Command:
        return from_fields(self.who.inputs.get(ORG_BLOCK, ""), self.who.inputs.get(NAME_BLOCK, ""))

    async def now(self, answer: Answer, controls: Controls) -> None:
        if isinstance(answer, Invalid):
            await self._send_ack(**modal_errors(answer))
        else:
            await self._send_ack(response_action="update", view=modal_of(answer, controls))

    async def later(self, answer: Answer, controls: Controls) -> None:
        await update_modal(self.services, self.who.view_id, modal_of(answer, controls))


class ClickedMessage(Surface):
    """A button in an answer (a message, or the modal showing one): acked by the listener at once;
    the answer replaces the clicked page, follows it, or updates the modal it is in."""

    def __init__(self, services: Services, who: Interaction, event: Event) -> None:
        self.event = event
        super().__init__(services, who)
        self.acked = True  # by the listener, at once
        self.free_the_listener()
        self.page = 0
        if event is Event.PAGED:
            self.outcome_of_a_result = Outcome.PAGED

    @property
    def controls(self) -> Controls:
        return MODAL_BUTTONS if self.who.in_modal else super().controls

    def asked(self) -> Command:
        """Next or Previous: the lookup the clicked page came from, at another page."""
        ref = PageRef.decode(self.who.action_value)
        self.page = ref.page
        self.audit.update(page=ref.page)
        region = ref.region or None
        return Lookup(ref.org, ref.query, region) if ref.query else ListKeys(ref.org, region)

    async def later(self, answer: Answer, controls: Controls) -> None:
        reply = render(answer, datetime.now(UTC), page=self.page, controls=controls)
        # A page takes the clicked page's place; anything else (a refusal, an error) follows it.
        page = self.event is Event.PAGED and isinstance(answer, Found | NotFound | Listing | Failed)
        await self.show(reply, replace=page)

    async def show(self, reply: Reply, *, replace: bool = False) -> None:
        """`reply` in the modal the click came from, or at the click's response_url."""
        if self.who.in_modal:
            await update_modal(self.services, self.who.view_id, answer_modal(reply))
        else:
            await self.post(reply.to_slack() | {"replace_original": replace})

    async def post(self, message: dict[str, Any]) -> bool:
        if await self.services.poster.post(self.who.response_url, message):
            return True
        log.warning("could not answer a click", extra={"event": "click_answer_failed"})
        return False


async def update_modal(services: Services, view_id: str, view: dict[str, Any]) -> None:
    try:
        await services.slack_client.views_update(view_id=view_id, view=view)
    except Exception as exc:
        log.warning(
            "could not update a modal", extra={"event": "views_update_error", "error": type(exc).__name__}
        )
