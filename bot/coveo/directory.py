"""One command's work: find the org's region, fetch its keys (cached, one call per org at a time), match them.

A Coveo token only works in the region that issued it, so the bot holds one client per
region. An org's region is, in order: the one a pasted admin-console URL names; the one
remembered from an earlier answer; otherwise the first region to answer with its keys
when all are asked at once.

`run` never raises for anything Coveo does: every failure becomes a `Failed` outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.apikey import Care, most_urgent_first
from bot.core.command import Invalid, ListKeys, Lookup, read_query
from bot.core.matching import Hits, NoHit, closest, find, find_all
from bot.core.text import fold, trigrams
from bot.coveo.client import CoveoClient
from bot.coveo.errors import (
    ClientFailure,
    CoveoError,
    NotAllowed,
    OrganizationNotFound,
    RegionClosed,
    TokenRejected,
)
from bot.coveo.hooks import CoveoHooks, NoHooks
from bot.coveo.results import Failed, Found, KeyList, Listing, NotFound, Organization, RegionError, Result

ORG_LIST_TTL = 300.0  # the organisations a token sees change rarely
REMEMBER_FOR = 24 * 3600.0  # an org's region almost never changes; the key cache is much shorter
REMEMBER_AT_MOST = 10_000  # orgs whose region is remembered (a few hundred bytes each)


@dataclass
class _Entry:
    listed: KeyList
    fetched_at: float


@dataclass
class _Flight:
    task: asyncio.Task[KeyList]
    waiters: int = 0


class NoRegion(Exception):
    """No region asked gave the org's keys; `answers` says what each one said instead."""

    def __init__(self, answers: list[RegionError]) -> None:
        super().__init__("no region has this organization")
        self.answers = answers


