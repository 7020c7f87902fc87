from __future__ import annotations

import asyncio
import time

from bot.command import ListKeys, Lookup
from bot.coveo import CoveoClient, TokenSource
from bot.lookup import Failed, Found, KeyDirectory, Listing, NotFound, run
from bot.settings import Secret
from tests.conftest import new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, Fault, api_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def directory(fake: FakeCoveo, ttl: float = 60, **kwargs: object) -> KeyDirectory:
    return KeyDirectory(CoveoClient(fake.url, TokenSource(Secret(GOOD_TOKEN))), ttl, **kwargs)  # type: ignore[arg-type]


def deadline() -> float:
    return time.monotonic() + 5


async def test_concurrent_askers_share_one_call(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a")])
    fake_coveo.faults[org].append(Fault(status=503, delay=0.2))
    keys = directory(fake_coveo)
    results = await asyncio.gather(*(keys.keys(org, deadline=deadline()) for _ in range(50)))
    await keys.aclose()
    assert all(len(found.keys) == 1 for found, _ in results)
    assert keys.calls == 1 and fake_coveo.calls(org) == 2  # one fetch: the 503 and its retry


async def test_ttl_and_lru(fake_coveo: FakeCoveo) -> None:
    clock = Clock()
    orgs = [new_org() for _ in range(3)]
    for org in orgs:
        fake_coveo.add_org(org, [api_key("a")])
    keys = directory(fake_coveo, ttl=60, max_orgs=2, clock=clock)
    assert (await keys.keys(orgs[0], deadline=deadline()))[1] is False
    assert (await keys.keys(orgs[0], deadline=deadline()))[1] is True
    clock.now = 61
    assert (await keys.keys(orgs[0], deadline=deadline()))[1] is False  # expired
    await keys.keys(orgs[1], deadline=deadline())
    await keys.keys(orgs[2], deadline=deadline())  # evicts orgs[0], the least recently used
    assert (await keys.keys(orgs[0], deadline=deadline()))[1] is False
    await keys.aclose()


async def test_run_outcomes(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("alpha"), api_key("beta")])
    keys = directory(fake_coveo)
    assert isinstance(await run(Lookup(org, "alpha"), keys, deadline=deadline()), Found)
    assert isinstance(await run(Lookup(org, "gamma"), keys, deadline=deadline()), NotFound)
    listing = await run(ListKeys(org), keys, deadline=deadline())
    assert isinstance(listing, Listing) and len(listing.keys) == 2
    found = await run(Lookup(org, "alpha"), keys, deadline=deadline())
    assert isinstance(found, Found) and found.request_id and found.request_id.startswith("req-")
    assert isinstance(found, Found) and found.region == "us"
    failed = await run(Lookup(new_org(), "x"), keys, deadline=deadline())
    assert isinstance(failed, Failed) and failed.region == "us" and failed.unserved_hint is None
    # A region the bot has no token for: the regions it has are asked, and the answer says so.
    unserved = await run(Lookup(new_org(), "x", "eu"), keys, deadline=deadline())
    assert isinstance(unserved, Failed) and unserved.region == "us" and unserved.unserved_hint == "eu"
    await keys.aclose()


async def test_the_cache_is_bounded_by_keys_as_well_as_orgs(fake_coveo: FakeCoveo) -> None:
    big, small = new_org(), new_org()
    fake_coveo.add_org(big, [api_key(f"k{i}") for i in range(30)])
    fake_coveo.add_org(small, [api_key("s")])
    keys = directory(fake_coveo, max_keys=20)
    await keys.keys(big, deadline=deadline())
    assert (await keys.keys(big, deadline=deadline()))[1] is True  # the newest list always stays
    await keys.keys(small, deadline=deadline())
    assert (await keys.keys(small, deadline=deadline()))[1] is True
    assert (await keys.keys(big, deadline=deadline()))[1] is False  # evicted to stay under 20 keys
    await keys.aclose()


async def test_forbidden_org_suggests_others_but_not_itself(fake_coveo: FakeCoveo) -> None:
    org = "forbidden" + new_org()[3:12]
    twin = org[:-1] + ("a" if org[-1] != "a" else "b")
    fake_coveo.add_org(org, [])
    fake_coveo.add_org(twin, [])
    fake_coveo.faults[org].append(Fault(status=403))
    keys = directory(fake_coveo)
    failed = await run(Lookup(org, "x"), keys, deadline=deadline())
    await keys.aclose()
    assert isinstance(failed, Failed)
    ids = [o.id for o in failed.similar_orgs]
    assert twin in ids and org not in ids
