"""The audit channel: one line per command posted to a Slack channel, at Slack's pace."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.outcomes import Event, Outcome
from bot.slack.web import WEB_API_TIMEOUT

log = logging.getLogger(__name__)

# Slack's chat.postMessage "generally allows posting one message per second per channel"
# (https://docs.slack.dev/apis/web-api/rate-limits); past that it answers HTTP 429 with Retry-After.
AUDIT_INTERVAL = 1.0
AUDIT_QUEUE = 500  # lines waiting for the channel; about 8 minutes of posting
SUMMARY_WINDOW = 60.0  # refusals and limits: one line per person per minute, with a count
SUMMARY_PEOPLE = 10_000  # people with a window open; more are counted as dropped summaries
RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX = 1.0, 300.0
AUDIT_FLUSH = WEB_API_TIMEOUT + 1.0  # at shutdown: what the drain gives the channel, at most
# A real line: what the security team needs, one line each. A lookup that reached Coveo or the
# cache (whatever it found), and a key shared into a channel. Everything else a person can repeat
# at will (being refused or limited, help, a typo, a dismissal, a page, the modal, a tampered or
# failed click) is summarised: their first in a minute is posted, the rest are one counted line.
REAL_OUTCOMES = frozenset({Outcome.FOUND, Outcome.SEVERAL, Outcome.NONE, Outcome.LISTED, Outcome.SHARED})
REFUSED = frozenset({Outcome.LIMITED, Outcome.DENIED})
QUIET_EVENTS = frozenset({Event.HOME})  # the Home tab shows no key: only its refusals reach the channel
DROP_REPORT_EVERY = 60.0


@dataclass(eq=False)
class _Line:
    """A queued line (compared by identity: the sender removes the very line it posted)."""

    text: str
    real: bool  # a real line (see REAL_OUTCOMES), not a summarised outcome or its summary
    user: str  # whose it is: when the queue is full, the person holding the most loses one


class _Lines:
    """One kind of queued line, oldest first, with how many each person holds."""

    def __init__(self) -> None:
        self.lines: collections.deque[_Line] = collections.deque()
        self.held: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self.lines)

    def append(self, line: _Line, *, first: bool = False) -> None:
        (self.lines.appendleft if first else self.lines.append)(line)
        self.held[line.user] += 1

    def popleft(self) -> _Line:
        line = self.lines.popleft()
        self._release(line.user)
        return line

    def evict_for(self, user: str) -> bool:
        """Make room for one more line of `user`'s by dropping the newest line of whoever holds the
        most; False (nothing dropped) when that would be `user`, whose new line is then refused.
        So a person's line is lost only while they hold at least as many as anybody else."""
        if not self.held:
            return False
        heaviest, most = self.held.most_common(1)[0]
        if self.held[user] >= most:
            return False
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index].user == heaviest:
                del self.lines[index]
                self._release(heaviest)
                return True
        return False  # not reached: `held` counts what `lines` holds

    def _release(self, user: str) -> None:
        self.held[user] -= 1
        if self.held[user] <= 0:
            del self.held[user]


@dataclass
class _Window:
    """One person's summarised outcomes since `started`, past the first (which was posted)."""

    started: float
    counts: collections.Counter[str] = field(default_factory=collections.Counter)


