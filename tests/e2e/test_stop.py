"""A real stop: SIGTERM and SIGINT stop the bot at any moment, in either mode, with the exit code
a supervisor acts on (0, or 2 for a configuration error), and HTTP mode keeps serving while the
platform stops routing to it."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from bot.serving.lifecycle import SOCKET_CLOSE_BOUND
from tests.conftest import BotProcess, free_port, message_text, new_org
from tests.fakes.coveo import FakeCoveo, api_key
from tests.fakes.slack import APP_TOKEN, FakeSlack


def socket_bot(start_bot, **env: str) -> BotProcess:
    bot: BotProcess = start_bot(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="", **env)
    return bot


def test_a_refused_app_token_is_a_configuration_error(fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> None:
    # apps.connections.open answers invalid_auth: slack_sdk would retry it forever.
    bot = BotProcess(fake_coveo, fake_slack, {"SLACK_APP_TOKEN": "xapp-1-A0APP-0000-rejected"})
    began = time.monotonic()
    process = bot.launch()
    code = process.wait(15)
    took = time.monotonic() - began
    assert code == 2, bot.logs()
    assert took < 10
    refused = [line for line in bot.logs().splitlines() if "app_token_refused" in line]
    assert len(refused) == 1 and "SLACK_APP_TOKEN" in refused[0] and "invalid_auth" in refused[0]
    assert bot.stop(code=2) == 2  # already exited: the fixture's check agrees


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_socket_mode_stops_at_once_while_it_cannot_connect(
    start_bot, fake_slack: FakeSlack, sig: signal.Signals
) -> None:
    fake_slack.socket_url = f"ws://127.0.0.1:{free_port()}/nobody"
    try:
        bot = socket_bot(start_bot)
        response = bot.client.get(f"{bot.url}/readyz")
        assert response.status_code == 503 and "socket_disconnected" in response.json()["reasons"]
        time.sleep(0.5)  # inside slack_sdk's retry loop
    finally:
        fake_slack.socket_url = None
    assert bot.stop(sig, within=5) == 0


def test_socket_mode_stops_in_its_bound_when_slack_never_answers_the_close(
    start_bot, fake_slack: FakeSlack
) -> None:
    fake_slack.socket_ignores_close = True
    try:
        bot = socket_bot(start_bot)
        assert bot.wait_for_health("socket_connected")["socket_connected"] is True
    finally:
        fake_slack.socket_ignores_close = False
    # Nothing in flight: the acks, the drain and the health server take no time; closing the
    # socket is given SOCKET_CLOSE_BOUND twice (disconnect, then close), not aiohttp's 10 s.
    assert bot.stop(within=15) == 0
    assert bot.stop_took is not None and bot.stop_took < 2 * SOCKET_CLOSE_BOUND + 1.5, bot.stop_took
    print(f"socket mode stop with a silent close took {bot.stop_took:.2f} s")


@pytest.mark.parametrize(("mode", "sig"), [("socket", signal.SIGINT), ("http", signal.SIGTERM)])
def test_a_signal_during_start_up_stops_at_once(
    fake_coveo: FakeCoveo, fake_slack: FakeSlack, mode: str, sig: signal.Signals
) -> None:
    env = {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": ""} if mode == "socket" else {}
    bot = BotProcess(fake_coveo, fake_slack, env)
    calls = fake_slack.auth_test_calls
    fake_slack.auth_test_delay = 4.0  # start-up waits on Slack's auth.test
    try:
        bot.launch()
        end = time.monotonic() + 10
        while fake_slack.auth_test_calls == calls and time.monotonic() < end:
            time.sleep(0.02)
        assert bot.stop(sig, within=2) == 0  # not after auth.test's 4 s
    finally:
        fake_slack.auth_test_delay = 0.0


def test_http_mode_serves_through_the_shutdown_delay_then_drains(start_bot, fake_coveo: FakeCoveo) -> None:
    bot = start_bot(APIKEYID_SHUTDOWN_DELAY="2")
    org = new_org()
    key = api_key("Served while stopping")
    fake_coveo.add_org(org, [key])
    assert bot.client.get(f"{bot.url}/readyz").status_code == 200
    assert bot.process is not None
    signalled = time.monotonic()
    bot.process.send_signal(signal.SIGTERM)
    # Not ready at once (as soon as the signal is handled; a loaded machine may take a moment to
    # deliver it), but alive and serving: the platform stops routing here, and a request it still
    # sends is answered.
    while (ready := bot.client.get(f"{bot.url}/readyz")).status_code == 200:
        assert time.monotonic() - signalled < 1.0, "still ready 1 s after SIGTERM"
        time.sleep(0.02)
    assert ready.status_code == 503 and ready.json()["reasons"][0] == "shutting_down"
    assert bot.client.get(f"{bot.url}/healthz").status_code == 200
    time.sleep(1.0)
    assert key["id"] in message_text(bot.ask(f"{org} Served while stopping"))
    # Then the listener closes (about the delay after the signal), and the process exits 0.
    closed: list[float] = []

    def watch() -> None:
        while time.monotonic() - signalled < 10:
            try:
                httpx.get(f"{bot.url}/healthz", timeout=0.5, trust_env=False)
            except httpx.TransportError:
                closed.append(time.monotonic() - signalled)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join()
    assert closed and 1.8 <= closed[0] < 4, closed
    assert bot.stop(None, within=5) == 0  # the one SIGTERM above


def test_a_second_signal_skips_the_rest_of_the_delay(start_bot) -> None:
    bot = start_bot(APIKEYID_SHUTDOWN_DELAY="60")
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert bot.process.poll() is None  # waiting out the delay
    assert bot.stop(signal.SIGINT, within=5) == 0
