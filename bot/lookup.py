"""One command's work: fetch the org's keys (cached, one call per org at a time) and match them.

`run` never raises for anything Coveo does: every failure becomes a `Failed` outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.apikey import ApiKey
from bot.command import ListKeys, Lookup
from bot.coveo import CoveoClient, CoveoError, KeyList, NotAllowed, Organization, OrganizationNotFound
from bot.matching import Hits, closest, find
from bot.text import fold, trigrams


@dataclass(frozen=True)
class Found:
    org: str
    query: str
    keys: list[ApiKey]
    how: str
    request_id: str | None = None  # Coveo's id for the call that listed the keys


@dataclass(frozen=True)
class NotFound:
    org: str
    query: str
    suggestions: list[str]
    total: int
    request_id: str | None = None


@dataclass(frozen=True)
class Listing:
    org: str
    keys: list[ApiKey]
    request_id: str | None = None


@dataclass(frozen=True)
class Failed:
    org: str
    error: CoveoError
    region: str
    similar_orgs: list[Organization] = field(default_factory=list)


Result = Found | NotFound | Listing | Failed


ORG_LIST_TTL = 300.0  # the organisations a token sees change rarely


@dataclass
class _Entry:
    listed: KeyList
    fetched_at: float


class KeyDirectory:
    """API key lists per org, kept `ttl` seconds; concurrent askers for one org share one Coveo call."""

    def __init__(
        self,
        coveo: CoveoClient,
        ttl: float,
        *,
        max_orgs: int = 64,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coveo = coveo
        self.ttl = ttl
        self.max_orgs = max_orgs
        self.max_keys = max_keys  # bounds memory: big orgs hold tens of thousands of keys
        self.clock = clock
        self.calls = 0  # Coveo calls made, for the benchmark and tests
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[KeyList]] = {}
        self._orgs: tuple[list[Organization], float] | None = None

    async def similar_orgs(self, org: str, *, deadline: float) -> list[Organization]:
        """Organisations the token can see whose id or name looks like `org`; [] when unknown."""
        if self._orgs is None or self.clock() - self._orgs[1] >= ORG_LIST_TTL:
            try:
                self._orgs = (await self.coveo.list_organizations(deadline=deadline), self.clock())
            except CoveoError:
                return []
        orgs = {o.id: o for o in self._orgs[0] if o.id != org}
        candidates = [(trigrams(o.id), o.id, o.id) for o in orgs.values()]
        candidates += [(trigrams(fold(o.display_name)), fold(o.display_name), o.id) for o in orgs.values()]
        ids = closest(fold(org), candidates, limit=10)
        return [orgs[i] for i in dict.fromkeys(ids)][:3]

    async def keys(self, org: str, *, deadline: float, fresh: bool = False) -> tuple[KeyList, bool]:
        """The org's keys and whether they came from the cache."""
        entry = self._cache.get(org)
        if entry and not fresh and self.clock() - entry.fetched_at < self.ttl:
            self._cache.move_to_end(org)
            return entry.listed, True
        task = self._in_flight.get(org)
        if task is None:
            task = asyncio.create_task(self._fetch(org, deadline))
            self._in_flight[org] = task
            task.add_done_callback(lambda done: self._forget(org, done))
        # shield: one asker giving up must not cancel the call the others wait for.
        return await asyncio.shield(task), False

    def _forget(self, org: str, task: asyncio.Task[KeyList]) -> None:
        self._in_flight.pop(org, None)
        # Every asker may have given up; reading the outcome keeps asyncio from warning about it.
        if not task.cancelled():
            task.exception()

    async def _fetch(self, org: str, deadline: float) -> KeyList:
        self.calls += 1
        listed = await self.coveo.list_api_keys(org, deadline=deadline)
        if self.ttl > 0:
            self._cache[org] = _Entry(listed, self.clock())
            self._cache.move_to_end(org)
            while len(self._cache) > 1 and (
                len(self._cache) > self.max_orgs
                or sum(len(e.listed.keys) for e in self._cache.values()) > self.max_keys
            ):
                self._cache.popitem(last=False)
        return listed


async def run(command: ListKeys | Lookup, directory: KeyDirectory, *, deadline: float, region: str) -> Result:
    try:
        listed, cached = await directory.keys(command.org, deadline=deadline)
        if isinstance(command, ListKeys):
            return Listing(command.org, listed.keys, listed.request_id)
        result = find(listed.keys, command.name)
        if not isinstance(result, Hits) and cached:
            # The key may have been created since the list was cached: look once more.
            listed, _ = await directory.keys(command.org, deadline=deadline, fresh=True)
            result = find(listed.keys, command.name)
    except (OrganizationNotFound, NotAllowed) as error:
        # Coveo may answer 403 for an org the token cannot see, existing or not: suggest either way.
        return Failed(
            command.org, error, region, await directory.similar_orgs(command.org, deadline=deadline)
        )
    except CoveoError as error:
        return Failed(command.org, error, region)
    if isinstance(result, Hits):
        return Found(command.org, command.name, result.keys, result.how, listed.request_id)
    return NotFound(command.org, command.name, result.suggestions, len(listed.keys), listed.request_id)