class KeyDirectory:
    """API key lists per (region, org), kept `ttl` seconds; concurrent askers share one Coveo call.

    It also remembers which region holds each org, so that only that region is asked next time.
    """

    def __init__(
        self,
        coveo: CoveoClient | Mapping[str, CoveoClient],
        ttl: float,
        *,
        max_orgs: int = 64,
        max_keys: int = 50_000,
        remember_for: float = REMEMBER_FOR,
        max_remembered: int = REMEMBER_AT_MOST,
        clock: Callable[[], float] = time.monotonic,
        hooks: CoveoHooks | None = None,
        suggest: bool = True,
    ) -> None:
        clients = {coveo.region: coveo} if isinstance(coveo, CoveoClient) else dict(coveo)
        self.hooks: CoveoHooks = hooks or NoHooks()
        self.clients: dict[str, CoveoClient] = clients
        self.suggest = suggest  # False: never suggest (so never reveal) other organizations
        self.ttl = ttl
        self.max_orgs = max_orgs
        self.max_keys = max_keys  # bounds memory: big orgs hold tens of thousands of keys
        self.remember_for = remember_for
        self.max_remembered = max_remembered
        self.clock = clock
        self.calls = 0  # Coveo calls made, for the benchmark and tests
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # Keys held in `_cache`, counted as it changes: summing every list on each fetch cost 4% of CPU.
        self._cached_keys = 0
        self._in_flight: dict[tuple[str, str], _Flight] = {}
        self._orgs: dict[str, tuple[list[Organization], float]] = {}
        self._homes: OrderedDict[str, tuple[str, float]] = OrderedDict()  # org → (region, when learnt)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.clients)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def home(self, org: str) -> str | None:
        """The region remembered for `org`, if any and still fresh."""
        entry = self._homes.get(org)
        if entry is None:
            return None
        region, learnt = entry
        if self.clock() - learnt >= self.remember_for or region not in self.clients:
            del self._homes[org]
            return None
        return region

    def remember(self, org: str, region: str) -> None:
        self._homes[org] = (region, self.clock())
        self._homes.move_to_end(org)
        while len(self._homes) > self.max_remembered:
            self._homes.popitem(last=False)

    def forget(self, org: str) -> None:
        self._homes.pop(org, None)

    async def locate(
        self,
        org: str,
        *,
        deadline: float,
        only: str | None = None,
        closed: frozenset[str] = frozenset(),
    ) -> tuple[str, KeyList, bool]:
        """The region holding `org`, its keys, and whether they came from the cache.

        `only` asks that one region alone. `closed` regions are never asked (the person may not):
        each is in the answers as `RegionClosed`. Raises `NoRegion` when no region asked has the org.
        """
        shut = [self.region_error(r, closed_error(r)) for r in self.clients if r in closed]
        if only is not None:
            if only in closed:
                raise NoRegion([self.region_error(only, closed_error(only))])
            return only, *await self._ask_one(org, only, deadline)
        tried: list[RegionError] = []
        home = self.home(org)
        if home in closed:
            home = None
        if home is not None:
            try:
                listed, cached = await self.keys(org, home, deadline=deadline)
            except (OrganizationNotFound, NotAllowed) as error:
                # The region stopped knowing the org (moved, deleted, access removed): look everywhere.
                self.forget(org)
                tried.append(self.region_error(home, error))
            except Exception as exc:
                # …the org still lives there, so that is the answer.
                raise NoRegion([self.region_error(home, failure_of(exc))]) from exc
            else:
                self.remember(org, home)  # still there: keep it among the most recently used
                return home, listed, cached
        others = [r for r in self.clients if r != home and r not in closed]
        if not others:
            raise NoRegion(tried + shut)
        try:
            if len(others) == 1:  # nothing to race: asked at once, without a task and a wait of its own
                return others[0], *await self._ask_one(org, others[0], deadline)
            return await self._race(org, others, deadline)
        except NoRegion as nowhere:
            raise NoRegion(tried + nowhere.answers + shut) from None

    async def _ask_one(self, org: str, region: str, deadline: float) -> tuple[KeyList, bool]:
        try:
            listed, cached = await self.keys(org, region, deadline=deadline)
        except Exception as exc:
            error = failure_of(exc)
            if isinstance(error, OrganizationNotFound | NotAllowed) and self.home(org) == region:
                self.forget(org)
            raise NoRegion([self.region_error(region, error)]) from error
        self.remember(org, region)
        return listed, cached

    async def _race(self, org: str, regions: list[str], deadline: float) -> tuple[str, KeyList, bool]:
        """Ask every region at once; the first to answer with the keys wins and the rest are dropped."""
        tasks = {asyncio.create_task(self.keys(org, r, deadline=deadline)): r for r in regions}
        for task in tasks:
            task.add_done_callback(_consume)  # losers' outcomes are dropped; asyncio must not warn about them
        errors: dict[str, CoveoError] = {}
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: regions.index(tasks[t])):
                    try:
                        listed, cached = task.result()
                    except CoveoError as error:
                        # 404, 403, a rejected token, throttling: "not here, as far as we know".
                        errors[tasks[task]] = error
                        continue
                    except Exception as exc:
                        errors[tasks[task]] = failure_of(exc)
                        continue
                    self.remember(org, tasks[task])
                    return tasks[task], listed, cached
        finally:
            for task in tasks:
                task.cancel()  # the slower regions are not waited for
        raise NoRegion([self.region_error(r, errors[r]) for r in regions])

    def region_error(self, region: str, error: CoveoError) -> RegionError:
        return RegionError(region, error, self.clients[region].tokens.variable)

    async def similar_orgs(
        self, org: str, *, deadline: float, regions: list[str] | None = None
    ) -> list[Organization]:
        """Organisations the tokens can see whose id or name looks like `org`; [] when unknown."""
        asked = [r for r in (self.clients if regions is None else regions) if r in self.clients]
        lists = await asyncio.gather(*(self._organizations(r, deadline) for r in asked))
        orgs = {f"{o.region}/{o.id}": o for listed in lists for o in listed if o.id != org}
        candidates = [(trigrams(o.id), o.id, k) for k, o in orgs.items()]
        candidates += [(trigrams(fold(o.display_name)), fold(o.display_name), k) for k, o in orgs.items()]
        found = closest(fold(org), candidates, limit=10)
        return [orgs[k] for k in dict.fromkeys(found)][:3]

    async def _organizations(self, region: str, deadline: float) -> list[Organization]:
        known = self._orgs.get(region)
        if known is None or self.clock() - known[1] >= ORG_LIST_TTL:
            try:
                known = (await self.clients[region].list_organizations(deadline=deadline), self.clock())
            except Exception:
                return []
            self._orgs[region] = known
        return known[0]

    def cached(self, org: str, region: str | None = None) -> bool:
        """Whether the org's keys would come from the cache now (in `region`, or its remembered one)."""
        where = region or self.home(org) or (next(iter(self.clients)) if len(self.clients) == 1 else None)
        entry = self._cache.get((where, org)) if where else None
        return entry is not None and self.clock() - entry.fetched_at < self.ttl

    async def keys(
        self, org: str, region: str | None = None, *, deadline: float, fresh: bool = False
    ) -> tuple[KeyList, bool]:
        """The org's keys in `region` (the only one when there is one) and whether they came from the cache."""
        slot = (region or next(iter(self.clients)), org)
        entry = self._cache.get(slot)
        if entry and not fresh and self.clock() - entry.fetched_at < self.ttl:
            self.hooks.cache_lookup(hit=True)
            self._cache.move_to_end(slot)
            return entry.listed, True
        self.hooks.cache_lookup(hit=False)  # a forced fresh look is a miss too: it asks Coveo
        flight = self._in_flight.get(slot)
        if flight is None:
            flight = _Flight(asyncio.create_task(self._fetch(slot, deadline)))
            self._in_flight[slot] = flight
            flight.task.add_done_callback(lambda done: self._landed(slot, done))
        flight.waiters += 1
        try:
            # shield: one asker giving up must not cancel the call the others wait for…
            return await asyncio.shield(flight.task), False
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # …but when every asker gave up (a region that lost the race), nobody needs the call.
                # It leaves the table now: a later asker must start a new call, not join a dying one.
                flight.task.cancel()
                if self._in_flight.get(slot) is flight:
                    del self._in_flight[slot]

    def _landed(self, slot: tuple[str, str], task: asyncio.Task[KeyList]) -> None:
        flight = self._in_flight.get(slot)
        if flight is not None and flight.task is task:
            del self._in_flight[slot]
        _consume(task)

    async def _fetch(self, slot: tuple[str, str], deadline: float) -> KeyList:
        region, org = slot
        self.calls += 1
        listed = await self.clients[region].list_api_keys(org, deadline=deadline)
        if self.ttl > 0:
            replaced = self._cache.pop(slot, None)
            if replaced is not None:
                self._cached_keys -= len(replaced.listed.keys)
            self._cache[slot] = _Entry(listed, self.clock())
            self._cached_keys += len(listed.keys)
            while len(self._cache) > 1 and (
                len(self._cache) > self.max_orgs or self._cached_keys > self.max_keys
            ):
                _, evicted = self._cache.popitem(last=False)
                self._cached_keys -= len(evicted.listed.keys)
        return listed


