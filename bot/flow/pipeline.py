"""The work behind every listener: admit the person, run the lookup, answer once, audit once.

    request → rate limit → access → parse → Coveo → match → reply → audit

A slash command waits for its answer up to APIKEYID_INLINE_BUDGET seconds (from when the
request arrived) and acks with the answer itself: one message. Past the budget it acks with a
short note and posts the answer to `response_url`. Clicks and modal submissions go through
the same gate and the same lookup; each answers where it came from (the clicked message, the
modal). Nothing here raises for a user's input or for Coveo: the user always gets one answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.core.buttons import KeyRef, PageRef, TamperedValue
from bot.core.command import Help, Invalid, ListKeys, Lookup, find_org, from_fields, parse
from bot.core.matching import MatchedBy
from bot.core.outcomes import Denied, Limited, Unexpected, Working
from bot.core.text import shorten
from bot.coveo import directory
from bot.coveo.results import Failed, Found, Result
from bot.flow.audit import AUDIT_QUERY_LIMIT, Audit
from bot.flow.services import Services
from bot.replies.messages import MESSAGE_BUTTONS, MODAL_BUTTONS, Controls, Outcome, Reply, render
from bot.replies.surfaces import (
    NAME_BLOCK,
    ORG_BLOCK,
    RegionAccess,
    answer_modal,
    dismissed,
    home_view,
    key_gone,
    lookup_modal,
    modal_errors,
    modal_of,
    not_in_modal,
    replaced,
    share_confirmation,
    shared_copy,
    sharing_off,
    tampered_button,
)
from bot.slack.access import ADMISSION_BUDGET, LOOKUP_TIMEOUT
from bot.slack.request import Interaction

log = logging.getLogger(__name__)
# Slack drops a reply that comes 3 s after its request; this leaves room for the trip back.
LAST_ACK_AFTER = 2.5
SLACK_ACK_LIMIT = 3.0  # past this, an ack carries nothing Slack will show: the answer goes elsewhere
OPEN_CHECK_BUDGET = 1.5  # a shortcut's trigger_id expires 3 s after the click

Ack = Callable[..., Awaitable[Any]]


async def admit(services: Services, who: Interaction, audit: Audit) -> Denied | Limited | None:
    """None when `who` may go on; otherwise the answer that says why not (and the audit says so)."""
    # Before anything else, so that nobody (allowed or not) can flood Slack, Coveo or the log.
    wait = services.limiter.retry_in(who.user_id)
    if wait is not None:
        audit.update(outcome="limited")
        return Limited(wait)
    refusal = await services.access.check(who.requester, who.received_at + ADMISSION_BUDGET)
    if refusal is not None:
        audit.update(outcome="denied", refusal=refusal.value)
        return Denied(refusal, services.settings.allowed_usergroups)
    return None


def controls(services: Services) -> Controls:
    share = services.settings.allow_sharing
    return MESSAGE_BUTTONS if share else Controls(dismiss=True, paging=True)


async def run_lookup(services: Services, command: ListKeys | Lookup, who: Interaction) -> Result:
    deadline = who.received_at + services.settings.answer_deadline
    # Regions with their own user groups, checked before any call to them (a stale list is read
    # again, at most LOOKUP_TIMEOUT: the background refresh normally keeps it fresh).
    closed: frozenset[str] = frozenset()
    if services.settings.region_usergroups:
        closed = await services.access.closed_regions(who.user_id, time.monotonic() + LOOKUP_TIMEOUT)
    return await directory.run(command, services.directory, deadline=deadline, closed=closed)


async def within_budget(
    services: Services, command: ListKeys | Lookup, who: Interaction
) -> tuple[asyncio.Task[Result], bool]:
    """Start the lookup; wait for it while the inline budget lasts. True when it is done."""
    work = asyncio.create_task(run_lookup(services, command, who))
    now = time.monotonic()
    budget = who.received_at + services.settings.inline_budget - now
    if services.directory.cached(command.org, command.region):
        budget = max(budget, 1.0)  # a cached answer is ready at once: always worth waiting for
    # Never past the point where Slack would drop the reply (a slow access check may have used
    # part of it), nor while shutting down, when the connection may close under a late reply.
    budget = min(budget, who.received_at + LAST_ACK_AFTER - now)
    try:
        if budget > 0 and services.accepting:
            await asyncio.wait({work}, timeout=budget)
    except BaseException:  # cancelled while waiting: the caller never gets the task to cancel
        work.cancel()
        raise
    return work, work.done()


# Slash commands


async def answer_command(services: Services, who: Interaction, ack: Ack) -> None:
    """The slash command: exactly one final answer, in the ack when it is ready in time."""
    audit = Audit(services, "command", who)
    ack = services.metrics.timed_ack(ack, "command", who.received_at)
    acked = False

    async def answer(outcome: Outcome, page_controls: Controls | None = None) -> None:
        nonlocal acked
        message = render(outcome, datetime.now(UTC), controls=page_controls or Controls()).to_slack()
        if not acked:
            acked = True
            if time.monotonic() - who.received_at < SLACK_ACK_LIMIT:
                await ack(**message)
                return
            # Slack dropped this request already: an answer in the ack would vanish.
            log.warning("an answer missed the ack; it goes to response_url", extra={"event": "ack_missed"})
            audit.update(ack_missed=True)
            await ack()
        if not await services.poster.post(who.response_url, message):
            audit.update(delivery="failed")
            if not isinstance(outcome, Working):
                await _answer_elsewhere(services, who, message, audit)

    work: asyncio.Task[Result] | None = None
    gate: asyncio.Task[Denied | Limited | None] | None = None
    handed_over = False  # to the task that posts the answer later, which writes the audit line
    with services.inflight.track(), services.inflight.acking():
        try:
            gate = asyncio.create_task(admit(services, who, audit))
            if not await _admitted_in_time(gate, who):
                # Slack is slow to say who this is: ack now, answer at response_url once it has.
                await answer(Working.of(parse(who.text), slack_slow=True))
                services.inflight.spawn(_admit_later(services, who, gate, answer, audit))
                gate, handed_over = None, True
                return
            stop = gate.result()
            gate = None
            if stop is not None:
                await answer(stop)
                return
            command = parse(who.text)
            if isinstance(command, Help | Invalid):
                audit.update(outcome="help" if isinstance(command, Help) else "invalid")
                await answer(command)
                return
            audit.asked(command)
            work, done = await within_budget(services, command, who)
            if done:
                result = work.result()
                audit.result(result)
                await answer(result, controls(services))
                return
            await answer(Working.of(command))
            # The HTTP answer went back; the final one follows from this task.
            services.inflight.spawn(_post_later(services, work, answer, audit))
            work, handed_over = None, True
        except asyncio.CancelledError:
            audit.update(outcome="cancelled")
            raise
        except Exception:
            await _fail(audit, lambda reply: answer(reply))
        finally:
            if work is not None:
                work.cancel()
            if gate is not None:
                gate.cancel()
            if not handed_over:
                audit.write()


async def _answer_elsewhere(
    services: Services, who: Interaction, message: dict[str, Any], audit: Audit
) -> None:
    """An answer its response_url could not take. When the URL was refused (not Slack's), the
    person would keep only the "looking up" note: the answer goes to them as an ephemeral message
    in the command's channel instead (Slack's chat.postEphemeral; it needs the bot in that channel
    or a DM with it). Otherwise (Slack refused it, retries spent), or when that fails too, the log
    says the answer was lost."""
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
            audit.update(fallback="ephemeral")
            return
    log.warning("an answer could not be delivered", extra={"event": "answer_undelivered"})


async def _admitted_in_time(gate: asyncio.Task[Denied | Limited | None], who: Interaction) -> bool:
    """Wait for the admission while an ack is still worth sending; True when it is done."""
    try:
        await asyncio.wait({gate}, timeout=max(0.0, who.received_at + LAST_ACK_AFTER - time.monotonic()))
    except BaseException:
        gate.cancel()
        raise
    return gate.done()


async def _admit_later(
    services: Services,
    who: Interaction,
    gate: asyncio.Task[Denied | Limited | None],
    answer: Callable[[Outcome, Controls | None], Awaitable[None]],
    audit: Audit,
) -> None:
    """The rest of a slash command whose admission outlasted the ack: every answer goes to response_url."""
    work: asyncio.Task[Result] | None = None
    try:
        stop = await gate
        if stop is not None:
            await answer(stop, None)
            return
        command = parse(who.text)
        if isinstance(command, Help | Invalid):
            audit.update(outcome="help" if isinstance(command, Help) else "invalid")
            await answer(command, None)
            return
        audit.asked(command)
        work = asyncio.create_task(run_lookup(services, command, who))
        result = await work
        audit.result(result)
        await answer(result, controls(services))
    except asyncio.CancelledError:
        gate.cancel()
        if work is not None:
            work.cancel()
        audit.update(outcome="cancelled")
        raise
    except Exception:
        await _fail(audit, lambda reply: answer(reply, None))
    finally:
        audit.write()


async def _post_later(
    services: Services,
    work: asyncio.Task[Result],
    answer: Callable[[Outcome, Controls | None], Awaitable[None]],
    audit: Audit,
) -> None:
    try:
        result = await work
        audit.result(result)
        await answer(result, controls(services))
    except asyncio.CancelledError:  # shutdown gave up waiting: the trail still shows the command
        work.cancel()
        audit.update(outcome="cancelled")
        raise
    except Exception:
        await _fail(audit, lambda reply: answer(reply, None))
    finally:
        audit.write()


async def _fail(audit: Audit, tell: Callable[[Unexpected], Awaitable[None]]) -> None:
    reference = uuid.uuid4().hex[:12]
    log.exception("request failed", extra={"event": "request_error", "reference": reference})
    audit.update(outcome="error", error="internal", reference=reference)
    try:
        await tell(Unexpected(reference))
    except Exception:
        log.exception("could not even tell the user", extra={"reference": reference})


# Buttons


async def answer_click(services: Services, who: Interaction, kind: str) -> None:
    """Share, a page, or Dismiss: the click was acked already; the answer replaces or follows the
    clicked message (through the click's own `response_url`) or updates the modal it is in."""
    audit = Audit(services, kind, who)
    with services.inflight.track():
        try:
            stop = await admit(services, who, audit)
            if stop is not None:
                await _answer_click(services, who, render(stop, datetime.now(UTC)).to_slack())
                return
            if kind == "shared":
                await _share(services, who, audit)
            elif kind == "paged":
                await _page(services, who, audit)
            else:
                audit.update(outcome="dismissed")
                await _answer_click(services, who, dismissed())
        except TamperedValue as problem:
            log.warning(
                "a button value was not one the bot wrote", extra={"event": "tampered", "field": str(problem)}
            )
            audit.update(outcome="tampered")
            await _answer_click(services, who, tampered_button())
        except asyncio.CancelledError:
            audit.update(outcome="cancelled")
            raise
        except Exception:
            await _fail(
                audit, lambda reply: _answer_click(services, who, render(reply, datetime.now(UTC)).to_slack())
            )
        finally:
            audit.write()


async def _share(services: Services, who: Interaction, audit: Audit) -> None:
    ref = KeyRef.decode(who.action_value)
    audit.update(org=ref.org, key_ids=[ref.key_id])
    if not services.settings.allow_sharing:  # the button is not shown; this click was forged
        audit.update(outcome="sharing_off")
        await _answer_click(services, who, sharing_off())
        return
    if who.in_modal:
        audit.update(outcome="invalid")
        await _answer_click(services, who, not_in_modal())
        return
    result = await run_lookup(services, Lookup(ref.org, ref.key_id, ref.region or None), who)
    audit.result(result)
    if not (isinstance(result, Found) and result.how is MatchedBy.ID):
        audit.update(outcome="gone" if not isinstance(result, Failed) else "error")
        if isinstance(result, Failed):
            await _answer_click(services, who, render(result, datetime.now(UTC)).to_slack())
        else:
            await _answer_click(services, who, key_gone(ref.key_id, ref.org))
        return
    key = result.keys[0]
    audit.update(outcome="shared", key_ids=[key.id])
    if await services.poster.post(who.response_url, shared_copy(key, ref.org, result.region, who.user_id)):
        await services.poster.post(who.response_url, share_confirmation(key))
    else:
        audit.update(delivery="failed")


async def _page(services: Services, who: Interaction, audit: Audit) -> None:
    ref = PageRef.decode(who.action_value)
    region = ref.region or None
    command: ListKeys | Lookup = (
        Lookup(ref.org, ref.query, region) if ref.query else ListKeys(ref.org, region)
    )
    audit.update(
        org=ref.org, query=shorten(ref.query, AUDIT_QUERY_LIMIT) if ref.query else None, page=ref.page
    )
    result = await run_lookup(services, command, who)
    audit.result(result)
    audit.update(outcome="paged" if not isinstance(result, Failed) else "error")
    page_controls = MODAL_BUTTONS if who.in_modal else controls(services)
    reply = render(result, datetime.now(UTC), page=ref.page, controls=page_controls)
    if who.in_modal:
        await _update_modal(services, who.view_id, answer_modal(reply))
    else:
        await _answer_click(services, who, replaced(reply))


async def _answer_click(services: Services, who: Interaction, message: dict[str, Any]) -> None:
    if who.in_modal:
        await _update_modal(services, who.view_id, answer_modal(_as_reply(message)))
    elif not await services.poster.post(who.response_url, message):
        log.warning("could not answer a click", extra={"event": "click_answer_failed"})


def _as_reply(message: dict[str, Any]) -> Reply:
    return Reply(str(message.get("text", "")), list(message.get("blocks", [])))


async def _update_modal(services: Services, view_id: str, view: dict[str, Any]) -> None:
    try:
        await services.slack_client.views_update(view_id=view_id, view=view)
    except Exception as exc:
        log.warning(
            "could not update a modal", extra={"event": "views_update_error", "error": type(exc).__name__}
        )


# Shortcuts, the lookup modal and the Home tab


async def open_lookup(services: Services, who: Interaction, *, from_message: bool) -> None:
    """A shortcut or the Home tab's button: open the lookup modal (or say why not) right away;
    Slack's trigger_id expires in 3 seconds."""
    audit = Audit(services, "opened", who)
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
            audit.update(outcome="opened")
            view = lookup_modal(org=find_org(who.text) if from_message else "")
        await services.slack_client.views_open(trigger_id=who.trigger_id, view=view)
    except Exception as exc:
        audit.update(outcome="error", error=type(exc).__name__)
        log.warning(
            "could not open the lookup modal",
            extra={"event": "views_open_error", "error": type(exc).__name__},
        )
    finally:
        audit.write()


async def answer_modal_submission(services: Services, who: Interaction, ack: Ack) -> None:
    """The lookup modal's submit: a bad org shows under its input; otherwise the modal becomes the
    answer, at once when it is ready within the budget, else after a short "looking up"."""
    audit = Audit(services, "modal", who)
    ack = services.metrics.timed_ack(ack, "modal", who.received_at)
    handed_over = False
    work: asyncio.Task[Result] | None = None
    gate: asyncio.Task[Denied | Limited | None] | None = None
    with services.inflight.track(), services.inflight.acking():
        try:
            gate = asyncio.create_task(admit(services, who, audit))
            if not await _admitted_in_time(gate, who):
                # Slack is slow to say who this is: "looking up" now, the modal updated once it has.
                asked = from_fields(who.inputs.get(ORG_BLOCK, ""), who.inputs.get(NAME_BLOCK, ""))
                await ack(response_action="update", view=modal_of(Working.of(asked, slack_slow=True)))
                services.inflight.spawn(_admit_modal_later(services, who, gate, audit))
                gate, handed_over = None, True
                return
            stop = gate.result()
            gate = None
            if stop is not None:
                await ack(response_action="update", view=modal_of(stop))
                return
            command = from_fields(who.inputs.get(ORG_BLOCK, ""), who.inputs.get(NAME_BLOCK, ""))
            if isinstance(command, Invalid):
                audit.update(outcome="invalid")
                await ack(**modal_errors(command))
                return
            audit.asked(command)
            work, done = await within_budget(services, command, who)
            if done:
                result = work.result()
                audit.result(result)
                await ack(response_action="update", view=modal_of(result, MODAL_BUTTONS))
                return
            await ack(
                response_action="update",
                view=modal_of(Working.of(command)),
            )
            # Slack gets the ack when this listener returns: the answer follows from a task.
            services.inflight.spawn(_update_later(services, who, work, audit))
            handed_over = True
        except asyncio.CancelledError:
            audit.update(outcome="cancelled")
            raise
        except Exception:
            await _fail(
                audit,
                lambda reply: ack(response_action="update", view=modal_of(reply)),
            )
        finally:
            if gate is not None:
                gate.cancel()
            if not handed_over:
                if work is not None:
                    work.cancel()
                audit.write()


async def _admit_modal_later(
    services: Services, who: Interaction, gate: asyncio.Task[Denied | Limited | None], audit: Audit
) -> None:
    """The rest of a modal submission whose admission outlasted the ack: the modal is updated."""
    work: asyncio.Task[Result] | None = None
    try:
        stop = await gate
        command = from_fields(who.inputs.get(ORG_BLOCK, ""), who.inputs.get(NAME_BLOCK, ""))
        if stop is not None:
            await _update_modal(services, who.view_id, modal_of(stop))
            return
        if isinstance(command, Invalid):
            audit.update(outcome="invalid")
            await _update_modal(services, who.view_id, modal_of(command))
            return
        audit.asked(command)
        work = asyncio.create_task(run_lookup(services, command, who))
        result = await work
        audit.result(result)
        await _update_modal(services, who.view_id, modal_of(result, MODAL_BUTTONS))
    except asyncio.CancelledError:
        gate.cancel()
        if work is not None:
            work.cancel()
        audit.update(outcome="cancelled")
        raise
    except Exception:
        await _fail(audit, lambda reply: _update_modal(services, who.view_id, modal_of(reply)))
    finally:
        audit.write()


async def _update_later(
    services: Services, who: Interaction, work: asyncio.Task[Result], audit: Audit
) -> None:
    try:
        result = await work
        audit.result(result)
        await _update_modal(services, who.view_id, modal_of(result, MODAL_BUTTONS))
    except asyncio.CancelledError:
        work.cancel()
        audit.update(outcome="cancelled")
        raise
    except Exception:
        await _fail(
            audit,
            lambda reply: _update_modal(services, who.view_id, modal_of(reply)),
        )
    finally:
        audit.write()


async def publish_home(services: Services, who: Interaction) -> None:
    """The Home tab, for the person who opened it: whether they may use the bot, and a way in.
    Through the same gate as every surface (rate limit, then access), and audited: a person
    over the limit gets no new view (the tab keeps the last one) and costs Slack no call."""
    audit = Audit(services, "home", who)
    try:
        stop = await admit(services, who, audit)
        if isinstance(stop, Limited):
            return
        regions: RegionAccess | None = None
        if stop is None:
            audit.update(outcome="home")
            if services.settings.region_usergroups:
                closed = await services.access.closed_regions(who.user_id, who.received_at + ADMISSION_BUDGET)
                regions = RegionAccess(services.settings.region_names, closed)
        await services.slack_client.views_publish(user_id=who.user_id, view=home_view(stop, regions))
    except Exception as exc:
        audit.update(outcome="error", error=type(exc).__name__)
        log.warning(
            "could not publish the Home tab",
            extra={"event": "views_publish_error", "error": type(exc).__name__},
        )
    finally:
        audit.write()
