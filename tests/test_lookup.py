from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from bot.core.apikey import Care
from bot.core.command import ListKeys, Lookup
from bot.coveo.client import CoveoClient, TokenSource
from bot.coveo.directory import KeyDirectory, run
from bot.coveo.results import Failed, Found, Listing, NotFound
from bot.replies.messages import render
from bot.settings import Secret
from tests.conftest import new_org
from tests.fakes.coveo import EU_TOKEN, GOOD_TOKEN, FakeCoveo, Fault, api_key, exposure_report, key_in_status


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


async def test_refetching_an_org_counts_its_keys_once(fake_coveo: FakeCoveo) -> None:
    one, two = new_org(), new_org()
    fake_coveo.add_org(one, [api_key(f"k{i}") for i in range(8)])
    fake_coveo.add_org(two, [api_key(f"k{i}") for i in range(8)])
    keys = directory(fake_coveo, max_keys=20)
    await keys.keys(two, deadline=deadline())
    for _ in range(3):  # each fresh look replaces the org's list: 8 keys, not 8 more each time
        await keys.keys(one, deadline=deadline(), fresh=True)
    assert (await keys.keys(two, deadline=deadline()))[1] is True  # 16 keys: both stay
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


def two_regions(us: FakeCoveo, eu: FakeCoveo, **kwargs: object) -> KeyDirectory:
    clients = {
        "us": CoveoClient(us.url, TokenSource(Secret(GOOD_TOKEN)), "us"),
        "eu": CoveoClient(eu.url, TokenSource(Secret(EU_TOKEN), variable="COVEO_ACCESS_TOKEN_EU"), "eu"),
    }
    return KeyDirectory(clients, kwargs.pop("ttl", 0), **kwargs)  # type: ignore[arg-type]


async def test_the_region_that_has_the_org_answers_and_is_remembered(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("eu key")])
    keys = two_regions(fake_coveo, fake_coveo_eu)
    found = await run(Lookup(org, "eu key"), keys, deadline=deadline())
    assert isinstance(found, Found) and found.region == "eu"
    # Both were asked at once; US's call is cancelled once EU won, before or after it reached the fake.
    await asyncio.sleep(0.1)  # by now it has arrived, or never will
    us_calls = fake_coveo.calls(org)
    assert us_calls <= 1 and fake_coveo_eu.calls(org) == 1
    assert keys.home(org) == "eu"
    listing = await run(ListKeys(org), keys, deadline=deadline())  # the cache is off (ttl 0)
    assert isinstance(listing, Listing) and listing.region == "eu"
    await asyncio.sleep(0.1)
    assert (fake_coveo.calls(org), fake_coveo_eu.calls(org)) == (us_calls, 2)  # US was not asked again
    await keys.aclose()


async def test_a_region_that_stops_knowing_the_org_is_forgotten(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("k")])
    keys = two_regions(fake_coveo, fake_coveo_eu)
    assert isinstance(await run(Lookup(org, "k"), keys, deadline=deadline()), Found)
    del fake_coveo_eu.orgs[org]  # the org moved to US
    fake_coveo.add_org(org, [api_key("k")])
    moved = await run(Lookup(org, "k"), keys, deadline=deadline())
    assert isinstance(moved, Found) and moved.region == "us" and keys.home(org) == "us"
    # A remembered region that fails otherwise (throttling) still holds the org: only it is asked.
    fake_coveo.faults[org].append(Fault(status=429, headers={"Retry-After": "60"}))
    throttled = await run(Lookup(org, "k"), keys, deadline=deadline())
    assert isinstance(throttled, Failed) and throttled.region == "us" and len(throttled.asked) == 1
    assert fake_coveo_eu.calls(org) == 2 and keys.home(org) == "us"
    await keys.aclose()


