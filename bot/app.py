"""The Slack app: one slash command, answered in two steps.

Slack wants an HTTP answer within 3 seconds, and Coveo may take longer. So every
command is acknowledged at once: with its final answer when none is needed from
Coveo (help, a malformed org id, access denied, rate limited), otherwise with a
short "looking up" note, and then exactly one final answer goes to `response_url`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import lookup
from bot.access import Requester
from bot.command import Help, Invalid, ListKeys, Lookup, parse
from bot.logs import AUDIT
from bot.replies import Denied, Limited, Outcome, Unexpected, Working, audit_channel_line, render
from bot.services import Services
from bot.text import shorten

log = logging.getLogger(__name__)
AUDIT_QUERY_LIMIT = 300  # names are free text; a pasted novel should not become a 4 KB log line


class _DropTokenUnusedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our client
    (which hands out that same token through `authorize`) wins; the warning only confuses admins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_DropTokenUnusedWarning())


def build_app(services: Services) -> AsyncApp:
    # Bolt passes arguments by name, and a bound method's `self` confuses it: use a plain function.
    async def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return services.slack_auth.result()

    app = AsyncApp(
        # Bolt's own client carries no token; `authorize` hands it the bot token per request.
        client=AsyncWebClient(base_url=services.settings.slack_api_url),
        authorize=authorize,
        # The HTTP server checks signatures itself (failing closed on malformed headers);
        # Socket Mode needs no signature.
        request_verification_enabled=False,
        signing_secret="",
        raise_error_for_unhandled_request=False,
        # Built-in middleware for Events API traffic this app never receives: skipped, it
        # would run on every command. (ssl_check stays: Slack sends it for slash command URLs.)
        url_verification_enabled=False,
        ignoring_self_events_enabled=False,
        attaching_function_token_enabled=False,
        # Run the listener inline so its ack() is the HTTP answer at once; otherwise Bolt
        # polls for the ack every 10 ms. The slow part runs in a task the listener starts.
        process_before_response=True,
    )

    # Any command name: admins may register it as /apikeyid-staging or the like.
    @app.command(re.compile(r"^/.+"))
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await handle_command(body, ack, services)

    return app


async def handle_command(body: dict[str, Any], ack: AsyncAck, services: Services) -> None:
    """request → rate limit → access → parse → (ack) → Coveo → match → reply. Never raises
    (but for cancellation); always one final answer and one audit line."""
    run = CommandRun(body, ack, services)
    with services.inflight.track():
        try:
            work = await run.begin()
        except asyncio.CancelledError:
            run.audit.setdefault("outcome", "cancelled")
            run.write_audit()
            raise
        except Exception:
            await run.fail()
            return
        if work is not None:
            # The HTTP answer went back; the final one follows from this task.
            services.inflight.spawn(run.finish(work))


class CommandRun:
    """One command's answers and its audit line (written once, when the final answer is out)."""

    def __init__(self, body: dict[str, Any], ack: AsyncAck, services: Services) -> None:
        self.body = body
        self.ack = ack
        self.services = services
        self.started = time.monotonic()
        self.acked = False
        self.audited = False
        self.requester = Requester(
            user_id=str(body.get("user_id", "")),
            team_id=_optional(body.get("team_id")),
            enterprise_id=_optional(body.get("enterprise_id")),
        )
        self.audit: dict[str, Any] = {
            "event": "command",
            "team_id": self.requester.team_id,
            "enterprise_id": self.requester.enterprise_id,
            "user_id": self.requester.user_id,
            "channel_id": body.get("channel_id"),
        }

    async def begin(self) -> ListKeys | Lookup | None:
        """Everything before the ack; returns the lookup still to do, or None when answered."""
        services = self.services
        # Before anything else, so that nobody (allowed or not) can flood Slack, Coveo or the log.
        wait = services.limiter.retry_in(self.requester.user_id)
        if wait is not None:
            await self.answer(Limited(wait), outcome="limited")
            return None
        refusal = await services.access.check(self.requester)
        if refusal is not None:
            self.audit["refusal"] = refusal.value
            await self.answer(Denied(refusal, services.settings.allowed_usergroups), outcome="denied")
            return None
        command = parse(str(self.body.get("text", "")))
        if isinstance(command, Help | Invalid):
            await self.answer(command, outcome="help" if isinstance(command, Help) else "invalid")
            return None
        name = command.name if isinstance(command, Lookup) else None
        self.audit.update(org=command.org, query=shorten(name, AUDIT_QUERY_LIMIT) if name else None)
        await self.answer(Working(command.org, name))
        return command

    async def answer(self, reply_to: Outcome, *, outcome: str | None = None) -> None:
        """The HTTP ack if not sent yet, otherwise a post to `response_url`."""
        if outcome is not None:
            self.audit["outcome"] = outcome
        message = render(reply_to, datetime.now(UTC)).to_slack()
        if not self.acked:
            self.acked = True
            await self.ack(**message)
            if not isinstance(reply_to, Working):
                self.write_audit()
        elif not await self.services.poster.post(str(self.body.get("response_url", "")), message):
            self.audit["delivery"] = "failed"

    async def finish(self, command: ListKeys | Lookup) -> None:
        try:
            settings = self.services.settings
            result = await lookup.run(
                command,
                self.services.directory,
                deadline=self.started + settings.answer_deadline,
            )
            _audit_result(self.audit, result)
            await self.answer(result)
        except asyncio.CancelledError:  # shutdown gave up waiting: the trail still shows the command
            self.audit["outcome"] = "cancelled"
            self.write_audit()
            raise
        except Exception:
            await self.fail()
            return
        self.write_audit()

    async def fail(self) -> None:
        reference = uuid.uuid4().hex[:12]
        log.exception("command failed", extra={"event": "command_error", "reference": reference})
        self.audit.update(error="internal", reference=reference)
        try:
            await self.answer(Unexpected(reference), outcome="error")
        except Exception:
            log.exception("could not even tell the user", extra={"reference": reference})
        self.write_audit()

    def write_audit(self) -> None:
        if self.audited:
            return
        self.audited = True
        self.audit["latency_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        # The trail must never cost the user their answer.
        try:
            AUDIT.info("command", extra=self.audit)
        except Exception:
            log.exception("could not write the audit line")
        channel = self.services.audit_channel
        if channel is not None:
            # In the background: a slow or failing audit channel never delays anyone's answer.
            self.services.inflight.spawn(channel.post(audit_channel_line(self.audit)))


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _audit_result(audit: dict[str, Any], result: lookup.Result) -> None:
    if not isinstance(result, lookup.Failed):
        audit["coveo_request_id"] = result.request_id
        audit["region"] = result.region
    if isinstance(result, lookup.Found):
        audit["outcome"] = "found" if len(result.keys) == 1 else "several"
        audit["key_ids"] = [k.id for k in result.keys]
        audit["matched_by"] = result.how
    elif isinstance(result, lookup.NotFound):
        audit["outcome"] = "none"
    elif isinstance(result, lookup.Listing):
        audit["outcome"] = "listed"
        audit["key_count"] = len(result.keys)
    else:
        audit["outcome"] = "error"
        audit["error"] = result.error.kind
        audit["status"] = result.error.status
        audit["coveo_request_id"] = result.error.request_id
        audit["region"] = result.region
        audit["regions_asked"] = {a.region: a.error.kind for a in result.asked}
