"""Issue 16 (points 1, 2, 7, 8 and 9): nothing one region, one person or one slow party can
break, against the real bot process and the fakes on loopback."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotProcess, audit_lines, is_interim, message_text, new_org
from tests.e2e.test_regions import eventually, region_env
from tests.e2e.test_setup_and_lookups import run_cli
from tests.fakes.coveo import EU_TOKEN, FakeCoveo, Fault, api_key
from tests.fakes.slack import FakeSlack
from tests.slack_payloads import home_opened, submission

BOM = "\ufeff"
# Deeper than Python's recursion limit (1,000): json.loads raises RecursionError, not ValueError.
NESTED = "[" * 100_000 + "]" * 100_000


class AfterOther(deque[Fault]):
    """A fault queue holding no fault: asked whether it has one, it first waits (on its own fake's
    server thread) until `other` has received `count` requests for the org, then `pause` more
    seconds. So this region answers only after the other one has failed its way."""

    def __init__(self, other: FakeCoveo, org: str, count: int = 1, pause: float = 0.5) -> None:
        super().__init__()
        self.other, self.org, self.count, self.pause = other, org, count, pause

    def __bool__(self) -> bool:
        assert eventually(lambda: self.other.calls(self.org) >= self.count, timeout=10)
        time.sleep(self.pause)
        return False


@pytest.fixture
def eu_token_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "eu-token"
    path.write_text("coveo-eu-token-rotated-away-0000\n")  # EU rejects it: a re-read follows
    yield path


# 1. One region's odd failure is that region's failure


@pytest.fixture
def own_eu() -> Iterator[FakeCoveo]:
    """An EU region of this test's own: the stale token it sees must not show in the shared one's
    request log, where other tests check that EU only ever gets EU_TOKEN."""
    fake = FakeCoveo(token=EU_TOKEN)
    fake.server.start()
    yield fake
    fake.server.stop()


def test_a_us_org_is_answered_while_the_eu_token_file_has_a_bom(
    fake_coveo: FakeCoveo, own_eu: FakeCoveo, fake_slack: FakeSlack, eu_token_file: Path
) -> None:
    fake_coveo_eu = own_eu
    env = region_env(fake_coveo, fake_coveo_eu) | {
        "COVEO_ACCESS_TOKEN_EU": "",
        "COVEO_ACCESS_TOKEN_EU_FILE": str(eu_token_file),
    }
    bot = BotProcess(fake_coveo, fake_slack, env).start()
    try:
        # Rotated by an editor that writes a byte-order mark: the re-read after EU's 401 finds it.
        eu_token_file.write_text(BOM + EU_TOKEN + "\n", encoding="utf-8")
        org = new_org()
        key = api_key("Answered anyway")
        fake_coveo.add_org(org, [key])
        fake_coveo.faults[org] = AfterOther(fake_coveo_eu, org)  # US answers after EU failed
        text = message_text(bot.ask(f"{org} Answered anyway"))
        assert key["id"] in text and "(US region)" in text, text
        assert "went wrong" not in text
        assert "COVEO_ACCESS_TOKEN_EU_FILE" in bot.logs()  # the unusable token is named
        # The BOM token never went out: EU saw only the old token.
        assert {r["authorization"] for r in fake_coveo_eu.requests if org in r["path"]} == {
            "Bearer coveo-eu-token-rotated-away-0000"
        }
    finally:
        bot.stop()


@pytest.mark.parametrize("form", ["file", "variable"])
def test_start_up_with_a_bom_token_names_the_variable(
    fake_coveo: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path, form: str
) -> None:
    env = BotProcess(fake_coveo, fake_slack).env
    if form == "file":
        (tmp_path / "token").write_text(BOM + "coveo-token-with-a-bom\n", encoding="utf-8")
        env |= {"COVEO_ACCESS_TOKEN": "", "COVEO_ACCESS_TOKEN_FILE": str(tmp_path / "token")}
        variable = "COVEO_ACCESS_TOKEN_FILE"
    else:
        env |= {"COVEO_ACCESS_TOKEN": "coveo-token-with-a-\u200bzero-width-space"}
        variable = "COVEO_ACCESS_TOKEN"
    for args in ([], ["check"], ["lookup", "someorg", "key"]):
        done = run_cli(args, env, str(tmp_path))
        output = done.stdout + done.stderr
        assert done.returncode == 2, (args, output)
        assert f"{variable} holds a character that cannot be sent in an HTTP header" in output
        assert "Traceback" not in output


def test_a_nested_json_answer_from_one_region_is_that_regions_failure(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = region_env(fake_coveo, fake_coveo_eu) | {"APIKEYID_CACHE_TTL": "0"}
    bot = BotProcess(fake_coveo, fake_slack, env).start()
    try:
        org = new_org()
        key = api_key("Beside a nested answer")
        fake_coveo.add_org(org, [key])
        fake_coveo_eu.faults[org].append(Fault(status=200, body=NESTED))
        fake_coveo.faults[org] = AfterOther(fake_coveo_eu, org)
        text = message_text(bot.ask(f"{org} Beside a nested answer"))
        assert key["id"] in text and "(US region)" in text, text
        # EU alone, asked for an org, answers nested JSON: said as EU's failure, not "went wrong".
        only_eu = new_org()
        fake_coveo_eu.faults[only_eu].append(Fault(status=200, body=NESTED))
        link = f"https://platform-eu.cloud.coveo.com/admin/#/{only_eu}/organization/api-access"
        text = message_text(bot.ask(f"{link} k"))
        [line] = audit_lines(bot, 1, org=only_eu)
        assert line["outcome"] == "error" and line["error"] != "internal", line
        assert "went wrong on my side" not in text.lower()
    finally:
        bot.stop()
    # The terminal: no traceback, and exit 3 (a Coveo error), never 1 ("not found").
    cli_env = {k: v for k, v in env.items() if k.startswith(("COVEO_", "APIKEYID_"))}
    org = new_org()
    fake_coveo_eu.faults[org].append(Fault(status=200, body=NESTED))
    done = run_cli(["lookup", "--region", "eu", org, "k"], cli_env, str(tmp_path))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# 2. A slow Slack: the ack stays inside 3 s, the answer goes to response_url


@dataclass
class SlowSlack:
    slack: FakeSlack
    group: str
    person: str

    def slow_down(self) -> None:
        self.slack.usergroups_fail = False
        self.slack.usergroups_delay = 1.8
        self.slack.users_info_delay = 1.8


@pytest.fixture
def slow_slack(fake_slack: FakeSlack) -> Iterator[SlowSlack]:
    """A group whose list could not be read at start-up (so it is stale when a command comes) and
    whose every read, like users.info, then takes 1.8 s: the admission alone takes about 3.6 s."""
    group = "S0" + uuid.uuid4().hex[:8].upper()
    person = "U0SLOW" + uuid.uuid4().hex[:6].upper()
    fake_slack.users[person] = fake_slack.users["U0MEMBER"] | {"id": person}
    fake_slack.usergroups[group] = [person]
    fake_slack.usergroups_fail = True
    yield SlowSlack(fake_slack, group, person)
    fake_slack.usergroups_fail = False
    fake_slack.usergroups_delay = 0.0
    fake_slack.users_info_delay = 0.0


def test_a_slow_users_info_gets_a_timely_ack_and_the_answer_at_response_url(
    start_bot, fake_coveo: FakeCoveo, slow_slack: SlowSlack
) -> None:
    bot = start_bot(APIKEYID_ALLOWED_USERS="", APIKEYID_ALLOWED_USERGROUPS=slow_slack.group)
    slow_slack.slow_down()
    org = new_org()
    key = api_key("Slow Slack key")
    fake_coveo.add_org(org, [key])
    began = time.monotonic()
    response, response_url = bot.send(f"{org} Slow Slack key", user=slow_slack.person)
    acked_after = time.monotonic() - began
    assert acked_after < 3.0, acked_after  # Slack would have dropped a later ack
    assert response.status_code == 200 and is_interim(response.json()), response.text
    answers = slow_slack.slack.wait_for_answers(response_url, timeout=15)
    assert len(answers) == 1 and key["id"] in message_text(answers[0]), answers
    [line] = audit_lines(bot, 1, org=org)
    assert line["outcome"] == "found"


def test_a_slow_users_info_updates_the_modal_after_a_timely_ack(
    start_bot, fake_coveo: FakeCoveo, slow_slack: SlowSlack
) -> None:
    bot = start_bot(APIKEYID_ALLOWED_USERS="", APIKEYID_ALLOWED_USERGROUPS=slow_slack.group)
    slow_slack.slow_down()
    org = new_org()
    key = api_key("Slow modal key")
    fake_coveo.add_org(org, [key])
    view_id = "V0" + uuid.uuid4().hex[:8].upper()
    began = time.monotonic()
    response = bot.interact(submission(org, "Slow modal key", user_id=slow_slack.person, view_id=view_id))
    assert time.monotonic() - began < 3.0
    assert response.status_code == 200 and "Looking up" in json.dumps(response.json())

    def updated() -> list[dict[str, Any]]:
        return [
            d for m, d in list(slow_slack.slack.views) if m == "views.update" and d.get("view_id") == view_id
        ]

    assert eventually(lambda: bool(updated()), timeout=15)
    assert key["id"] in json.dumps(updated()[-1]["view"])


# 7. Slow, unauthenticated bodies: a deadline for the body, a bounded stop


def open_trickle(bot: BotProcess, declared: int = 4096) -> socket.socket:
    """A connection that sends a POST's headers and a first byte of its body, then nothing more."""
    conn = socket.create_connection(("127.0.0.1", bot.port), timeout=20)
    conn.sendall(
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {declared}\r\n\r\n".encode()
        + b"t"
    )
    return conn


