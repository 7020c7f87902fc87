"""The one way every command, modal submission and button click is answered:
admit → read → look up → answer once → audit once. (Opening the modal and the Home tab, which
answer with a view rather than a message, are in `views.py`, through the same gate and audit.)

    listener ──serve(surface)──▶ answer(): admit ─▶ work (look_up, share, dismiss) ─▶ surface.answer
                ◀── returns once the ack is out                                       audit.write

The surface (bot/flow/surfaces.py) says where the answer goes: the command's ack, the modal, the
clicked message. A request waits for its answer up to APIKEYID_INLINE_BUDGET seconds from its
arrival and is acked with the answer itself: one message. Past that, the ack is a short note and
the answer follows later on the same surface. The same holds when Slack is slow to say who the
person is: the ack goes out before Slack would drop it, and the gate's answer follows.
Nothing here raises for a user's input or for Coveo: the person always gets one answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.core.buttons import TamperedValue
from bot.core.command import Help, Invalid, ListKeys, Lookup
from bot.core.outcomes import Denied, Limited, Outcome, Unexpected, Working
from bot.coveo import directory
from bot.coveo.results import Failed, Result
from bot.flow.audit import Audit
from bot.flow.services import Services
from bot.flow.surfaces import ClickedMessage, Surface
from bot.replies.surfaces import tampered_button
from bot.slack.access import ADMISSION_BUDGET, LOOKUP_TIMEOUT
from bot.slack.request import Interaction

log = logging.getLogger(__name__)

S = TypeVar("S", bound=Surface)
Work = Callable[[Services, S], Awaitable[None]]  # what a request asks done once its person is admitted


async def serve(services: Services, surface: S, work: Work[S]) -> None:
    """Answer `surface` in a task of its own; return once its ack is out (Bolt sends the ack to
    Slack when the listener returns, and the answer may follow later from the task)."""
    task = services.inflight.spawn(answer(services, surface, work))
    if surface.acked:
        return
    task.add_done_callback(lambda _: surface.free_the_listener())  # ended without an ack: nothing to wait for
    try:
        # Socket Mode must not close its connection under a request whose ack is not out.
        with services.inflight.acking():
            await surface.listener_free()
    except asyncio.CancelledError:
        task.cancel()  # the request is gone (the server stopped): its work and answer go with it
        raise


async def answer(services: Services, surface: S, work: Work[S]) -> None:
    """Admit the person, then do `work`; whatever happens, one answer and one audit line."""
    audit = surface.audit
    gate = asyncio.create_task(admit(services, surface.who, audit))
    try:
        if not surface.acked and not await _done_by(gate, surface.ack_by):
            # Slack is slow to say who this is: "looking up" now, the gate's answer later.
            await surface.working(Working.of(surface.asked(), slack_slow=True))
        stop = await gate
        if stop is not None:
            await surface.answer(stop)
        else:
            await work(services, surface)
    except TamperedValue as problem:
        log.warning(
            "a button value was not one the bot wrote", extra={"event": "tampered", "field": str(problem)}
        )
        audit.ended(Outcome.TAMPERED)
        if isinstance(surface, ClickedMessage):
            await surface.show(tampered_button())
        else:  # only a button carries a value the bot wrote: anywhere else this is a bug of ours
            await _fail(audit, surface.answer)
    except asyncio.CancelledError:  # shutdown gave up waiting: the trail still shows the request
        audit.ended(Outcome.CANCELLED)
        raise
    except Exception:
        await _fail(audit, surface.answer)
    finally:
        gate.cancel()
        audit.write()


async def look_up(services: Services, surface: Surface) -> None:
    """The work of a command, a modal submission or a page: look the keys up and answer."""
    audit = surface.audit
    asked = surface.asked()
    if isinstance(asked, Help | Invalid):
        audit.ended(Outcome.HELP if isinstance(asked, Help) else Outcome.INVALID)
        await surface.answer(asked)
        return
    audit.asked(asked)
    work = asyncio.create_task(run_lookup(services, asked, surface.who))
    try:
        if not surface.acked and not await _done_by(work, _inline_deadline(services, asked, surface)):
            await surface.working(Working.of(asked))
        result = await work
    finally:
        work.cancel()
    audit.result(result)
    if surface.outcome_of_a_result is not None and not isinstance(result, Failed):
        audit.ended(surface.outcome_of_a_result)
    await surface.answer(result, surface.controls)


async def admit(services: Services, who: Interaction, audit: Audit) -> Denied | Limited | None:
    """None when `who` may go on; otherwise the answer that says why not (and the audit says so)."""
    # Before anything else, so that nobody (allowed or not) can flood Slack, Coveo or the log.
    wait = services.limiter.retry_in(who.user_id)
    if wait is not None:
        audit.ended(Outcome.LIMITED)
        return Limited(wait)
    refusal = await services.access.check(who.requester, who.received_at + ADMISSION_BUDGET)
    if refusal is not None:
        audit.ended(Outcome.DENIED, refusal=refusal.value)
        return Denied(refusal, services.settings.allowed_usergroups)
    return None


async def run_lookup(services: Services, command: ListKeys | Lookup, who: Interaction) -> Result:
    deadline = who.received_at + services.settings.answer_deadline
    # Regions with their own user groups, checked before any call to them (a stale list is read
    # again, at most LOOKUP_TIMEOUT: the background refresh normally keeps it fresh).
    closed: frozenset[str] = frozenset()
    if services.settings.region_usergroups:
        closed = await services.access.closed_regions(who.user_id, time.monotonic() + LOOKUP_TIMEOUT)
    return await directory.run(command, services.directory, deadline=deadline, closed=closed)


def _inline_deadline(services: Services, command: ListKeys | Lookup, surface: Surface) -> float:
    """Until when the answer may still go in the ack (time.monotonic())."""
    received = surface.who.received_at
    if not services.accepting:  # shutting down: the connection may close under a late ack
        return 0.0
    until = received + services.settings.inline_budget
    if services.directory.cached(command.org, command.region):
        until = max(until, time.monotonic() + 1.0)  # a cached answer is ready at once: worth waiting for
    # Never past the point where Slack would drop the reply (a slow access check may have used part of it).
    return min(until, surface.ack_by)


async def _done_by(task: asyncio.Task[object], deadline: float) -> bool:
    """Wait for `task` until `deadline` (time.monotonic()); True when it is done. The task gets
    at least one turn of the loop: an instant answer is never taken for a late one."""
    if not task.done():
        await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
    return task.done()


async def _fail(audit: Audit, tell: Callable[[Unexpected], Awaitable[None]]) -> None:
    reference = uuid.uuid4().hex[:12]
    log.exception("request failed", extra={"event": "request_error", "reference": reference})
    audit.ended(Outcome.ERROR, error="internal", reference=reference)
    try:
        await tell(Unexpected(reference))
    except Exception:
        log.exception("could not even tell the user", extra={"reference": reference})
