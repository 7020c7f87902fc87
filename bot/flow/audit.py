"""The audit trail: one line per command, click, submission or Home tab, written once, whatever happens.

Its `event` and `outcome` come from the enums of bot/core/outcomes.py, which bot/metrics.py counts
directly: a new outcome is a new enum member, known to both at once. The line goes three ways: the
JSON audit log (`apikeyid.audit`), the metrics, and the audit channel when there is one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.core.command import ListKeys, Lookup
from bot.core.outcomes import Event, Outcome
from bot.core.text import shorten
from bot.coveo.results import Failed, Found, Listing, NotFound, Result
from bot.flow.services import Services
from bot.logs import AUDIT
from bot.slack.request import Interaction

log = logging.getLogger(__name__)

AUDIT_QUERY_LIMIT = 300  # names are free text; a pasted novel should not become a 4 KB log line


class Audit:
    """One audit line per command, click or submission: written once, whatever happens."""

    def __init__(self, services: Services, event: Event, who: Interaction) -> None:
        self.services = services
        self.started = who.received_at
        self.written = False
        self.fields: dict[str, Any] = {
            "event": event,
            "team_id": who.team_id,
            "enterprise_id": who.enterprise_id,
            "user_id": who.user_id,
            "channel_id": who.channel_id,
        }

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)

    def ended(self, outcome: Outcome, **fields: Any) -> None:
        """How it ended (and what goes with it): the line's `outcome`."""
        self.fields.update(fields, outcome=outcome)

    def asked(self, command: ListKeys | Lookup) -> None:
        name = command.name if isinstance(command, Lookup) else None
        self.fields.update(org=command.org, query=shorten(name, AUDIT_QUERY_LIMIT) if name else None)

    def result(self, result: Result) -> None:
        fields = self.fields
        if not isinstance(result, Failed):
            fields["coveo_request_id"] = result.request_id
            fields["region"] = result.region
        if isinstance(result, Found):
            fields.setdefault("outcome", Outcome.FOUND if len(result.keys) == 1 else Outcome.SEVERAL)
            fields["key_ids"] = [k.id for k in result.keys][:50]
            fields["matched_by"] = result.how.value
        elif isinstance(result, NotFound):
            fields.setdefault("outcome", Outcome.NONE)
        elif isinstance(result, Listing):
            fields.setdefault("outcome", Outcome.LISTED)
            fields["key_count"] = len(result.keys)
        else:
            fields["outcome"] = Outcome.ERROR
            fields["error"] = result.error.kind
            fields["status"] = result.error.status
            fields["coveo_request_id"] = result.error.request_id
            fields["region"] = result.region
            fields["regions_asked"] = {a.region: a.error.kind for a in result.asked}

    def write(self) -> None:
        if self.written:
            return
        self.written = True
        self.fields["latency_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        # The trail must never cost the user their answer.
        try:
            AUDIT.info(str(self.fields["event"]), extra=self.fields)
        except Exception:
            log.exception("could not write the audit line")
        self.services.metrics.audited(self.fields, self.fields["latency_ms"] / 1000)
        channel = self.services.audit_channel
        if channel is not None:
            # Queued (refusals and limits summarised), posted at Slack's pace by one sender:
            # a slow or failing audit channel never delays anyone's answer.
            channel.record(self.fields)