class AuditChannel:
    """Copies the audit trail to the security team's channel; never delays or fails a command.

    Lines wait in one bounded queue, and one sender posts them at Slack's pace (one a second)
    and waits out any `Retry-After` before posting the refused line again. Only real lines (a
    lookup that reached Coveo or the cache, a share: REAL_OUTCOMES) are posted one each; whatever
    else a person does is summarised: their first in a minute is posted, the rest are counted and
    said in one line at the end of the minute. Real lines go out first. When the queue is full,
    summaries go first; among real lines, the person holding the most queued loses their newest
    (a newcomer's line is refused only when they already hold the most), so one person's lines
    can never push out another person's real line. Every drop is counted (`on_drop`) and
    logged, at most once a minute. The JSON audit log still has every line.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        *,
        line: Callable[[dict[str, Any]], str],
        summary: Callable[[str, dict[str, int], float], str],
        interval: float = AUDIT_INTERVAL,
        window: float = SUMMARY_WINDOW,
        capacity: int = AUDIT_QUEUE,
        on_drop: Callable[[str], object] = lambda kind: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.channel = channel
        self._line, self._summary = line, summary
        self.interval, self.window, self.capacity = interval, window, capacity
        self._on_drop = on_drop
        self._clock = clock
        self._real = _Lines()
        self._summaries = _Lines()
        self._windows: dict[str, _Window] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._sender: asyncio.Task[None] | None = None
        self._posting: _Line | None = None  # the line being posted right now
        self._next_post = 0.0
        self.dropped: collections.Counter[str] = collections.Counter()
        self._dropped_unreported = 0
        self._reported_at = clock()

    # What the flow hands over

    def record(self, fields: dict[str, Any]) -> None:
        """One audit record: queued as a line, or counted into its person's summary. Never blocks."""
        outcome = fields.get("outcome")
        user = str(fields.get("user_id") or "?")
        if outcome in REAL_OUTCOMES:
            self._queue(self._line(fields), real=True, user=user)
        elif outcome in REFUSED or fields.get("event") not in QUIET_EVENTS:
            self._summarised(user, fields)

    def _summarised(self, user: str, fields: dict[str, Any]) -> None:
        open_window = self._windows.get(user)
        if open_window is not None:
            detail = fields.get("refusal") or fields.get("error")
            open_window.counts[
                f"{fields.get('outcome')} ({detail})" if detail else str(fields.get("outcome"))
            ] += 1
            return
        if len(self._windows) >= SUMMARY_PEOPLE:
            self._drop("summary")
            return
        self._windows[user] = _Window(self._clock())
        self._queue(self._line(fields), real=False, user=user)

    def _queue(self, text: str, *, real: bool, user: str) -> None:
        lines = self._real if real else self._summaries
        if len(self._real) + len(self._summaries) >= self.capacity:
            if real and self._summaries:
                self._summaries.popleft()
                self._drop("summary")
            elif not lines.evict_for(user):
                self._drop("real" if real else "summary")
                return
            else:
                self._drop("real" if real else "summary")
        lines.append(_Line(text, real, user))
        self._idle.clear()
        self._wake.set()

    def _drop(self, kind: str) -> None:
        self.dropped[kind] += 1
        self._dropped_unreported += 1
        self._on_drop(kind)

    def _close_windows(self, now: float, *, all_of_them: bool = False) -> None:
        for user, open_window in list(self._windows.items()):
            lasted = now - open_window.started
            if lasted < self.window and not all_of_them:
                continue
            if open_window.counts:
                self._queue(self._summary(user, dict(open_window.counts), lasted), real=False, user=user)
                self._windows[user] = _Window(now)  # still at it: the next minute is summarised too
            else:
                del self._windows[user]

    # The one sender

    def start(self) -> None:
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_forever())

    async def _send_forever(self) -> None:
        while True:
            now = self._clock()
            self._close_windows(now)
            self._report_drops(now)
            if not (self._real or self._summaries):
                self._idle.set()
                self._wake.clear()
                # Wake for a new line, or in a second to close the windows that are due.
                try:
                    async with asyncio.timeout(self.interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            if self._next_post > now:  # Slack's pace (or its Retry-After); then pick again
                await asyncio.sleep(self._next_post - now)
                continue
            # Out of the queue while it is posted, so that nothing can drop it meanwhile.
            line = self._posting = (self._real if len(self._real) else self._summaries).popleft()
            self._next_post = now + self.interval
            pause = await self._post(line.text)
            self._posting = None
            if pause is not None:  # Slack did not take it: first again, once Retry-After is over
                (self._real if line.real else self._summaries).append(line, first=True)
                self._next_post = self._clock() + pause

    async def _post(self, text: str) -> float | None:
        """Post one line; the seconds to wait before trying it again when Slack said 429."""
        try:
            await self.client.chat_postMessage(
                channel=self.channel,
                text=text,
                # verbatim: no URL or @here in a quoted name becomes a link or a ping.
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}],
                # The line quotes what users typed: nothing in it may unfurl or notify anyone.
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
                parse="none",
            )
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code == 429:
                pause = retry_after(exc.response.headers)
                log.warning(
                    "the audit channel is rate limited by Slack",
                    extra={"event": "audit_channel_limited", "retry_after": pause},
                )
                return pause
            self._failed(exc)
        except Exception as exc:
            self._failed(exc)
        return None

    def _failed(self, exc: Exception) -> None:
        log.warning(
            "posting to the audit channel failed",
            extra={"event": "audit_channel_error", "error": type(exc).__name__},
        )

    def _report_drops(self, now: float, *, force: bool = False) -> None:
        if self._dropped_unreported and (force or now - self._reported_at >= DROP_REPORT_EVERY):
            log.warning(
                "audit channel lines dropped (the JSON audit log has them)",
                extra={
                    "event": "audit_channel_dropped",
                    "dropped": self._dropped_unreported,
                    "dropped_real": self.dropped["real"],
                    "dropped_summary": self.dropped["summary"],
                },
            )
            self._dropped_unreported = 0
            self._reported_at = now

    # Shutdown

    async def flush(self, within: float) -> bool:
        """Say every open summary now and post what is queued, for at most `within` seconds.
        True when everything went out."""
        self._close_windows(self._clock(), all_of_them=True)
        if self._sender is None or self._sender.done():
            return not (self._real or self._summaries)
        try:
            async with asyncio.timeout(max(0.0, within)):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop the sender; whatever is still queued is counted as dropped, and logged."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._posting is not None:  # cut off mid-post: it may not have arrived
            self._drop("real" if self._posting.real else "summary")
        for kind, queue in (("real", self._real), ("summary", self._summaries)):
            while queue:
                queue.popleft()
                self._drop(kind)
        self._report_drops(self._clock(), force=True)


def retry_after(headers: Mapping[str, Any] | None) -> float:
    """Slack's `Retry-After` (whole seconds) as a pause: 1 s when missing or unreadable, at most 5 min."""
    value = (headers or {}).get("Retry-After") if headers is not None else None
    if isinstance(value, list):  # slack_sdk keeps some headers as lists
        value = value[0] if value else None
    try:
        seconds = float(str(value).strip())
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT
    if not seconds >= 0:  # NaN
        return RETRY_AFTER_DEFAULT
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)
