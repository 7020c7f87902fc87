"""The audit channel's queue: Slack's pace, Retry-After, summaries, and what is dropped first."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.audit_channel import RETRY_AFTER_MAX, AuditChannel, retry_after


class FakeClient:
    """chat.postMessage as slack_sdk's AsyncWebClient raises it: a 429 is a SlackApiError whose
    response has `status_code` 429 and Slack's `Retry-After` header."""

    def __init__(self, limited: list[str] | None = None) -> None:
        self.posted: list[tuple[float, str]] = []
        self.limited = list(limited or [])  # Retry-After values to answer the next calls with

    async def chat_postMessage(self, *, text: str, **_: Any) -> dict[str, Any]:
        if self.limited:
            header = self.limited.pop(0)
            response = SimpleNamespace(status_code=429, headers={"Retry-After": header})
            raise SlackApiError("ratelimited", response)
        self.posted.append((time.monotonic(), text))
        return {"ok": True}


def line(fields: dict[str, Any]) -> str:
    return f"{fields.get('user_id')} {fields.get('outcome')} {fields.get('n', '')}".strip()


def summary(user: str, counts: dict[str, int], seconds: float) -> str:
    return f"{user} summary {sum(counts.values())}"


def channel(client: FakeClient, **options: Any) -> AuditChannel:
    return AuditChannel(client, "C0AUDIT", line=line, summary=summary, **options)  # type: ignore[arg-type]


async def test_lines_go_out_at_the_pace_given_real_ones_first() -> None:
    client = FakeClient()
    audit = channel(client, interval=0.1)
    audit.record({"user_id": "U1", "outcome": "limited"})
    for n in range(3):
        audit.record({"user_id": "U2", "outcome": "found", "n": n})
    audit.start()
    assert await audit.flush(5)
    await audit.close()
    texts = [text for _, text in client.posted]
    assert texts == ["U2 found 0", "U2 found 1", "U2 found 2", "U1 limited"]
    gaps = [b - a for (a, _), (b, _) in zip(client.posted, client.posted[1:], strict=False)]
    assert min(gaps) >= 0.09


async def test_a_429_is_waited_out_and_the_line_posted_again() -> None:
    client = FakeClient(limited=["0.3"])
    audit = channel(client, interval=0.01)
    began = time.monotonic()
    audit.record({"user_id": "U1", "outcome": "found"})
    audit.start()
    assert await audit.flush(5)
    await audit.close()
    assert [text for _, text in client.posted] == ["U1 found"]
    assert client.posted[0][0] - began >= 0.3


async def test_a_person_s_refusals_are_one_line_then_one_summary_a_window() -> None:
    client = FakeClient()
    audit = channel(client, interval=0.01, window=0.3)
    audit.start()
    for _ in range(10):
        audit.record({"user_id": "U1", "outcome": "limited"})
    audit.record({"user_id": "U1", "outcome": "denied", "refusal": "guest"})
    for outcome in ("help", "invalid", "dismissed", "opened", "paged", "tampered", "error"):
        audit.record({"user_id": "U1", "outcome": outcome})  # all repeatable at will: summarised
    await asyncio.sleep(0.6)
    assert [text for _, text in client.posted] == ["U1 limited", "U1 summary 17"]
    await asyncio.sleep(0.4)  # a quiet window closes without a line
    assert len(client.posted) == 2
    await audit.close()


async def test_when_full_summaries_go_before_real_lines_and_every_drop_is_counted() -> None:
    dropped: list[str] = []
    audit = channel(FakeClient(), capacity=3, on_drop=dropped.append)  # never started: nothing leaves
    for user in ("U1", "U2", "U3"):
        audit.record({"user_id": user, "outcome": "denied", "refusal": "not_listed"})
    for n in range(4):
        audit.record({"user_id": "U9", "outcome": "found", "n": n})
    assert dropped == ["summary", "summary", "summary", "real"]
    audit.record({"user_id": "U4", "outcome": "limited"})  # a full queue of real lines takes no summary
    assert dropped[-1] == "summary"
    await audit.close()  # the three real lines still queued are counted too
    assert audit.dropped == {"summary": 4, "real": 4}


@pytest.mark.parametrize("kind", ["found", "help", "invalid", "dismissed", "opened", "paged", "limited"])
async def test_one_person_s_lines_of_any_kind_never_drop_another_person_s_lookup(kind: str) -> None:
    client = FakeClient()
    audit = channel(client, interval=0.001)  # never started until the flood is in: nothing leaves
    for n in range(500):
        audit.record({"user_id": "U0SPAM", "outcome": kind, "n": n})
    audit.record({"user_id": "U0OTHER", "outcome": "found", "n": "lookup"})
    assert audit.dropped["real"] == (1 if kind == "found" else 0)  # the flood's own line, if any
    audit.start()
    assert await audit.flush(10)
    await audit.close()
    texts = [text for _, text in client.posted]
    assert "U0OTHER found lookup" in texts
    if kind != "found":  # summarised: the first line, then one count for the other 499
        assert texts == ["U0OTHER found lookup", f"U0SPAM {kind} 0", "U0SPAM summary 499"]


async def test_when_full_the_person_holding_most_loses_their_newest_line() -> None:
    dropped: list[str] = []
    audit = channel(FakeClient(), capacity=4, on_drop=dropped.append)
    for n in range(3):
        audit.record({"user_id": "U1", "outcome": "found", "n": n})
    audit.record({"user_id": "U2", "outcome": "found", "n": 0})
    audit.record({"user_id": "U3", "outcome": "listed"})  # U1 holds most: U1's newest goes
    audit.record({"user_id": "U2", "outcome": "found", "n": 1})  # U1 and U2 hold 2: U1's goes
    audit.record({"user_id": "U2", "outcome": "found", "n": 2})  # U2 holds most now: refused
    assert dropped == ["real", "real", "real"]
    assert [line.text for line in audit._real.lines] == [
        "U1 found 0",
        "U2 found 0",
        "U3 listed",
        "U2 found 1",
    ]
    await audit.close()


async def test_the_home_tab_reaches_the_channel_only_when_refused() -> None:
    client = FakeClient()
    audit = channel(client, interval=0.01)
    audit.start()
    audit.record({"event": "home", "user_id": "U1", "outcome": "home"})
    audit.record({"event": "home", "user_id": "U2", "outcome": "limited"})
    assert await audit.flush(5)
    await audit.close()
    assert [text for _, text in client.posted] == ["U2 limited"]


async def test_flush_is_bounded_and_says_the_open_summaries() -> None:
    client = FakeClient(limited=["100"])  # Slack asks for 100 s: the flush does not wait that long
    audit = channel(client, interval=0.01)
    audit.start()
    audit.record({"user_id": "U1", "outcome": "found"})
    began = time.monotonic()
    assert await audit.flush(0.3) is False
    assert time.monotonic() - began < 1.0
    await audit.close()
    assert audit.dropped["real"] == 1

    client = FakeClient()
    audit = channel(client, interval=0.01, window=60)
    audit.start()
    for _ in range(3):
        audit.record({"user_id": "U1", "outcome": "limited"})
    assert await audit.flush(2)
    await audit.close()
    assert [text for _, text in client.posted] == ["U1 limited", "U1 summary 2"]


@pytest.mark.parametrize(
    ("header", "pause"),
    [
        ("3", 3.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (None, 1.0),
        ("soon", 1.0),
        ("nan", 1.0),
        ("99999", RETRY_AFTER_MAX),
    ],
)
def test_retry_after_is_read_safely(header: str | None, pause: float) -> None:
    assert retry_after({} if header is None else {"Retry-After": header}) == pause
