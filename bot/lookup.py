"""One command's work: fetch the org's keys (cached, one call per org at a time) and match them.

`run` never raises for anything Coveo does: every failure becomes a `Failed` outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.apikey import ApiKey
from bot.command import ListKeys, Lookup
from bot.coveo import CoveoClient, CoveoError
from bot.matching import Hits, find


@dataclass(frozen=True)
class Found:
    org: str
    query: str
    keys: list[ApiKey]
    how: str


@dataclass(frozen=True)
class NotFound:
    org: str
    query: str
    suggestions: list[str]
    total: int


@dataclass(frozen=True)
class Listing:
    org: str
    keys: list[ApiKey]


@dataclass(frozen=True)
class Failed:
    org: str
    error: CoveoError
    region: str


Result = Found | NotFound | Listing | Failed


@dataclass
class _Entry:
    keys: list[ApiKey]
    fetched_at: float


class KeyDirectory:
    """API key lists per org, kept `ttl` seconds; concurrent askers for one org share one Coveo call."""

    def __init__(
        self,
        coveo: CoveoClient,
        ttl: float,
        *,
        max_orgs: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coveo = coveo
        self.ttl = ttl
        self.max_orgs = max_orgs
        self.clock = clock
        self.calls = 0  # Coveo calls made, for the benchmark and tests
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[list[ApiKey]]] = {}

    async def keys(self, org: str, *, deadline: float, fresh: bool = False) -> tuple[list[ApiKey], bool]:
        """The org's keys and whether they came from the cache."""
        entry = self._cache.get(org)
        if entry and not fresh and self.clock() - entry.fetched_at < self.ttl:
            self._cache.move_to_end(org)
            return entry.keys, True
        task = self._in_flight.get(org)
        if task is None:
            task = asyncio.create_task(self._fetch(org, deadline))
            self._in_flight[org] = task
            task.add_done_callback(lambda _: self._in_flight.pop(org, None))
        # shield: one asker giving up must not cancel the call the others wait for.
        return await asyncio.shield(task), False

    async def _fetch(self, org: str, deadline: float) -> list[ApiKey]:
        self.calls += 1
        keys = await self.coveo.list_api_keys(org, deadline=deadline)
        if self.ttl > 0:
            self._cache[org] = _Entry(keys, self.clock())
            self._cache.move_to_end(org)
            while len(self._cache) > self.max_orgs:
                self._cache.popitem(last=False)
        return keys


async def run(command: ListKeys | Lookup, directory: KeyDirectory, *, deadline: float, region: str) -> Result:
    try:
        keys, cached = await directory.keys(command.org, deadline=deadline)
        if isinstance(command, ListKeys):
            return Listing(command.org, keys)
        result = find(keys, command.name)
        if not isinstance(result, Hits) and cached:
            # The key may have been created since the list was cached: look once more.
            keys, _ = await directory.keys(command.org, deadline=deadline, fresh=True)
            result = find(keys, command.name)
    except CoveoError as error:
        return Failed(command.org, error, region)
    if isinstance(result, Hits):
        return Found(command.org, command.name, result.keys, result.how)
    return NotFound(command.org, command.name, result.suggestions, len(keys))
