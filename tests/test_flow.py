"""The answer pipeline in-process, on every surface: the real services (`open_services`) talking
over loopback HTTP to the fake Coveo and the fake Slack, the pipeline called as the listeners call
it, no bot subprocess. Each request gets exactly one final answer and one audit line; the end-to-end
suite (tests/e2e) holds the same through Bolt and the HTTP server.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bot.core.buttons import KeyRef, PageRef
from bot.core.outcomes import Event
from bot.coveo.results import Found
from bot.flow.clicks import clicked
from bot.flow.pipeline import answer, look_up, serve
from bot.flow.services import InFlight, Services
from bot.flow.surfaces import CommandAck, ModalSubmission
from bot.metrics import Metrics
from bot.serving.lifecycle import drain_grace
from bot.serving.wiring import open_services
from bot.settings import load_settings
from bot.slack.access import RateLimiter
from bot.slack.request import Interaction
from bot.slack.responses import ResponsePoster
from tests.conftest import ALLOWED_USER, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.slack_payloads import click, submission

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "COVEO_ACCESS_TOKEN": "t"}

Acks = list[dict[str, Any]]


@pytest.fixture
async def flow(fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    """Opens the process's services, wired as at start-up, against the fakes (extra settings by name)."""
    opened: list[Services] = []

    async def make(**env: str) -> Services:
        settings = load_settings(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": "secret",
                "SLACK_API_URL": fake_slack.api_url,
                "COVEO_ACCESS_TOKEN": GOOD_TOKEN,
                "COVEO_PLATFORM_URL": fake_coveo.url,
                "APIKEYID_ALLOWED_USERS": ALLOWED_USER,
                "APIKEYID_ANSWER_DEADLINE": "5",
            }
            | env
        )
        services = open_services(settings)
        opened.append(services)
        await services.slack_auth.start()  # auth.test, as at start-up: the bot knows its workspace
        return services

    yield make
    for services in opened:
        await services.inflight.wait_idle(5)
        await services.close()


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> Callable[[], list[Any]]:
    caplog.set_level(logging.INFO, logger="apikeyid.audit")
    return lambda: [r for r in caplog.records if r.name == "apikeyid.audit"]


def recorder() -> tuple[Acks, Callable[..., Any]]:
    acks: Acks = []

    async def ack(**message: Any) -> None:
        acks.append(message)

    return acks, ack


def command(text: str, response_url: str, user_id: str = ALLOWED_USER) -> Interaction:
    return Interaction.from_command(
        {
            "user_id": user_id,
            "team_id": "T0001",
            "channel_id": "C0SUPPORT",
            "text": text,
            "response_url": response_url,
        }
    )


async def press(services: Services, event: Event, action: str, value: str, **where: Any) -> None:
    """A button of an answer clicked, as the actions listener hands it over (acked already)."""
    await clicked(services, Interaction.from_payload(click(action, value, **where)), event)


def new_view_id() -> str:
    """A modal id of the test's own: the fake Slack (and its record of views) is shared."""
    return f"V0{uuid.uuid4().hex[:10].upper()}"


def with_key(fake_coveo: FakeCoveo, name: str = "Push source key") -> tuple[str, dict[str, Any]]:
    org, key = new_org(), api_key(name)
    fake_coveo.add_org(org, [key])
    return org, key


# The slash command