async def test_memory_of_regions_is_bounded_and_expires(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    clock = Clock()
    keys = two_regions(fake_coveo, fake_coveo_eu, max_remembered=2, remember_for=100, clock=clock)
    keys.remember("a", "eu")
    keys.remember("b", "us")
    keys.remember("c", "eu")
    assert (keys.home("a"), keys.home("b"), keys.home("c")) == (None, "us", "eu")
    clock.now = 100
    assert keys.home("c") is None
    await keys.aclose()


async def test_a_hanging_region_does_not_hold_back_the_answer(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo_eu.faults[org].append(Fault(status=200, delay=30))
    keys = two_regions(fake_coveo, fake_coveo_eu)
    started = time.monotonic()
    found = await run(Lookup(org, "k"), keys, deadline=time.monotonic() + 10)
    assert isinstance(found, Found) and found.region == "us"
    assert time.monotonic() - started < 2
    # The call nobody waits for any more is cancelled, not left to run to the deadline.
    end = time.monotonic() + 5
    while keys._in_flight and time.monotonic() < end:  # noqa: ASYNC110 - the table has no event to wait on
        await asyncio.sleep(0.01)
    assert not keys._in_flight
    await keys.aclose()


async def test_no_region_names_each_answer_and_suggests_from_all(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    stem = "regionless" + new_org()[3:10]
    fake_coveo.add_org(stem + "us", [])
    fake_coveo_eu.add_org(stem + "eu", [])
    org = stem + "xx"
    fake_coveo_eu.faults[org].append(Fault(status=403))
    keys = two_regions(fake_coveo, fake_coveo_eu)
    failed = await run(Lookup(org, "k"), keys, deadline=deadline())
    assert isinstance(failed, Failed)
    assert [(a.region, a.error.kind) for a in failed.asked] == [
        ("us", "organization_not_found"),
        ("eu", "not_allowed"),
    ]
    assert failed.region == "eu"  # a 403 says more than a 404: the org may exist, unseen
    assert {(o.id, o.region) for o in failed.similar_orgs} >= {(stem + "us", "us"), (stem + "eu", "eu")}
    await keys.aclose()


async def test_concurrent_askers_share_one_call_per_region(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo
) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("k")])
    fake_coveo_eu.faults[org].append(Fault(status=503, delay=0.2))
    keys = two_regions(fake_coveo, fake_coveo_eu, ttl=60)
    results = await asyncio.gather(*(run(Lookup(org, "k"), keys, deadline=deadline()) for _ in range(30)))
    assert all(isinstance(r, Found) and r.region == "eu" for r in results)
    assert fake_coveo.calls(org) == 1 and fake_coveo_eu.calls(org) == 2  # one fetch each: EU's 503 and retry
    await keys.aclose()


async def test_care_queries_filter_sort_and_combine_with_a_name(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    low = api_key("shop search", exposureReport=exposure_report("LOW"))
    critical = key_in_status("shop push", "DISABLED_EXPOSED")
    fake_coveo.add_org(
        org, [api_key("shop fine"), low, critical, api_key("other", exposureReport=exposure_report())]
    )
    keys = directory(fake_coveo)
    listed = await run(Lookup(org, "is:exposed shop"), keys, deadline=deadline())
    assert isinstance(listed, Listing)
    assert [k.id for k in listed.keys] == [critical["id"], low["id"]]
    assert (listed.care, listed.name, listed.total, listed.query) == (
        (Care.EXPOSED,),
        "shop",
        3,  # the keys matching "shop": the "N of M" says of which keys N are exposed
        "is:exposed shop",
    )
    missing = await run(Lookup(org, "is:exposed shpo zzz"), keys, deadline=deadline())
    assert isinstance(missing, NotFound) and missing.query == "shpo zzz"
    named = await run(Lookup(org, '"is:exposed"'), keys, deadline=deadline())
    assert isinstance(named, NotFound) and named.query == "is:exposed"  # a name, and no key has it
    await keys.aclose()


async def test_a_care_query_with_a_name_lists_every_key_that_matches_not_only_the_best_tier(
    fake_coveo: FakeCoveo,
) -> None:
    # A key named exactly "search" (clean) must not hide the exposed keys that merely contain it.
    org = new_org()
    page = api_key("search page", exposureReport=exposure_report("CRITICAL"))
    ui = key_in_status("Search UI prod", "DISABLED_EXPOSED")
    fake_coveo.add_org(org, [api_key("search"), page, ui, api_key("other")])
    keys = directory(fake_coveo)
    listed = await run(Lookup(org, "is:exposed search"), keys, deadline=deadline())
    assert isinstance(listed, Listing)
    assert [k.id for k in listed.keys] == [page["id"], ui["id"]]
    assert listed.total == 3  # "2 of 3 API keys … matching “search” are exposed"
    text = render(listed, datetime.now(UTC)).text
    assert "2 of 3 API keys" in text and "matching “search” are exposed" in text
    alone = await run(Lookup(org, "is:exposed"), keys, deadline=deadline())
    assert isinstance(alone, Listing) and {k.id for k in alone.keys} == {page["id"], ui["id"]}
    assert alone.total == 4
    # An id or a value tail still finds its key among those that need care.
    by_id = await run(Lookup(org, f"is:exposed {ui['id']}"), keys, deadline=deadline())
    assert isinstance(by_id, Listing) and [k.id for k in by_id.keys] == [ui["id"]] and by_id.total == 1
    await keys.aclose()
