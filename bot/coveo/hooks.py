"""What Coveo tells whoever counts: given to the client and the key directory at start-up.

`bot.metrics.Metrics` is the one implementation the bot wires in; Coveo never imports it, so the
Coveo room stays free of Prometheus, Slack and serving (tests/test_layers.py).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import httpx

from bot.coveo.errors import ResponseTooLarge


class CoveoHooks(Protocol):
    def coveo_request(self, region: str, status: int | str, seconds: float) -> None:
        """One request to Coveo ended: its HTTP status, or one of FAILURES, and how long it took."""

    def coveo_retry(self, region: str) -> None:
        """A request is sent again after throttling, an outage or a network error."""

    def cache_lookup(self, hit: bool) -> None:
        """A key list was asked of the cache: fresh (no Coveo call) or not."""


class NoHooks:
    """Counts nothing: for the CLI, the doctor and tests that need no metrics."""

    def coveo_request(self, region: str, status: int | str, seconds: float) -> None:
        pass

    def coveo_retry(self, region: str) -> None:
        pass

    def cache_lookup(self, hit: bool) -> None:
        pass


# A request that ended without an HTTP status, counted as one of these.
TIMEOUT, NETWORK, CANCELLED, TOO_LARGE, OTHER = "timeout", "network", "cancelled", "too_large", "other"
FAILURES = (TIMEOUT, NETWORK, CANCELLED, TOO_LARGE)


def failure_status(error: BaseException) -> str:
    """What to count for a request that ended in `error` rather than an answer."""
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return TIMEOUT
    if isinstance(error, httpx.HTTPError | OSError):
        return NETWORK
    if isinstance(error, ResponseTooLarge):  # raised while reading the answer
        return TOO_LARGE
    if isinstance(error, asyncio.CancelledError):
        return CANCELLED  # the race dropped this region, or shutdown gave up
    return OTHER