async def test_a_command_ready_in_time_is_answered_in_its_ack_and_nowhere_else(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    org, key = with_key(fake_coveo)
    response_url = fake_slack.new_response_url()
    acks, ack = recorder()
    await serve(services, CommandAck(services, command(f"{org} Push source key", response_url), ack), look_up)
    await services.inflight.wait_idle(5)
    [message] = acks
    assert key["id"] in message_text(message) and message["response_type"] == "ephemeral"
    assert fake_slack.answers_for(response_url) == []
    [line] = audit()
    assert (line.event, line.outcome, line.org, line.key_ids) == ("command", "found", org, [key["id"]])


async def test_a_command_past_its_budget_acks_a_note_then_posts_the_one_answer(
    flow: Callable[..., Any],
    fake_coveo: FakeCoveo,
    fake_slack: FakeSlack,
    audit: Callable[[], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = await flow(APIKEYID_INLINE_BUDGET="0")
    org, key = with_key(fake_coveo)
    monkeypatch.setattr(fake_coveo, "latency", 0.2)  # restored after the test: the fake is shared
    response_url = fake_slack.new_response_url()
    acks, ack = recorder()
    await serve(services, CommandAck(services, command(f"{org} Push source key", response_url), ack), look_up)
    [note] = acks  # the listener got its ack before the answer was ready
    assert message_text(note).startswith("Looking up") and key["id"] not in message_text(note)
    assert audit() == []  # the line is written once, with the final answer
    await services.inflight.wait_idle(5)
    [final] = fake_slack.answers_for(response_url)
    assert key["id"] in message_text(final)
    [line] = audit()
    assert line.outcome == "found"


async def test_help_and_a_bad_org_are_answered_in_the_ack_without_asking_coveo(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    asked_before = len(fake_coveo.requests)
    for text, outcome in (("help", "help"), ("Not-An-Org! key", "invalid")):
        acks, ack = recorder()
        await serve(
            services, CommandAck(services, command(text, fake_slack.new_response_url()), ack), look_up
        )
        assert len(acks) == 1 and message_text(acks[0])
        assert audit()[-1].outcome == outcome
    assert len(fake_coveo.requests) == asked_before


async def test_a_person_not_allowed_gets_one_refusal_on_every_surface(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    asked_before = len(fake_coveo.requests)
    org, key = with_key(fake_coveo)
    acks, ack = recorder()
    await serve(services, CommandAck(services, command(f"{org} k", "", user_id="U0OUTSIDER"), ack), look_up)
    modal_acks, modal_ack = recorder()
    who = Interaction.from_payload(submission(org, "k", user_id="U0OUTSIDER"))
    await serve(services, ModalSubmission(services, who, modal_ack), look_up)
    response_url = fake_slack.new_response_url()
    value = PageRef(org, "", None, 1).encode()
    assert value is not None
    await press(
        services, Event.PAGED, "apikeyid_page_next", value, user_id="U0OUTSIDER", response_url=response_url
    )
    await services.inflight.wait_idle(5)
    assert len(acks) == 1 and "not" in message_text(acks[0]).lower()
    [modal] = modal_acks
    assert modal["response_action"] == "update" and key["id"] not in str(modal)
    [refusal] = fake_slack.answers_for(response_url)
    assert refusal["replace_original"] is False  # the page stays; the refusal follows it
    assert [(line.event, line.outcome) for line in audit()] == [
        ("command", "denied"),
        ("modal", "denied"),
        ("paged", "denied"),
    ]
    assert len(fake_coveo.requests) == asked_before


# The lookup modal


async def test_a_modal_submission_ready_in_time_becomes_the_answer(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    org, key = with_key(fake_coveo)
    acks, ack = recorder()
    view = new_view_id()
    who = Interaction.from_payload(submission(org, "Push source key", user_id=ALLOWED_USER, view_id=view))
    await serve(services, ModalSubmission(services, who, ack), look_up)
    await services.inflight.wait_idle(5)
    [answered] = acks
    assert answered["response_action"] == "update" and key["id"] in str(answered["view"])
    assert not [v for v in fake_slack.views if v[0] == "views.update" and v[1].get("view_id") == view]
    assert [(line.event, line.outcome) for line in audit()] == [("modal", "found")]


async def test_a_modal_with_a_bad_org_shows_the_problem_under_its_input(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    asked_before = len(fake_coveo.requests)
    acks, ack = recorder()
    who = Interaction.from_payload(submission("not an org!", "k", user_id=ALLOWED_USER))
    await serve(services, ModalSubmission(services, who, ack), look_up)
    [errors] = acks
    assert errors["response_action"] == "errors" and "org" in errors["errors"]
    assert [line.outcome for line in audit()] == ["invalid"] and len(fake_coveo.requests) == asked_before


async def test_a_modal_past_its_budget_shows_looking_up_then_is_updated_with_the_answer(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow(APIKEYID_INLINE_BUDGET="0")
    org, key = with_key(fake_coveo)
    acks, ack = recorder()
    slow_view = new_view_id()  # the fake Slack is shared: an id of this test's own
    who = Interaction.from_payload(
        submission(org, "Push source key", user_id=ALLOWED_USER, view_id=slow_view)
    )
    await serve(services, ModalSubmission(services, who, ack), look_up)
    [working] = acks
    assert "Looking up" in str(working["view"]) and key["id"] not in str(working["view"])
    await services.inflight.wait_idle(5)
    [update] = [v for v in fake_slack.views_of("views.update") if v["view_id"] == slow_view]
    assert key["id"] in str(update["view"])
    assert [line.outcome for line in audit()] == ["found"]


# Buttons of an answer


async def test_next_replaces_the_clicked_page_in_a_message_and_updates_a_modal(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    org = new_org()
    fake_coveo.add_org(org, [api_key(f"key {n:03}") for n in range(150)])
    value = PageRef(org, "", None, 1).encode()
    assert value is not None
    response_url, paged_view = fake_slack.new_response_url(), new_view_id()
    await press(
        services, Event.PAGED, "apikeyid_page_next", value, user_id=ALLOWED_USER, response_url=response_url
    )
    await press(services, Event.PAGED, "apikeyid_page_next", value, user_id=ALLOWED_USER, view_id=paged_view)
    await services.inflight.wait_idle(5)
    [page] = fake_slack.answers_for(response_url)
    assert page["replace_original"] is True and "key 149" in message_text(page)
    [update] = [v for v in fake_slack.views_of("views.update") if v["view_id"] == paged_view]
    assert "key 149" in str(update["view"])
    assert [(line.event, line.outcome, line.page) for line in audit()] == [("paged", "paged", 1)] * 2


async def test_share_posts_the_public_copy_then_confirms_and_dismiss_deletes(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    org, key = with_key(fake_coveo)
    value = KeyRef(org, "", key["id"]).encode()
    assert value is not None
    shared_url, dismissed_url = fake_slack.new_response_url(), fake_slack.new_response_url()
    await press(
        services, Event.SHARED, "apikeyid_share", value, user_id=ALLOWED_USER, response_url=shared_url
    )
    await press(
        services, Event.DISMISSED, "apikeyid_dismiss", "", user_id=ALLOWED_USER, response_url=dismissed_url
    )
    await services.inflight.wait_idle(5)
    public, confirmation = fake_slack.wait_for_answers(shared_url, count=2, timeout=1)
    assert public["response_type"] == "in_channel" and key["id"] in message_text(public)
    assert confirmation["replace_original"] is True
    assert fake_slack.answers_for(dismissed_url) == [{"delete_original": True}]
    assert sorted((line.event, line.outcome) for line in audit()) == [
        ("dismissed", "dismissed"),
        ("shared", "shared"),
    ]


async def test_a_tampered_button_gets_a_notice_and_one_audit_line(
    flow: Callable[..., Any], fake_coveo: FakeCoveo, fake_slack: FakeSlack, audit: Callable[[], list[Any]]
) -> None:
    services = await flow()
    asked_before = len(fake_coveo.requests)
    for action, event in (("apikeyid_share", Event.SHARED), ("apikeyid_page_next", Event.PAGED)):
        response_url = fake_slack.new_response_url()
        who = Interaction.from_payload(
            click(action, '{"o": "../etc"}', user_id=ALLOWED_USER, response_url=response_url)
        )
        await clicked(services, who, event)
        await services.inflight.wait_idle(5)
        [notice] = fake_slack.answers_for(response_url)
        assert "not valid" in message_text(notice) and notice["replace_original"] is False
    assert [line.outcome for line in audit()] == ["tampered", "tampered"]
    assert len(fake_coveo.requests) == asked_before


# Promises the end-to-end tests cannot reach in reasonable time


class HangingDirectory:
    clients: ClassVar[dict[str, Any]] = {"us": None}

    def __init__(self) -> None:
        self.asked = asyncio.Event()  # set once Coveo is (never) answering

    def cached(self, org: str, region: str | None = None) -> bool:
        return False

    async def locate(self, org: str, **kwargs: Any) -> Any:
        self.asked.set()
        await asyncio.sleep(3600)


class CachedButSlowDirectory(HangingDirectory):
    """Says the org is cached, then needs Coveo anyway (a name not in the cached list)."""

    def cached(self, org: str, region: str | None = None) -> bool:
        return True


class Everyone:
    async def check(self, who: Any, deadline: float | None = None) -> None:
        return None

    async def closed_regions(self, user_id: str, deadline: float) -> frozenset[str]:
        return frozenset()


def hanging_services(directory: HangingDirectory, **env: str) -> Any:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", **env})
    return SimpleNamespace(
        settings=settings,
        directory=directory,
        inflight=InFlight(),
        audit_channel=None,
        limiter=RateLimiter(100),
        access=Everyone(),
        accepting=True,
        metrics=Metrics(),
        poster=None,
    )


async def test_a_command_cancelled_at_shutdown_still_leaves_its_audit_line(
    audit: Callable[[], list[Any]],
) -> None:
    directory = HangingDirectory()
    services = hanging_services(directory, APIKEYID_INLINE_BUDGET="2")
    _, ack = recorder()
    surface = CommandAck(services, command("myorg k", ""), ack)
    task = asyncio.create_task(answer(services, surface, look_up))
    await asyncio.wait_for(directory.asked.wait(), 2)  # inside the inline budget, waiting for Coveo
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [line] = audit()
    assert line.outcome == "cancelled" and line.user_id == ALLOWED_USER and line.org == "myorg"


async def test_the_inline_wait_never_runs_past_slacks_deadline() -> None:
    services = hanging_services(CachedButSlowDirectory())
    acks, ack = recorder()
    who = Interaction.from_command({"user_id": "U01", "text": "myorg k"}, received_at=time.monotonic() - 2.3)
    began = time.monotonic()
    surface = CommandAck(services, who, ack)
    task = asyncio.create_task(answer(services, surface, look_up))
    await asyncio.wait_for(surface.listener_free(), 2)
    task.cancel()
    # A slow access check used 2.3 s already: the ack must leave by 2.5 s, not wait 1 s more.
    assert acks and message_text(acks[0]).startswith("Looking up") and time.monotonic() - began < 0.4


async def test_a_command_cancelled_in_its_inline_wait_cancels_its_lookup() -> None:
    directory = HangingDirectory()
    services = hanging_services(directory, APIKEYID_INLINE_BUDGET="2")
    _, ack = recorder()
    waiting = asyncio.create_task(
        answer(services, CommandAck(services, command("myorg k", ""), ack), look_up)
    )
    await asyncio.wait_for(directory.asked.wait(), 2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)
    lookups = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "run_lookup"]  # type: ignore[union-attr]
    assert all(t.cancelled() or t.cancelling() for t in lookups)
    assert not [t for t in lookups if not t.done()]


def test_shutdown_waits_for_the_slowest_answer_and_its_posting() -> None:
    settings = load_settings({**BASE, "APIKEYID_ALLOW_EVERYONE": "yes", "APIKEYID_ANSWER_DEADLINE": "20"})
    # The answer may come at the deadline, and its post may take every attempt and pause.
    assert drain_grace(settings) >= 20 + ResponsePoster.WORST_CASE
    assert ResponsePoster.WORST_CASE >= 3 * 5


# The ack and the listener


def render_fails_for_found(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    """A bug in rendering one kind of answer (a found key), in `module`'s `render`."""
    real = module.render

    def render(outcome: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(outcome, Found):
            raise RuntimeError("a bug in rendering a key")
        return real(outcome, *args, **kwargs)

    monkeypatch.setattr(module, "render", render)


async def test_an_answer_that_fails_to_render_leaves_the_ack_for_the_error(
    flow: Callable[..., Any],
    fake_coveo: FakeCoveo,
    fake_slack: FakeSlack,
    audit: Callable[[], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ack is handed its payload only once rendered: a bug in rendering still gets the person
    one answer, the error with its reference, in the ack (not Slack's own "failed" and a second
    message at response_url)."""
    import bot.flow.surfaces
    import bot.replies.surfaces

    render_fails_for_found(monkeypatch, bot.flow.surfaces)
    render_fails_for_found(monkeypatch, bot.replies.surfaces)
    services = await flow()
    org, _ = with_key(fake_coveo)
    response_url = fake_slack.new_response_url()
    acks, ack = recorder()
    await serve(services, CommandAck(services, command(f"{org} Push source key", response_url), ack), look_up)
    modal_acks, modal_ack = recorder()
    who = Interaction.from_payload(
        submission(org, "Push source key", user_id=ALLOWED_USER, view_id=new_view_id())
    )
    await serve(services, ModalSubmission(services, who, modal_ack), look_up)
    await services.inflight.wait_idle(5)
    [error] = acks
    assert "reference" in message_text(error) and fake_slack.answers_for(response_url) == []
    [modal_error] = modal_acks
    assert modal_error["response_action"] == "update" and "reference" in str(modal_error["view"])
    assert [line.outcome for line in audit()] == ["error", "error"]


async def test_a_listener_cancelled_before_its_ack_takes_its_work_with_it(
    flow: Callable[..., Any],
    fake_coveo: FakeCoveo,
    fake_slack: FakeSlack,
    audit: Callable[[], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server stopped (its handler was cancelled) while the answer was on its way: nobody will
    get that ack, so the work stops and the audit line says so, instead of claiming an answer."""
    services = await flow(APIKEYID_INLINE_BUDGET="2")
    org, _ = with_key(fake_coveo)
    monkeypatch.setattr(fake_coveo, "latency", 0.3)  # restored after the test: the fake is shared
    response_url = fake_slack.new_response_url()
    acks, ack = recorder()
    listener = asyncio.create_task(
        serve(services, CommandAck(services, command(f"{org} Push source key", response_url), ack), look_up)
    )
    await asyncio.sleep(0.05)
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listener
    await services.inflight.wait_idle(5)
    [line] = audit()
    assert line.outcome == "cancelled" and acks == [] and fake_slack.answers_for(response_url) == []
