"""Issue 16 (points 3 to 6): nothing one person, one proxy or one forged URL can break, against
the real bot process and the fakes on loopback."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import audit_lines, is_interim, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.proxy import FakeProxy
from tests.fakes.slack import FakeSlack
from tests.slack_payloads import click, home_opened


def new_channel() -> str:
    """A channel id of its own per test, so that the shared fake Slack's posts can be counted."""
    return "C0" + uuid.uuid4().hex[:10].upper()


def posts_to(fake_slack: FakeSlack, channel: str) -> list[dict[str, object]]:
    return [p for p in list(fake_slack.posted) if p.get("channel") == channel]


def calls_to(fake_slack: FakeSlack, channel: str) -> list[tuple[float, int]]:
    """(time, status) of every chat.postMessage call to `channel`, refused ones included."""
    return [(at, status) for at, where, status in list(fake_slack.post_message_calls) if where == channel]


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


@pytest.fixture
def slack_pace(fake_slack: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack enforcing chat.postMessage's one message per second per channel."""
    fake_slack.post_message_interval = 1.0
    fake_slack.post_message_retry_after = "1"
    yield fake_slack
    fake_slack.post_message_interval = None
    fake_slack.post_message_retry_after = "1"


@pytest.fixture
def proxy() -> Iterator[FakeProxy]:
    running = FakeProxy().start()
    yield running
    running.stop()


@pytest.fixture
def foreign() -> Iterator[FakeSlack]:
    """Somebody else's server: a response_url pointing here must never get an answer."""
    other = FakeSlack()
    other.server.start()
    yield other
    other.server.stop()


# 3. The audit channel: summarised refusals, Slack's pace, no real line lost


def test_ten_limited_commands_cost_the_audit_channel_one_summary_and_a_real_line_still_arrives(
    start_bot, fake_coveo: FakeCoveo, slack_pace: FakeSlack
) -> None:
    channel = new_channel()
    bot = start_bot(
        APIKEYID_AUDIT_CHANNEL=channel,
        APIKEYID_RATE_LIMIT="2",
        APIKEYID_ALLOWED_USERS="U0ALLOWED,U0MEMBER",
    )
    for _ in range(12):  # two answered, then ten limited
        bot.ask("help")
    assert len(audit_lines(bot, 12, user_id="U0ALLOWED")) == 12
    org = new_org()
    key = api_key("Real audited key")
    fake_coveo.add_org(org, [key])
    assert key["id"] in message_text(bot.ask(f"{org} Real audited key", user="U0MEMBER"))

    assert wait_until(lambda: any(key["id"] in str(p.get("text")) for p in posts_to(slack_pace, channel)))
    assert wait_until(lambda: len(posts_to(slack_pace, channel)) >= 2)
    time.sleep(2.5)  # anything else the bot had queued would be out by now (a 429 included)
    texts = [str(p.get("text")) for p in posts_to(slack_pace, channel)]
    # The first help line and the lookup: not two help lines and ten "limited" lines.
    assert len(texts) == 2, texts
    assert sum("limited" in t for t in texts) == 0
    # The other help and the ten limits are one summary line, said at the latest when the bot stops.
    assert bot.stop() == 0
    summaries = [str(p.get("text")) for p in posts_to(slack_pace, channel)][2:]
    assert len(summaries) == 1 and "11 more (summarised)" in summaries[0], summaries
    assert "limited ×10" in summaries[0] and "help ×1" in summaries[0], summaries
    assert "U0ALLOWED" in summaries[0]


def test_the_audit_channel_waits_out_retry_after_and_loses_no_line(
    start_bot, fake_coveo: FakeCoveo, slack_pace: FakeSlack
) -> None:
    slack_pace.post_message_interval = 2.5  # Slack is stricter than one a second today
    slack_pace.post_message_retry_after = "3"
    channel = new_channel()
    bot = start_bot(APIKEYID_AUDIT_CHANNEL=channel)
    org = new_org()
    keys = [api_key(f"Paced key {n}") for n in range(3)]
    fake_coveo.add_org(org, keys)
    for key in keys:
        assert key["id"] in message_text(bot.ask(f"{org} {key['displayName']}"))
    assert wait_until(lambda: len(posts_to(slack_pace, channel)) == 3, timeout=20)
    calls = calls_to(slack_pace, channel)
    refused = [n for n, (_, status) in enumerate(calls) if status == 429]
    assert refused, calls  # Slack said 429 at least once, and each time the bot waited out
    for n in refused:  # Retry-After (3 s) before its next call
        assert n + 1 < len(calls) and calls[n + 1][0] - calls[n][0] >= 2.9, calls
    assert all(any(k["id"] in str(p.get("text")) for p in posts_to(slack_pace, channel)) for k in keys)
    assert '"event": "audit_channel_limited"' in bot.logs()


# 4. One outbound policy: the proxy for every client, NO_PROXY honoured, no .netrc


def test_every_outbound_request_goes_through_the_proxy(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, proxy: FakeProxy
) -> None:
    bot = start_bot(
        HTTP_PROXY=proxy.url,
        HTTPS_PROXY=proxy.url,
        NO_PROXY="",  # loopback is proxied like any host unless NO_PROXY names it
        APIKEYID_INLINE_BUDGET="0",  # the answer goes to response_url
        APIKEYID_AUDIT_CHANNEL=new_channel(),
    )
    org = new_org()
    key = api_key("Proxied key")
    fake_coveo.add_org(org, [key])
    response, response_url = bot.send(f"{org} Proxied key")
    assert is_interim(response.json())
    assert key["id"] in message_text(bot.final_answer(response, response_url))
    response_id = response_url.rsplit("/", 1)[-1]
    assert wait_until(lambda: any("chat.postMessage" in r.target for r in proxy.seen()))
    targets = [(r.method, r.target) for r in proxy.seen()]
    assert ("GET", f"{fake_coveo.url}/rest/organizations/{org}/apikeys") in [
        (m, t.split("?")[0]) for m, t in targets
    ]
    assert ("POST", f"{fake_slack.api_url}auth.test") in targets
    assert ("POST", f"{fake_slack.api_url}chat.postMessage") in targets
    assert ("POST", f"{fake_slack.server.url}/response/{response_id}") in targets


def test_no_proxy_is_honoured_by_every_client(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, proxy: FakeProxy
) -> None:
    bot = start_bot(
        HTTP_PROXY=proxy.url,
        HTTPS_PROXY=proxy.url,
        NO_PROXY="127.0.0.1",
        APIKEYID_INLINE_BUDGET="0",
        APIKEYID_AUDIT_CHANNEL=new_channel(),
    )
    org = new_org()
    key = api_key("Direct key")
    fake_coveo.add_org(org, [key])
    response, response_url = bot.send(f"{org} Direct key")
    assert key["id"] in message_text(bot.final_answer(response, response_url))
    time.sleep(1.5)  # the audit channel's line too
    assert proxy.seen() == []


def test_a_netrc_default_entry_changes_nothing(start_bot, fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("default login intruder password netrc-secret-value\n")
    (tmp_path / ".netrc").chmod(0o600)
    bot = start_bot(HOME=str(tmp_path), APIKEYID_INLINE_BUDGET="0")
    org = new_org()
    key = api_key("Netrc key")
    fake_coveo.add_org(org, [key])
    response, response_url = bot.send(f"{org} Netrc key")
    assert key["id"] in message_text(bot.final_answer(response, response_url))
    asked = [r for r in list(fake_coveo.requests) if org in r["path"]]
    assert asked and {r["authorization"] for r in asked} == {f"Bearer {GOOD_TOKEN}"}


# 5. response_url: Slack's hosts only, no redirect followed


def test_a_foreign_response_url_gets_no_post(start_bot, fake_coveo: FakeCoveo, foreign: FakeSlack) -> None:
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")
    org = new_org()
    key = api_key("Foreign key")
    fake_coveo.add_org(org, [key])
    stolen = foreign.new_response_url()
    response, _ = bot.send(f"{org} Foreign key", response_url=stolen)
    assert is_interim(response.json())
    [line] = audit_lines(bot, 1, org=org)
    assert line["delivery"] == "failed"
    time.sleep(0.3)
    assert foreign.answers_for(stolen) == []
    logs = bot.logs()
    assert '"event": "response_url_refused"' in logs and stolen.rsplit("/", 1)[-1] not in logs
    # A click carries its own response_url: Dismiss there posts nothing either.
    bot.interact(click("apikeyid_dismiss", "dismiss", user_id="U0ALLOWED", response_url=stolen))
    audit_lines(bot, 1, event="dismissed", user_id="U0ALLOWED")
    time.sleep(0.3)
    assert foreign.answers_for(stolen) == []
    # Where the answer can come in the ack, the user still gets it.
    cached = start_bot()
    answer = cached.ask(f"{org} Foreign key", response_url=foreign.new_response_url())
    assert key["id"] in message_text(answer)


def test_a_redirect_from_response_url_is_not_followed(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, foreign: FakeSlack
) -> None:
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")
    org = new_org()
    fake_coveo.add_org(org, [api_key("Redirected key")])
    elsewhere = foreign.new_response_url()
    fake_slack.response_redirect = elsewhere
    try:
        response, _ = bot.send(f"{org} Redirected key")
        assert is_interim(response.json())
        [line] = audit_lines(bot, 1, org=org)
    finally:
        fake_slack.response_redirect = None
    assert line["delivery"] == "failed"
    time.sleep(0.3)
    assert foreign.answers_for(elsewhere) == []


# 6. The Home tab goes through the same gate, and is audited


def test_a_flood_of_home_tab_opens_is_limited_and_audited(
    start_bot, fake_slack: FakeSlack, slack_pace: FakeSlack
) -> None:
    user = "U0HOME" + uuid.uuid4().hex[:6].upper()
    channel = new_channel()
    bot = start_bot(APIKEYID_ALLOWED_USERS=user, APIKEYID_RATE_LIMIT="3", APIKEYID_AUDIT_CHANNEL=channel)
    for _ in range(10):
        assert bot.event(home_opened(user)).status_code == 200
    lines = audit_lines(bot, 10, event="home", user_id=user)
    assert sorted(line["outcome"] for line in lines) == ["home"] * 3 + ["limited"] * 7
    time.sleep(1.5)
    published = [
        call
        for name, call in list(fake_slack.views)
        if name == "views.publish" and call.get("user_id") == user
    ]
    assert len(published) == 3
    # The channel hears of the flood once (its first limit); opening the tab shows no key.
    assert [json.dumps(p) for p in posts_to(fake_slack, channel)] and len(posts_to(fake_slack, channel)) == 1
    assert "limited" in str(posts_to(fake_slack, channel)[0].get("text"))
    metrics = bot.client.get(f"{bot.url}/metrics").text
    assert 'apikeyid_commands_total{kind="home",outcome="limited"} 7.0' in metrics
