"""Fast under bursts, calm under faults: end to end against the real bot process."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import BotProcess, is_interim, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, Fault, api_key
from tests.fakes.slack import TAKE_THEN_HANG, FakeSlack


def test_throttled_with_retry_after_then_answered(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    fake_coveo.faults[org].append(Fault(status=429, headers={"Retry-After": "1"}))
    assert key["id"] in message_text(bot.ask(f"{org} k"))
    assert fake_coveo.calls(org) == 2


def test_throttled_past_the_deadline_says_when_to_retry(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=429, headers={"Retry-After": "90"}))
    text = message_text(bot.ask(f"{org} k"))
    assert "throttling" in text and "90 seconds" in text


def test_503_then_200(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    fake_coveo.faults[org].append(Fault(status=503))
    assert key["id"] in message_text(bot.ask(f"{org} k"))


def test_persistent_500_is_not_retried(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].extend([Fault(status=500), Fault(status=500)])
    assert "HTTP 500" in message_text(bot.ask(f"{org} k"))
    assert fake_coveo.calls(org) == 1


def test_a_hang_is_answered_at_the_deadline(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=200, delay=30))
    started = time.monotonic()
    text = message_text(bot.ask(f"{org} k", timeout=20))
    assert "did not answer in time" in text
    assert time.monotonic() - started < 7  # deadline is 5 s in tests


def test_invalid_json_and_html(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=200, body="{not json"))
    assert "could not read" in message_text(bot.ask(f"{org} k"))
    org = new_org()
    fake_coveo.faults[org].append(
        Fault(status=502, body="<html>Bad gateway</html>", content_type="text/html")
    )
    fake_coveo.faults[org].extend(
        Fault(status=502, body="<html/>", content_type="text/html") for _ in range(40)
    )
    assert "unavailable" in message_text(bot.ask(f"{org} k"))
    fake_coveo.faults[org].clear()


def test_connection_refused(start_bot) -> None:
    bot = start_bot(COVEO_PLATFORM_URL="http://127.0.0.1:9", APIKEYID_ANSWER_DEADLINE="2")
    assert "unavailable" in message_text(bot.ask(f"{new_org()} k"))


def test_rotated_token_file_cures_a_401_without_restart(
    start_bot, fake_coveo: FakeCoveo, tmp_path: Path
) -> None:
    token_file = tmp_path / "coveo-token"
    token_file.write_text("expired-token-value")
    bot = start_bot(COVEO_ACCESS_TOKEN="", COVEO_ACCESS_TOKEN_FILE=str(token_file))
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    assert "rotate" in message_text(bot.ask(f"{org} k"))
    token_file.write_text(GOOD_TOKEN)
    assert key["id"] in message_text(bot.ask(f"{org} k"))


def test_concurrent_lookups_share_one_call_and_repeats_cost_none(
    bot: BotProcess, fake_coveo: FakeCoveo
) -> None:
    org = new_org()
    key = api_key("shared")
    fake_coveo.add_org(org, [key])
    fake_coveo.faults[org].append(Fault(status=503, delay=0.5))  # hold the first call so the others pile up
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: bot.ask(f"{org} shared"), range(20)))
    assert all(key["id"] in message_text(a) for a in answers)
    calls = fake_coveo.calls(org)
    assert calls == 2  # the 503 and its retry, shared by all 20
    bot.ask(f"{org} shared")
    assert fake_coveo.calls(org) == calls


def test_a_key_created_after_caching_is_still_found(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("old")])
    bot.ask(f"{org} old")
    new = api_key("brand new")
    fake_coveo.orgs[org].append(new)
    assert new["id"] in message_text(bot.ask(f"{org} brand new"))
    assert fake_coveo.calls(org) == 2


def test_failed_response_posts_are_retried(start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> None:
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")  # every answer is posted after its ack
    org = new_org()
    key = api_key("k")
    fake_coveo.add_org(org, [key])
    fake_slack.response_faults.extend([503, 429])  # Slack says it did not take the post
    assert key["id"] in message_text(bot.ask(f"{org} k"))


def test_a_post_that_may_have_arrived_is_not_sent_again(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    """A timeout or a 500 after the post went out may mean Slack took it: a second post would
    show the user the answer twice."""
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")  # every answer is posted after its ack
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_slack.response_faults.append(TAKE_THEN_HANG)
    response, response_url = bot.send(f"{org} k")
    assert response.status_code == 200
    fake_slack.wait_for_answers(response_url)
    time.sleep(7)  # past the bot's post timeout, when it would have sent again
    assert len(fake_slack.answers_for(response_url)) == 1
    org = new_org()  # not cached: a cached lookup is answered in the ack, with no post to fail
    fake_coveo.add_org(org, [api_key("k")])
    fake_slack.response_faults.append(500)
    response, response_url = bot.send(f"{org} k")
    time.sleep(1.5)  # three times the bot's first pause between attempts
    assert fake_slack.answers_for(response_url) == []
    assert not fake_slack.response_faults  # the 500 was met, and not followed by a second post


def test_a_burst_of_200_commands_each_get_exactly_one_answer(
    bot: BotProcess, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    orgs = [new_org() for _ in range(5)]
    keys = {org: api_key("burst") for org in orgs}
    for org in orgs:
        fake_coveo.add_org(org, [keys[org], api_key("other")])

    def one(i: int) -> tuple[str, dict, str, bool]:
        org = orgs[i % len(orgs)]
        response, response_url = bot.send(f"{org} burst")
        interim = is_interim(response.json())
        return org, bot.final_answer(response, response_url), response_url, interim

    with ThreadPoolExecutor(50) as pool:
        sent = list(pool.map(one, range(200)))
    for org, answer, _, _ in sent:
        assert keys[org]["id"] in message_text(answer)
    time.sleep(0.3)
    # One answer each: an answer in the ack is never followed by a post; an interim ack by one.
    assert all(len(fake_slack.answers_for(url)) == int(interim) for _, _, url, interim in sent)
    assert sum(fake_coveo.calls(org) for org in orgs) == len(orgs)


def test_sigterm_lets_commands_in_flight_finish(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    bot = start_bot(APIKEYID_INLINE_BUDGET="0")  # answers follow their acks
    org = new_org()
    key = api_key("slow")
    fake_coveo.add_org(org, [key])
    fake_coveo.faults[org].append(Fault(status=503, delay=1.0))
    sent: list[tuple[dict, str]] = []

    def send() -> None:
        response, url = bot.send(f"{org} slow")
        assert response.status_code == 200
        sent.append((response.json(), url))

    threads = [threading.Thread(target=send) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 5 and any(is_interim(ack) for ack, _ in sent)
    started = time.monotonic()
    assert bot.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    for ack, url in sent:
        # A thread that came late may find the keys cached and get its answer in the ack.
        answers = fake_slack.answers_for(url) if is_interim(ack) else [ack]
        assert len(answers) == 1 and key["id"] in message_text(answers[0])
    assert '"drained": true' in bot.logs()