def closed_error(region: str) -> RegionClosed:
    return RegionClosed(f"the person may not ask the {region.upper()} region")


def failure_of(exc: BaseException) -> CoveoError:
    """`exc` as one region's failure: a `CoveoError` as it is, anything else a `ClientFailure`."""
    if isinstance(exc, CoveoError):
        return exc
    return ClientFailure.of(exc)


def _consume(task: asyncio.Task[Any]) -> None:
    """Read a finished task's outcome, so asyncio does not warn that nobody did."""
    if not task.cancelled():
        task.exception()


async def run(
    command: ListKeys | Lookup,
    directory: KeyDirectory,
    *,
    deadline: float,
    region: str | None = None,
    closed: frozenset[str] = frozenset(),
) -> Result:
    """The outcome of one command. `region` forces one region; otherwise the org's region is found.
    `closed` regions (those the person may not ask) are not asked."""
    hint = region or command.region
    unserved = hint if hint is not None and hint not in directory.clients else None
    only = None if unserved else hint
    try:
        where, listed, cached = await directory.locate(
            command.org, deadline=deadline, only=only, closed=closed
        )
        if isinstance(command, ListKeys):
            return Listing(command.org, listed.keys, listed.request_id, where, total=len(listed.keys))
        care, name = _care_and_name(command.name)
        result: Hits | NoHit | None = None
        if name:
            result = find(listed.keys, name)
            if not isinstance(result, Hits) and cached:
                # The key may have been created since the list was cached: look once more.
                listed, _ = await directory.keys(command.org, where, deadline=deadline, fresh=True)
                result = find(listed.keys, name)
    except NoRegion as nowhere:
        return await _failed(command.org, nowhere.answers, directory, deadline, unserved)
    except CoveoError as error:  # the fresh look after a cached miss
        return Failed(command.org, error, where, asked=(directory.region_error(where, error),))
    if isinstance(result, NoHit) or (result is None and not care):
        suggestions = result.suggestions if isinstance(result, NoHit) else []
        # The name as the user means it (no qualifier, no quotes that only kept it from reading as one).
        return NotFound(command.org, name, suggestions, len(listed.keys), listed.request_id, where)
    if care:
        now = datetime.now(UTC)
        # Every key the name matches, whatever tier: an exact name must not hide the keys that
        # only contain it (`is:exposed search` with a clean key named "search").
        pool = find_all(listed.keys, name) if name else listed.keys
        keys = most_urgent_first((k for k in pool if all(k.needs(c, now) for c in care)), care, now)
        return Listing(command.org, keys, listed.request_id, where, command.name, care, name, len(pool))
    assert isinstance(result, Hits)  # a name was given and found (the other cases returned above)
    return Found(command.org, command.name, result.keys, result.how, listed.request_id, where)


def _care_and_name(query: str) -> tuple[tuple[Care, ...], str]:
    """What a lookup's query asks: the care qualifiers and the name (a query the bot did not
    write, with an unknown qualifier, is a name as typed)."""
    read = read_query(query)
    return ((), query) if isinstance(read, Invalid) else read


async def _failed(
    org: str, answers: list[RegionError], directory: KeyDirectory, deadline: float, unserved: str | None
) -> Failed:
    # The failure to act on first: something other than "not here" (a rejected token, throttling…),
    # then a 403 (the org may exist, unseen), then a plain 404.
    main = min(
        answers, key=lambda a: (isinstance(a.error, OrganizationNotFound | NotAllowed), a.plain_not_found)
    )
    similar: list[Organization] = []
    if directory.suggest and any(isinstance(a.error, OrganizationNotFound | NotAllowed) for a in answers):
        # Coveo may answer 403 for an org the token cannot see, existing or not: suggest either way
        # (from the regions asked: never one the person may not ask).
        regions = [a.region for a in answers if not isinstance(a.error, TokenRejected | RegionClosed)]
        similar = await directory.similar_orgs(org, deadline=deadline, regions=regions)
    return Failed(org, main.error, main.region, similar, tuple(answers), unserved)