def test_a_trickling_body_gets_408_within_the_body_deadline(start_bot) -> None:
    bot = start_bot()
    conn = open_trickle(bot)
    began = time.monotonic()
    try:
        for _ in range(3):  # one byte a second: never the whole body within the deadline
            time.sleep(1)
            conn.sendall(b"x")
        answer = conn.recv(4096)
        took = time.monotonic() - began
    finally:
        conn.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert took < 8, took
    assert '"reason": "body too slow"' in bot.logs()


def test_sigterm_with_a_stalled_body_stops_within_the_documented_bound(start_bot) -> None:
    bot = start_bot()
    conns = [open_trickle(bot) for _ in range(3)]
    try:
        time.sleep(0.5)  # the handlers are waiting for the bodies
        # The bound with these settings (no delay, nothing in flight): the connections still open
        # get HANDLER_GRACE (1 s), not aiohttp's 60 s.
        assert bot.stop(within=10) == 0
        assert bot.stop_took is not None and bot.stop_took < 1.0 + 2.0, bot.stop_took
        print(f"stop with three stalled bodies took {bot.stop_took:.2f} s")
    finally:
        for conn in conns:
            conn.close()


def send_raw(bot: BotProcess, *parts: bytes, half_close: bool = False) -> bytes:
    """Send `parts` (a pause between them, so each reaches the server as its own read), then read
    the status line and headers of the answer."""
    conn = socket.create_connection(("127.0.0.1", bot.port), timeout=10)
    answer = b""
    try:
        for n, part in enumerate(parts):
            if n:
                time.sleep(0.3)
            conn.sendall(part)
        if half_close:  # the client is done sending: the body is cut off where it stands
            conn.shutdown(socket.SHUT_WR)
        while b"\r\n\r\n" not in answer and (chunk := conn.recv(4096)):
            answer += chunk
    finally:
        conn.close()
    return answer


