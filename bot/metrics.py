"""What the bot counts for Prometheus (`GET /metrics`), all in one place.

Every label holds a value from a fixed set: an audit outcome, a kind of request, a Coveo
region the bot knows, an HTTP status, a refusal reason. Anything else becomes "other". So no
label ever holds a user id, an org id, a key name or anything a person typed, and the number
of series stays bounded whatever arrives.

Each bot process has its own `Metrics` and registry (never prometheus_client's global one),
so two servers in one process, or many tests, never share or collide. The numbers are per
process: with several instances, Prometheus sums them.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from bot import version
from bot.core.outcomes import Event, Outcome, Refusal
from bot.core.regions import REGIONS

# The `_created` series double every counter and histogram for a timestamp Prometheus does not
# need from the text format.
disable_created_metrics()  # type: ignore[no-untyped-call]  # not annotated upstream

OTHER = "other"  # the one label value anything unexpected becomes

# The audit line's `event` and `outcome` (bot/flow/audit.py writes them from these enums).
KINDS = frozenset(Event)
OUTCOMES = frozenset(Outcome)
COMMAND_OUTCOMES = (
    Outcome.FOUND,
    Outcome.SEVERAL,
    Outcome.NONE,
    Outcome.LISTED,
    Outcome.DENIED,
    Outcome.LIMITED,
    Outcome.HELP,
    Outcome.INVALID,
    Outcome.ERROR,
)
REASONS = frozenset(Refusal)
COVEO_FAILURES = ("timeout", "network", "cancelled", "too_large")  # Coveo statuses that are not HTTP ones

# Slack wants the ack within 3 s; the buckets are dense below that.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0)
# A command's answer comes within APIKEYID_ANSWER_DEADLINE (20 s by default), and its posting after.
ANSWER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
COVEO_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


def bounded(value: object, allowed: frozenset[str] | tuple[str, ...]) -> str:
    """`value` when it is one of `allowed`, otherwise "other"."""
    return value if isinstance(value, str) and value in allowed else OTHER


def region_label(region: object) -> str:
    return bounded(region, REGIONS)


def status_label(status: object) -> str:
    """An HTTP status as its number, or one of COVEO_FAILURES; anything else is "other"."""
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return str(status)
    return bounded(status, COVEO_FAILURES)


class Metrics:
    """The registry and every metric of one bot process; hooks elsewhere call its methods."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self._wall_clock = wall_clock
        registry = self.registry
        build_info = Gauge(
            "apikeyid_build_info",
            "Always 1; its labels say which bot runs: the package version and the Python version.",
            ["version", "python"],
            registry=registry,
        )
        build_info.labels(version(), platform.python_version()).set(1)
        self.commands = Counter(
            "apikeyid_commands",
            "Commands, clicks and modal submissions answered, by kind and audit outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.command_duration = Histogram(
            "apikeyid_command_duration_seconds",
            "From the request's arrival to its final answer (the audit line's latency), by kind.",
            ["kind"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )
        self.ack_duration = Histogram(
            "apikeyid_ack_duration_seconds",
            "From the request's arrival to its ack (Slack gives up after 3 s), by kind.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.coveo_requests = Counter(
            "apikeyid_coveo_requests",
            "HTTP requests to Coveo, by region and status (HTTP status, timeout, network, cancelled).",
            ["region", "status"],
            registry=registry,
        )
        self.coveo_duration = Histogram(
            "apikeyid_coveo_request_duration_seconds",
            "One request to Coveo, its body read in full, by region.",
            ["region"],
            buckets=COVEO_BUCKETS,
            registry=registry,
        )
        self.coveo_retries = Counter(
            "apikeyid_coveo_retries",
            "Coveo requests sent again after throttling, an outage or a network error, by region.",
            ["region"],
            registry=registry,
        )
        self.cache_lookups = Counter(
            "apikeyid_cache_lookups",
            "Key lists asked of the cache: hit (fresh, no Coveo call) or miss.",
            ["result"],
            registry=registry,
        )
        self.response_url_failures = Counter(
            "apikeyid_response_url_failures",
            "Answers that could not be posted to Slack's response_url (every attempt failed).",
            registry=registry,
        )
        self.audit_channel_drops = Counter(
            "apikeyid_audit_channel_dropped",
            "Audit channel lines dropped because its queue was full (the JSON audit log has them).",
            ["kind"],
            registry=registry,
        )
        self.access_denied = Counter(
            "apikeyid_access_denied",
            "Requests refused by access control, by reason.",
            ["reason"],
            registry=registry,
        )
        self.coveo_last_success = Gauge(
            "apikeyid_coveo_last_success_timestamp_seconds",
            "When Coveo last answered a request with success (2xx), in Unix time, by region; "
            "absent for a region until its first success.",
            ["region"],
            registry=registry,
        )
        self.in_flight = Gauge("apikeyid_in_flight", "Commands still being answered.", registry=registry)
        self.token_rejected = Gauge(
            "apikeyid_coveo_token_rejected",
            "1 while Coveo rejects the region's token (after re-reading its file), else 0.",
            ["region"],
            registry=registry,
        )
        self._access_list_age: Gauge | None = None
        # The children (one per label set) the hot paths use, by label values: `labels()` checks
        # and converts its arguments and takes a lock on every call, a few per command.
        self._children: dict[tuple[object, ...], Any] = {}
        # Series that exist from the start, so a rate over them is defined before the first event.
        for outcome in COMMAND_OUTCOMES:
            self.commands.labels("command", outcome)
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)
        for reason in sorted(REASONS):
            self.access_denied.labels(reason)

    # Read at each scrape: values other objects own.

    def watch(
        self,
        *,
        in_flight: Callable[[], int],
        token_rejected: Mapping[str, Callable[[], bool]],
        access_list_read: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`in_flight`: the count of commands in flight. `token_rejected`: per region served,
        whether its token is known rejected. `access_list_read`: when the oldest user group list
        was read (by `clock`), None before the first read; not given when no group is configured,
        and then the age is not exported at all."""
        self.in_flight.set_function(lambda: float(in_flight()))
        for region, rejected in token_rejected.items():
            self.token_rejected.labels(region_label(region)).set_function(_as_number(rejected))
        for region in token_rejected:
            self.coveo_retries.labels(region_label(region))
        # CPU, memory, open files of this process (read from /proc; nothing on other systems).
        ProcessCollector(registry=self.registry)
        if access_list_read is not None:
            self._access_list_age = Gauge(
                "apikeyid_access_list_age_seconds",
                "Age of the oldest allowed user group's member list (+Inf before the first read).",
                registry=self.registry,
            )

            def age() -> float:
                read = access_list_read()
                return math.inf if read is None else max(0.0, clock() - read)

            self._access_list_age.set_function(age)

    # Hooks: one call each from the code that knows.

    def audited(self, fields: Mapping[str, Any], seconds: float) -> None:
        """An audit line was written (bot/flow/audit.py, `Audit.write`): count it under its outcome."""
        kind = bounded(fields.get("event"), KINDS)
        outcome = bounded(fields.get("outcome"), OUTCOMES)
        self._child(self.commands, kind, outcome).inc()
        self._child(self.command_duration, kind).observe(seconds)
        if outcome == "denied":
            self.access_denied.labels(bounded(fields.get("refusal"), REASONS)).inc()

    def timed_ack(
        self, ack: Callable[..., Awaitable[Any]], kind: str, received_at: float
    ) -> Callable[..., Awaitable[Any]]:
        """`ack`, observing the time from `received_at` (time.monotonic()) to its first call."""
        label = bounded(kind, KINDS)
        observed = False

        async def timed(*args: Any, **kwargs: Any) -> Any:
            nonlocal observed
            if not observed:
                observed = True
                self._child(self.ack_duration, label).observe(max(0.0, time.monotonic() - received_at))
            return await ack(*args, **kwargs)

        return timed

    def coveo_request(self, region: str, status: int | str, seconds: float) -> None:
        """One request to Coveo ended (the Coveo client's hook): its HTTP status, or how it failed."""
        label = region_label(region)
        self._child(self.coveo_requests, label, status_label(status)).inc()
        self._child(self.coveo_duration, label).observe(seconds)
        if isinstance(status, int) and 200 <= status <= 299:
            self.coveo_succeeded(region)

    def coveo_succeeded(self, region: str) -> None:
        """Coveo answered `region`'s request with success: now is its last success."""
        self._child(self.coveo_last_success, region_label(region)).set(self._wall_clock())

    def coveo_retry(self, region: str) -> None:
        self.coveo_retries.labels(region_label(region)).inc()

    def cache_lookup(self, hit: bool) -> None:
        self._child(self.cache_lookups, "hit" if hit else "miss").inc()

    def response_url_failed(self) -> None:
        self.response_url_failures.inc()

    def audit_channel_dropped(self, kind: str) -> None:
        """A line the audit channel's queue had no room for (`real` or `summary`)."""
        self.audit_channel_drops.labels(bounded(kind, ("real", "summary"))).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: label values come from fixed sets, so this stays small."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def exposition(self) -> tuple[bytes, str]:
        """The text for `GET /metrics` and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _as_number(flag: Callable[[], bool]) -> Callable[[], float]:
    return lambda: float(flag())
