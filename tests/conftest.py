"""Shared test machinery: fake Coveo and Slack servers on loopback, and the real bot as a process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.fakes.coveo import EU_TOKEN, GOOD_TOKEN, FakeCoveo
from tests.fakes.slack import BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "test-signing-secret-5b1f0c8e2d"
ALLOWED_USER = "U0ALLOWED"
SECRETS = (SIGNING_SECRET, BOT_TOKEN, GOOD_TOKEN, EU_TOKEN)
# With no shutdown delay, a bot stops at once unless it has commands to drain (a few seconds).
STOP_WITHIN = 10.0
# Everything any bot process printed, so the suite can check no secret ever appeared.
ALL_LOGS: list[Path] = []


def new_org() -> str:
    """A fresh org id per test, so caches and fault queues never leak between tests."""
    return "org" + uuid.uuid4().hex[:16]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(body: str, timestamp: str | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


class BotProcess:
    """`python -m bot` in its own process, configured to talk to the fakes only."""

    def __init__(self, coveo: FakeCoveo, slack: FakeSlack, extra_env: dict[str, str] | None = None) -> None:
        self.coveo, self.slack = coveo, slack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="apikeyid-test-"))
        self.log_path = self.workdir / "bot.log"
        ALL_LOGS.append(self.log_path)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "COVEO_ACCESS_TOKEN": GOOD_TOKEN,
            "COVEO_PLATFORM_URL": coveo.url,
            "APIKEYID_ALLOWED_USERS": ALLOWED_USER,
            "APIKEYID_RATE_LIMIT": "10000",
            "APIKEYID_ANSWER_DEADLINE": "5",
            # No pause between SIGTERM and the drain unless a test is about it (default 5 s).
            "APIKEYID_SHUTDOWN_DELAY": "0",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
        }
        self.env.update(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_took: float | None = None  # seconds from the signal to the exit, once stopped
        self.client = httpx.Client(timeout=10, trust_env=False)

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the process and return at once (`start` also waits until it serves)."""
        # The bot runs in an empty folder so that a developer's own .env is never read.
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=self.workdir,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self.process

    def start(self) -> BotProcess:
        self.launch()
        assert self.process is not None
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if self.client.get(f"{self.url}/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"bot did not start:\n{self.logs()}")

    def stop(self, sig: int | None = signal.SIGTERM, *, code: int = 0, within: float = STOP_WITHIN) -> int:
        """Send `sig` and check the bot exits with `code` within `within` seconds (every stop: a
        bot that hangs or fails on its way out fails the test that stopped it). `sig=None`: the
        test has signalled already, so only wait (a platform sends one SIGTERM; a second one can
        land after the bot's handlers are gone and kill it with -15)."""
        assert self.process is not None
        began = time.monotonic()
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            exited = self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            exited = None
        self.stop_took = time.monotonic() - began
        self._log.close()
        self.client.close()
        assert exited is not None, (
            f"the bot did not stop within {within} s of {sig and signal.Signals(sig).name}"
        )
        assert self.stop_took < within
        assert exited == code, f"the bot exited with {exited}, not {code}:\n{self.logs()[-3000:]}"
        return exited

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def command_body(
        self, text: str, *, user: str = ALLOWED_USER, response_url: str | None = None, **fields: str
    ) -> tuple[str, str]:
        """A slash command's form body as Slack sends it; `fields` replace Slack's fields."""
        response_url = response_url or self.slack.new_response_url()
        form = {
            "token": "deprecated-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C0SUPPORT",
            "channel_name": "support",
            "user_id": user,
            "user_name": "someone",
            "command": "/apikeyid",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        } | fields
        return urlencode(form), response_url

    def send(self, text: str, *, user: str = ALLOWED_USER, **fields: str) -> tuple[httpx.Response, str]:
        """Send a signed slash command; returns the HTTP answer and the command's response_url."""
        body, response_url = self.command_body(text, user=user, **fields)
        response = self.client.post(f"{self.url}/slack/events", content=body, headers=sign(body))
        return response, response_url

    def ask(
        self, text: str, *, user: str = ALLOWED_USER, timeout: float = 15, **fields: str
    ) -> dict[str, Any]:
        """Send a command and return its one final answer (the ack, or the one posted after it)."""
        response, response_url = self.send(text, user=user, **fields)
        return self.final_answer(response, response_url, timeout=timeout)

    def wait_for_health(self, key: str, timeout: float = 10) -> dict[str, Any]:
        """/healthz once `key` in it is true (say, `socket_connected`), or as it is at the timeout."""
        end = time.monotonic() + timeout
        health: dict[str, Any] = self.client.get(f"{self.url}/healthz").json()
        while not health.get(key) and time.monotonic() < end:
            time.sleep(0.05)
            health = self.client.get(f"{self.url}/healthz").json()
        return health

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        """Send a signed interaction (a click, a shortcut, a modal submission) as Slack does."""
        body = urlencode({"payload": json.dumps(payload)})
        return self.client.post(f"{self.url}/slack/events", content=body, headers=sign(body))

    def event(self, payload: dict[str, Any]) -> httpx.Response:
        """Send a signed Events API request (JSON body)."""
        body = json.dumps(payload)
        headers = sign(body) | {"Content-Type": "application/json"}
        return self.client.post(f"{self.url}/slack/events", content=body, headers=headers)

    def final_answer(
        self, response: httpx.Response, response_url: str, timeout: float = 15
    ) -> dict[str, Any]:
        """A command's one final answer: the ack itself, or else the one post that followed it."""
        assert response.status_code == 200, response.text
        ack = response.json()
        if not is_interim(ack):
            time.sleep(0.05)
            assert self.slack.answers_for(response_url) == [], "a final ack must not be followed by a post"
            return ack
        answers = self.slack.wait_for_answers(response_url, timeout=timeout)
        assert len(answers) == 1, f"expected exactly one final answer, got {len(answers)}"
        return answers[0]


def is_interim(message: dict[str, Any]) -> bool:
    """The short ack that says the answer follows."""
    return str(message.get("text", "")).startswith("Looking up")


def audit_lines(bot: BotProcess, count: int = 1, **match: Any) -> list[dict[str, Any]]:
    """The bot's audit lines whose fields equal `match`, once `count` of them are written
    (a line follows its answer, so it is waited for)."""
    end = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in bot.logs().splitlines() if line.startswith("{")]
        found = [
            line
            for line in lines
            if line.get("logger") == "apikeyid.audit" and all(line.get(k) == v for k, v in match.items())
        ]
        if len(found) >= count or time.monotonic() > end:
            return found
        time.sleep(0.02)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of every button a message, modal or Home view shows."""
    found: dict[str, str] = {}
    for block in message.get("blocks", []):
        elements = (
            block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
        )
        for element in elements:
            if element.get("type") == "button":
                found.setdefault(element["action_id"], element.get("value", ""))
    return found


def message_text(message: dict[str, Any]) -> str:
    """All the text a user sees in a message: the fallback, every block and every button label."""

    def text_of(element: dict[str, Any]) -> str:
        text = element.get("text", "")
        return text.get("text", "") if isinstance(text, dict) else text

    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if block.get("text"):
            parts.append(text_of(block))
        parts.extend(text_of(e) for e in block.get("elements", []))
        parts.extend(text_of(f) for f in block.get("fields", []) or [])
        if block.get("accessory"):
            parts.append(text_of(block["accessory"]))
    return "\n".join(parts)


@pytest.fixture(scope="session")
def fake_coveo() -> Iterator[FakeCoveo]:
    fake = FakeCoveo()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture(scope="session")
def fake_coveo_eu() -> Iterator[FakeCoveo]:
    """A second region: accepts only EU_TOKEN (while `fake_coveo` plays US with GOOD_TOKEN)."""
    fake = FakeCoveo(token=EU_TOKEN)
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture(scope="session")
def bot(fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> Iterator[BotProcess]:
    """One bot process shared by the tests that need no special configuration."""
    process = BotProcess(fake_coveo, fake_slack).start()
    yield process
    process.stop()


@pytest.fixture
def start_bot(fake_coveo: FakeCoveo, fake_slack: FakeSlack) -> Iterator[Any]:
    """Start a bot with extra environment; stopped at the end of the test."""
    started: list[BotProcess] = []

    def start(**env: str) -> BotProcess:
        process = BotProcess(fake_coveo, fake_slack, env).start()
        started.append(process)
        return process

    yield start
    problems = []
    for process in started:
        try:
            process.stop()
        except AssertionError as problem:  # stop every bot, then report
            problems.append(str(problem))
    assert not problems, "\n".join(problems)


# The longest files first (seconds each, measured alone): over xdist workers (`make test`), a file
# started last is the run's tail, and each file's tests stay together on one worker. The order
# within a file is kept (some tests check what the ones before them left).
LONGEST_FIRST = (
    "tests/e2e/test_trust.py",  # 41 s
    "tests/e2e/test_resilience.py",  # 35 s
    "tests/e2e/test_bounds.py",  # 30 s
    "tests/e2e/test_hardening.py",  # 26 s
    "tests/e2e/test_install.py",  # 24 s, 18 s of it building the wheel and a venv
    "tests/test_properties.py",  # 15 s
    "tests/e2e/test_monitoring.py",  # 14 s
    "tests/e2e/test_surfaces.py",  # 14 s
    "tests/e2e/test_stop.py",  # 13 s
    "tests/test_coveo.py",  # 13 s
    "tests/e2e/test_setup_and_lookups.py",  # 13 s
    "tests/e2e/test_operating.py",  # 12 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: place for place, path in enumerate(LONGEST_FIRST)}

    def place(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(LONGEST_FIRST))

    items.sort(key=place)  # stable: the rest keep their order