FORM_POST = (
    b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
)
GZIP = gzip.compress(b"command=%2Fapikeyid&text=help")


@pytest.mark.parametrize("body", [b"notgzip!!!", GZIP], ids=["not-gzip", "gzip"])
def test_a_compressed_body_is_refused_unread_with_415_and_no_traceback(start_bot, body: bytes) -> None:
    bot = start_bot()
    answer = send_raw(
        bot,
        FORM_POST + b"Content-Encoding: gzip\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
    )
    assert answer.startswith(b"HTTP/1.1 415"), answer[:100]  # Slack compresses no request body
    # And an identity encoding is no compression: the request goes on to the signature check.
    assert send_raw(bot, FORM_POST + b"Content-Encoding: identity\r\nContent-Length: 1\r\n\r\nx").startswith(
        b"HTTP/1.1 401"
    )
    time.sleep(0.3)
    logs = bot.logs()
    assert '"reason": "compressed body (Slack sends none)"' in logs
    assert "Traceback" not in logs and " 500" not in logs


@pytest.mark.parametrize(
    ("parts", "half_close", "status"),
    [
        # aiohttp's parser meets the bad chunk size with the headers, and answers 400 itself.
        ((b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n",), False, b"400"),
        # The client stops in the middle of a chunk and hangs up: nobody is left to answer.
        ((b"Transfer-Encoding: chunked\r\n\r\n", b"a\r\nhel"), True, None),
    ],
    ids=["bad-chunk-size", "cut-off-chunk"],
)
def test_a_broken_or_cut_off_chunked_body_gets_400_or_nothing_and_no_traceback(
    start_bot, parts: tuple[bytes, ...], half_close: bool, status: bytes | None
) -> None:
    bot = start_bot()
    answer = send_raw(bot, FORM_POST + parts[0], *parts[1:], half_close=half_close)
    if status is not None:
        assert answer.split(b" ")[1] == status, answer[:100]
    time.sleep(0.3)
    logs = bot.logs()
    assert '"event": "request_refused"' in logs
    assert "Traceback" not in logs and '"level": "error"' not in logs, logs[-2000:]


# 8. Scope: suggestions can be turned off, a region can require its own user groups


def test_suggestions_off_reveal_no_other_organization(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    org = "suggestoff" + new_org()[3:11]
    fake_coveo.add_org(org, [api_key("k")])
    typo = org[:-1] + ("x" if org[-1] != "x" else "y") + "z"
    bot = start_bot(APIKEYID_SUGGEST_ORGS="false")
    listed_before = sum(r["path"] == "/rest/organizations" for r in list(fake_coveo.requests))
    text = message_text(bot.ask(f"{typo} k"))
    assert "knows no organization" in text, text
    assert "Did you mean" not in text and org not in text and org.upper() not in text
    # The organization list is not even read.
    assert sum(r["path"] == "/rest/organizations" for r in list(fake_coveo.requests)) == listed_before
    # The terminal neither: no suggestion in --json, no organization named by `check`.
    env = {k: v for k, v in bot.env.items() if k != "PORT"}
    done = run_cli(["lookup", "--json", typo, "k"], env, str(tmp_path))
    assert done.returncode == 3 and json.loads(done.stdout)["similar_organizations"] == [], done.stdout
    done = run_cli(["check"], env, str(tmp_path))
    assert "sees" in done.stdout and org not in done.stdout, done.stdout


@pytest.fixture
def hipaa_group(fake_slack: FakeSlack) -> Iterator[str]:
    """A user group holding U0MEMBER only: the HIPAA-cleared team."""
    group = "S0HIPAA" + uuid.uuid4().hex[:6].upper()
    fake_slack.usergroups[group] = ["U0MEMBER"]
    yield group
    del fake_slack.usergroups[group]


def test_a_region_with_its_own_group_is_not_asked_by_others(
    fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo, fake_slack: FakeSlack, hipaa_group: str
) -> None:
    # EU plays the restricted region here (the fakes are per token, not per region name).
    env = region_env(fake_coveo, fake_coveo_eu) | {
        "APIKEYID_CACHE_TTL": "0",
        "APIKEYID_ALLOWED_USERS": "U0ALLOWED,U0MEMBER",
        "APIKEYID_ALLOWED_USERGROUPS_EU": hipaa_group,
    }
    bot = BotProcess(fake_coveo, fake_slack, env).start()
    try:
        org = new_org()
        key = api_key("Restricted key")
        fake_coveo_eu.add_org(org, [key])
        # Not in the group: EU is never asked, and the answer says so plainly.
        text = message_text(bot.ask(f"{org} Restricted key", user="U0ALLOWED"))
        assert key["id"] not in text
        assert "You may not ask the *EU* region" in text, text
        assert fake_coveo_eu.calls(org) == 0 and fake_coveo.calls(org) == 1
        [line] = audit_lines(bot, 1, org=org)
        assert line["regions_asked"] == {"us": "organization_not_found", "eu": "region_closed"}, line
        # A pasted EU link: not asked either.
        link = f"https://platform-eu.cloud.coveo.com/admin/#/{org}/organization/api-access"
        assert "You may not ask the *EU* region" in message_text(bot.ask(f"{link} k", user="U0ALLOWED"))
        assert fake_coveo_eu.calls(org) == 0
        # A member of the group finds the key.
        text = message_text(bot.ask(f"{org} Restricted key", user="U0MEMBER"))
        assert key["id"] in text and "(EU region)" in text
        # The Home tab shows each person where they may ask.
        for user, expected in (
            ("U0ALLOWED", "Regions you may ask: US. Not EU"),
            ("U0MEMBER", "Regions you may ask: US, EU."),
        ):
            assert bot.event(home_opened(user)).status_code == 200
            assert eventually(
                lambda user=user, expected=expected: any(
                    d.get("user_id") == user and expected in json.dumps(d.get("view"), ensure_ascii=False)
                    for m, d in list(fake_slack.views)
                    if m == "views.publish"
                ),
                timeout=10,
            ), (user, expected)
    finally:
        bot.stop()


# 2 (end). A refused response_url: the answer still reaches the person


def test_a_refused_response_url_answer_comes_as_an_ephemeral_message(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    foreign = FakeSlack()
    foreign.server.start()
    try:
        bot = start_bot(APIKEYID_INLINE_BUDGET="0")  # the answer misses the ack
        org = new_org()
        key = api_key("Ephemeral key")
        fake_coveo.add_org(org, [key])
        channel = "C0" + uuid.uuid4().hex[:8].upper()
        response, _ = bot.send(
            f"{org} Ephemeral key", response_url=foreign.new_response_url(), channel_id=channel
        )
        assert is_interim(response.json())
        assert eventually(lambda: any(e.get("channel") == channel for e in list(fake_slack.ephemerals)), 10)
        [sent] = [e for e in list(fake_slack.ephemerals) if e.get("channel") == channel]
        assert sent["user"] == "U0ALLOWED" and key["id"] in str(sent.get("text")) + json.dumps(
            sent.get("blocks")
        )
        assert foreign.answers == {}
        [line] = audit_lines(bot, 1, org=org)
        assert line["delivery"] == "failed" and line["fallback"] == "ephemeral"
    finally:
        foreign.server.stop()
