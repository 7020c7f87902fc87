"""bot/metrics.py alone: every label comes from a fixed set, whatever the code around it passes."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from bot.coveo.errors import ResponseTooLarge
from bot.coveo.hooks import failure_status
from bot.metrics import OTHER, OUTCOMES, Metrics, bounded, region_label, status_label
from bot.serving.ops import SERVICES, readyz
from bot.serving.wiring import open_services
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "COVEO_ACCESS_TOKEN": "t",
    "APIKEYID_ALLOW_EVERYONE": "yes",
}


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = metrics.exposition()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("us", "us"),
        ("hipaa", "hipaa"),
        ("mars", OTHER),
        ("US", OTHER),
        ("", OTHER),
        (None, OTHER),
        (3, OTHER),
    ],
)
def test_regions_are_the_fixed_list_or_other(given: object, label: str) -> None:
    assert region_label(given) == label


@pytest.mark.parametrize(
    ("given", "label"),
    [
        (200, "200"),
        (401, "401"),
        (599, "599"),
        (99, OTHER),
        (600, OTHER),
        (10**9, OTHER),
        (True, OTHER),  # a bool is an int to Python, never a status
        ("timeout", "timeout"),
        ("network", "network"),
        ("cancelled", "cancelled"),
        ("200", OTHER),  # a status is counted from the number only
        ("U0ALLOWED", OTHER),
    ],
)
def test_statuses_are_numbers_or_a_fixed_word(given: object, label: str) -> None:
    assert status_label(given) == label


def test_bounded_keeps_only_what_it_allows() -> None:
    assert bounded("found", OUTCOMES) == "found"
    assert bounded("found ", OUTCOMES) == OTHER
    assert bounded("myorg Push source key", OUTCOMES) == OTHER
    assert bounded(["found"], OUTCOMES) == OTHER


def test_an_audit_line_is_counted_without_anything_a_person_typed() -> None:
    metrics = Metrics()
    typed = {
        "event": "command",
        "team_id": "T0TEAMSECRETISH",
        "user_id": "U0PERSON42",
        "channel_id": "C0CHANNEL7",
        "org": "orgtyped1234",
        "query": "Key name typed",
        "key_ids": ["keyidvalue0001"],
    }
    metrics.audited(typed | {"outcome": "found"}, 0.2)
    metrics.audited(typed | {"outcome": "denied", "refusal": "guest"}, 0.01)
    metrics.audited(typed | {"outcome": "denied", "refusal": "U0PERSON42"}, 0.01)
    metrics.audited(typed | {"event": "orgtyped1234", "outcome": "Key name typed"}, 0.01)
    metrics.audited(typed | {"outcome": None}, 0.01)
    assert value(metrics, "apikeyid_commands_total", kind="command", outcome="found") == 1
    assert value(metrics, "apikeyid_commands_total", kind="command", outcome="denied") == 2
    assert value(metrics, "apikeyid_commands_total", kind="command", outcome=OTHER) == 1
    assert value(metrics, "apikeyid_commands_total", kind=OTHER, outcome=OTHER) == 1
    assert value(metrics, "apikeyid_access_denied_total", reason="guest") == 1
    assert value(metrics, "apikeyid_access_denied_total", reason=OTHER) == 1
    assert value(metrics, "apikeyid_command_duration_seconds_count", kind="command") == 4
    text = metrics.exposition()[0].decode()
    for field in (
        "T0TEAMSECRETISH",
        "U0PERSON42",
        "C0CHANNEL7",
        "orgtyped1234",
        "Key name typed",
        "keyidvalue",
    ):
        assert field not in text


async def test_an_ack_is_timed_once_from_the_requests_arrival() -> None:
    metrics = Metrics()
    calls: list[dict[str, Any]] = []

    async def ack(**message: Any) -> None:
        calls.append(message)

    timed = metrics.timed_ack(ack, "command", time.monotonic())
    await timed(text="first")
    await timed(text="again")
    assert calls == [{"text": "first"}, {"text": "again"}]  # every call still reaches Slack
    assert value(metrics, "apikeyid_ack_duration_seconds_count", kind="command") == 1
    metrics.timed_ack(ack, "U0PERSON42", 0.0)
    assert value(metrics, "apikeyid_ack_duration_seconds_count", kind=OTHER) is None  # not yet called


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TimeoutError(), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "network"),
        (asyncio.CancelledError(), "cancelled"),
        (ResponseTooLarge("big", status=200), "too_large"),  # a 200 whose body was refused
        (ValueError("odd"), OTHER),
    ],
)
def test_a_coveo_request_that_fails_is_counted_by_how(error: BaseException, status: str) -> None:
    metrics = Metrics()
    metrics.coveo_request("eu", failure_status(error), 0.1)  # what the Coveo client reports
    assert value(metrics, "apikeyid_coveo_requests_total", region="eu", status=status) == 1
    assert value(metrics, "apikeyid_coveo_request_duration_seconds_count", region="eu") == 1


def test_a_coveo_answer_is_counted_by_its_status_and_odd_regions_as_other() -> None:
    metrics = Metrics()
    metrics.coveo_request("us", 429, 0.1)
    metrics.coveo_request("orgtyped1234", 200, 0.1)
    metrics.coveo_retry("us")
    assert value(metrics, "apikeyid_coveo_requests_total", region="us", status="429") == 1
    assert value(metrics, "apikeyid_coveo_requests_total", region=OTHER, status="200") == 1
    assert value(metrics, "apikeyid_coveo_retries_total", region="us") == 1
    assert "orgtyped1234" not in metrics.exposition()[0].decode()


def test_values_read_at_each_scrape() -> None:
    metrics = Metrics()
    state = {"in_flight": 3, "rejected": False, "read": None}
    metrics.watch(
        in_flight=lambda: int(state["in_flight"] or 0),
        token_rejected={"us": lambda: bool(state["rejected"]), "eu": lambda: False},
        access_list_read=lambda: state["read"],  # type: ignore[return-value,arg-type]
        clock=lambda: 1000.0,
    )
    assert value(metrics, "apikeyid_in_flight") == 3
    assert value(metrics, "apikeyid_coveo_token_rejected", region="us") == 0
    assert math.isinf(value(metrics, "apikeyid_access_list_age_seconds") or 0)  # never read: infinitely old
    state.update(in_flight=0, rejected=True, read=990.0)
    assert value(metrics, "apikeyid_in_flight") == 0
    assert value(metrics, "apikeyid_coveo_token_rejected", region="us") == 1
    assert value(metrics, "apikeyid_access_list_age_seconds") == 10.0
    assert value(metrics, "apikeyid_coveo_retries_total", region="eu") == 0  # exists before any retry


def test_no_access_list_age_without_user_groups_and_instances_never_collide() -> None:
    first, second = Metrics(), Metrics()  # one registry each: the second would raise on a shared one
    first.watch(in_flight=lambda: 0, token_rejected={})
    second.watch(in_flight=lambda: 0, token_rejected={})
    assert not [name for name, _ in samples(first) if name.startswith("apikeyid_access_list_age")]
    body, content_type = first.exposition()
    assert content_type.startswith("text/plain") and b"apikeyid_commands_total" in body


async def test_readyz_says_draining_even_where_the_http_server_no_longer_takes_connections() -> None:
    """aiohttp closes its listening socket before the drain starts, so in HTTP mode no probe can
    see this answer over the network; the handler is checked here (Socket Mode's is end to end)."""
    services = open_services(load_settings(BASE))
    services.slack_auth._result = object()  # type: ignore[assignment]  # as after auth.test succeeded
    webapp = web.Application()
    webapp[SERVICES] = services
    try:
        ready = await readyz(make_mocked_request("GET", "/readyz", app=webapp))
        assert ready.status == 200
        services.accepting = False
        draining = await readyz(make_mocked_request("GET", "/readyz", app=webapp))
        assert draining.status == 503 and draining.text is not None and '"draining"' in draining.text
    finally:
        await services.close()


def test_build_info_names_the_installed_version() -> None:
    from importlib.metadata import version

    metrics = Metrics()
    found = [
        dict(labels)
        for (name, labels), number in samples(metrics).items()
        if name == "apikeyid_build_info" and number == 1
    ]
    assert len(found) == 1
    assert found[0]["version"] == version("apikeyid")  # `make install` installed this checkout
    assert found[0]["python"].startswith("3.")


def test_the_last_coveo_success_is_a_timestamp_absent_until_the_first() -> None:
    now = [1_800_000_000.0]
    metrics = Metrics(wall_clock=lambda: now[0])
    metrics.watch(in_flight=lambda: 0, token_rejected={"us": lambda: False, "eu": lambda: False})
    name = "apikeyid_coveo_last_success_timestamp_seconds"
    assert not [key for key in samples(metrics) if key[0] == name]  # never +Inf, never a made-up 0
    metrics.coveo_request("eu", 200, 0.1)
    now[0] += 30
    metrics.coveo_request("eu", 503, 0.1)  # an answer, not a success: the timestamp stays
    metrics.coveo_request("eu", failure_status(httpx.ConnectError("refused")), 0.1)
    assert value(metrics, name, region="eu") == 1_800_000_000.0
    assert value(metrics, name, region="us") is None
    metrics.coveo_request("us", 200, 0.1)
    assert value(metrics, name, region="us") == 1_800_000_030.0
