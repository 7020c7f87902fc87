"""`make bench`: the real bot under load, against fake Coveo and Slack servers on loopback, and two floors.

Separate processes, so that no one's CPU is counted as another's: the bot, two floor bots
(scripts/floor_bot.py: the smallest correct bot in raw aiohttp, answering in the command's own
HTTP response, "one-message", or with an empty ack and a post to `response_url`, "two-message"),
the fakes (Coveo answering after a set latency, Slack recording `response_url` posts with their
arrival time), and this load generator.

Every command asks about a different organisation, so every command costs the bot and the
floors alike one Coveo call (cache misses). Bursts of `concurrency` commands at once, the three
bots in turn round after round (so a noisy moment hits all three). A command's final answer is
its ack when the ack already holds the answer (its text does not start with "Looking up"),
otherwise the post that reaches the fake Slack's `response_url`; each command must get exactly
one. Prints per bot and concurrency: ack and final-answer latency, commands per second (first
send to last final answer), Coveo calls and CPU per command, peak RSS; then the bot's ratios to
the one-message floor against the targets, a cached burst, and the cost of matching and
rendering a 10,000-key org in-process. Not a test: numbers, not verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.apikey import parse_api_keys  # noqa: E402
from bot.core.matching import Hits, find  # noqa: E402
from bot.coveo.results import Found, Listing, NotFound  # noqa: E402
from bot.replies.messages import render  # noqa: E402
from tests.conftest import SIGNING_SECRET, BotProcess, free_port, sign  # noqa: E402
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

WANTED = "wanted key"
MIN_ROUNDS = 5  # one burst is too few samples for a p99: the 2nd-slowest of 200 is noise
FLOOR_BOT = ROOT / "scripts" / "floor_bot.py"
BOT, BASELINE, ONE, TWO = "bot", "bot, baseline", "floor, one-message", "floor, two-message"
# Final-answer p50 of the bot over the one-message floor's, at most, by concurrency.
LATENCY_TARGETS = {1: 1.2, 50: 1.2, 200: 1.5}
THROUGHPUT_TARGET = 0.8  # the bot's commands/s at the top concurrency over the floor's, at least
ACK_P99_TARGET_MS = 1000.0  # the bot's ack p99 at the top concurrency


class BenchCoveo(FakeCoveo):
    """The fake Coveo, holding every organisation: each command may ask a new one without a
    round trip to this process first. The answer is encoded once, so the fake's own cost stays
    small and the same for every org; Coveo calls are counted, not recorded."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        super().__init__()
        self.body = json.dumps(keys).encode()
        self.count = 0
        self.orgs = _Everything(keys)

    def _encoded(self, org: str) -> bytes:
        return self.body

    def _record(self, request: web.Request) -> None:
        with self._lock:
            self.count += 1


class _Everything(dict[str, list[dict[str, Any]]]):
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        super().__init__()
        self.keys_ = keys

    def __contains__(self, org: object) -> bool:
        return True

    def __getitem__(self, org: str) -> list[dict[str, Any]]:
        return self.keys_


def serve_fakes(conn: Connection, latency: float, keys_per_org: int) -> None:
    """The fakes' process: starts both servers, then obeys the load generator's requests."""
    keys = [api_key(f"key {i}") for i in range(keys_per_org)] + [api_key(WANTED)]
    coveo, slack = BenchCoveo(keys), FakeSlack()
    coveo.server.start()
    slack.server.start()
    coveo.latency = latency
    conn.send((coveo.url, slack.api_url, slack.server.url))
    while True:
        action, arg = conn.recv()
        if action == "calls":
            conn.send(coveo.count)
        elif action == "arrivals":
            with slack._lock:
                conn.send({rid: (slack.received_at.get(rid), len(slack.answers.get(rid, []))) for rid in arg})
        elif action == "stop":
            coveo.server.stop()
            slack.server.stop()
            conn.send(None)
            return


@dataclass
class Remote:
    """What BotProcess needs to know of the fakes, which live in another process."""

    url: str
    api_url: str
    slack_url: str

    def new_response_url(self) -> str:
        return f"{self.slack_url}/response/{os.urandom(12).hex()}"


class Fakes:
    def __init__(self, latency_ms: float, keys_per_org: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(
            target=serve_fakes, args=(child, latency_ms / 1000, keys_per_org)
        )
        self.process.start()
        coveo_url, api_url, slack_url = self.conn.recv()
        self.remote = Remote(coveo_url, api_url, slack_url)
        self._lock = threading.Lock()

    def ask(self, action: str, arg: Any = None) -> Any:
        with self._lock:
            self.conn.send((action, arg))
            return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(10)


class FloorProcess:
    """scripts/floor_bot.py in its own process."""

    def __init__(self, mode: str, remote: Remote) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "FLOOR_COVEO_TOKEN": GOOD_TOKEN,
            "FLOOR_SIGNING_SECRET": SIGNING_SECRET,
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own script, with our own arguments
            [sys.executable, str(FLOOR_BOT), "--mode", mode, "--port", str(self.port), "--coveo", remote.url],
            env=env,
        )
        with httpx.Client(trust_env=False) as client:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                if self.process.poll() is not None:
                    raise SystemExit(f"the {mode}-message floor bot exited with {self.process.returncode}")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise SystemExit(f"the {mode}-message floor bot did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Target:
    name: str
    url: str
    pid: int
    prefix: str  # of its organisations' ids, so that no two targets or rounds share an org


@dataclass
class Sample:
    acks: list[float] = field(default_factory=list)
    finals: list[float] = field(default_factory=list)
    inline: int = 0  # commands whose ack was the final answer
    busy: float = 0.0  # seconds from first send to last final answer, summed over rounds
    calls: int = 0
    cpu: float = 0.0

    @property
    def commands(self) -> int:
        return len(self.acks)

    @property
    def throughput(self) -> float:
        return self.commands / self.busy


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def burst(
    target: Target, remote: Remote, fakes: Fakes, client: aiohttp.ClientSession, orgs: list[str]
) -> tuple[list[float], list[float], int, float]:
    """One signed command per org, all at once: ack and final-answer latencies (ms), how many
    acks were final, and seconds from the first send to the last final answer."""

    async def one(org: str) -> tuple[float, str, float, bool]:
        form = {
            "token": "deprecated-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C0SUPPORT",
            "channel_name": "support",
            "user_id": "U0ALLOWED",
            "user_name": "someone",
            "command": "/apikeyid",
            "text": f"{org} {WANTED}",
            "api_app_id": "A0APP",
            "response_url": remote.new_response_url(),
            "trigger_id": "1.2.3",
        }
        body = urlencode(form)
        headers = sign(body)
        started = time.monotonic()
        async with client.post(f"{target.url}/slack/events", data=body, headers=headers) as response:
            raw = await response.read()
            acked = time.monotonic()
            if response.status != 200:
                raise SystemExit(f"{target.name} answered {response.status}")
        text = json.loads(raw).get("text", "") if raw.strip() else ""
        final = bool(text) and not text.startswith("Looking up")
        return started, form["response_url"].rsplit("/", 1)[-1], acked, final

    sent = await asyncio.gather(*(one(org) for org in orgs))
    waiting = [rid for _, rid, _, final in sent if not final]
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        arrivals = fakes.ask("arrivals", waiting)
        if all(at is not None for at, _ in arrivals.values()):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # a second answer, or a post after a final ack, would arrive now
    arrivals = fakes.ask("arrivals", [rid for _, rid, _, _ in sent])
    for _, rid, _, final in sent:
        if arrivals[rid][1] != (0 if final else 1):
            raise SystemExit(f"{target.name}: a command did not get exactly one final answer")
    ends = [acked if final else arrivals[rid][0] for _, rid, acked, final in sent]
    acks = [(acked - started) * 1000 for started, _, acked, _ in sent]
    finals = [(end - started) * 1000 for (started, _, _, _), end in zip(sent, ends, strict=True)]
    busy = max(ends) - min(started for started, _, _, _ in sent)
    return acks, finals, sum(final for *_, final in sent), busy


async def floor_acks(fakes: Fakes, client: aiohttp.ClientSession, n: int, rounds: int) -> list[float]:
    """Ack latencies of a server doing nothing: what the load generator and loopback cost alone."""
    body = "x" * 600  # about the size of a slash command

    async def one() -> float:
        started = time.monotonic()
        async with client.post(f"{fakes.remote.slack_url}/floor", data=body) as response:
            await response.read()
        return (time.monotonic() - started) * 1000

    latencies: list[float] = []
    for _ in range(rounds):
        latencies += await asyncio.gather(*(one() for _ in range(n)))
    return latencies


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


async def load(args: argparse.Namespace) -> list[str]:
    fakes = Fakes(args.coveo_latency, args.keys)
    env = {
        "APIKEYID_ALLOWED_USERS": "",
        "APIKEYID_ALLOW_EVERYONE": "true",
        "APIKEYID_RATE_LIMIT": "10000",
        "APIKEYID_ANSWER_DEADLINE": "20",
        "LOG_LEVEL": "WARNING",
    } | dict(item.split("=", 1) for item in args.bot_env)
    bot = BotProcess(fakes.remote, fakes.remote, env).start()  # type: ignore[arg-type]
    floors: list[FloorProcess] = []
    baseline: BotProcess | None = None
    assert bot.process is not None
    try:
        floors = [FloorProcess("one", fakes.remote), FloorProcess("two", fakes.remote)]
        targets = [
            Target(BOT, bot.url, bot.process.pid, "bot"),
            Target(ONE, floors[0].url, floors[0].pid, "one"),
            Target(TWO, floors[1].url, floors[1].pid, "two"),
        ]
        if args.baseline:
            # Another checkout of the bot (say, before a change), run the same way beside this one.
            baseline = BotProcess(fakes.remote, fakes.remote, env | {"PYTHONPATH": args.baseline}).start()  # type: ignore[arg-type]
            assert baseline.process is not None
            targets.insert(1, Target(BASELINE, baseline.url, baseline.process.pid, "base"))
        only = set(args.only or [t.prefix for t in targets]) | ({"base"} if args.baseline else set())
        targets = [t for t in targets if t.prefix in only]
        samples: dict[tuple[str, int], Sample] = {}
        # aiohttp rather than httpx: the load generator shares the machine and must stay light.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            top = max(args.concurrency)
            for target in targets:  # first-use costs (lazy imports, connection pools) are paid here
                await burst(target, fakes.remote, fakes, client, [f"{target.prefix}w{i}" for i in range(top)])
            for concurrency in args.concurrency:
                for target in targets:
                    samples[target.name, concurrency] = Sample()
                for r in range(max(MIN_ROUNDS, args.commands // concurrency)):
                    for target in targets:  # in turn, round after round: noise hits every bot alike
                        sample = samples[target.name, concurrency]
                        orgs = [f"{target.prefix}{concurrency}r{r}c{i}" for i in range(concurrency)]
                        calls, cpu = fakes.ask("calls"), cpu_seconds(target.pid)
                        acks, finals, inline, busy = await burst(target, fakes.remote, fakes, client, orgs)
                        sample.cpu += cpu_seconds(target.pid) - cpu
                        sample.calls += fakes.ask("calls") - calls
                        sample.acks += acks
                        sample.finals += finals
                        sample.inline += inline
                        sample.busy += busy
            cached: Sample | None = None
            if any(t.name == BOT for t in targets):
                # The same org asked again within the cache TTL: the bot's repeats cost no Coveo call.
                orgs = ["botcached"] * top
                await burst(targets[0], fakes.remote, fakes, client, orgs)
                calls = fakes.ask("calls")
                acks, finals, inline, busy = await burst(targets[0], fakes.remote, fakes, client, orgs)
                cached = Sample(acks, finals, inline, busy, fakes.ask("calls") - calls)
            bare = {
                c: await floor_acks(fakes, client, c, max(MIN_ROUNDS, args.commands // c))
                for c in args.concurrency
            }
        rss = {t.name: peak_rss_mb(t.pid) for t in targets}
    finally:
        bot.stop()
        if baseline is not None:
            baseline.stop()
        for floor in floors:
            floor.stop()
        fakes.stop()
    return report(args, targets, samples, cached, bare, rss)


def report(
    args: argparse.Namespace,
    targets: list[Target],
    samples: dict[tuple[str, int], Sample],
    cached: Sample | None,
    bare: dict[int, list[float]],
    rss: dict[str, float],
) -> list[str]:
    rows = [
        f"Cache misses: every command a different organisation (one Coveo call each). Fake Coveo "
        f"latency {args.coveo_latency:.0f} ms, {args.keys + 1} keys per org.",
        "",
        "| bot | concurrency | commands | answered in the ack | ack p50 / p99 (ms) | final p50 / p99 (ms) "
        "| commands/s | Coveo calls per command | CPU per command (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in targets:
        for concurrency in args.concurrency:
            s = samples[target.name, concurrency]
            rows.append(
                f"| {target.name} | {concurrency} | {s.commands} | {s.inline / s.commands:.0%} "
                f"| {pct(s.acks, 50):.1f} / {pct(s.acks, 99):.1f} "
                f"| {pct(s.finals, 50):.1f} / {pct(s.finals, 99):.1f} "
                f"| {s.throughput:.0f} | {s.calls / s.commands:.3f} | {s.cpu * 1000 / s.commands:.2f} |"
            )
    rows += ["", "Peak RSS (MB): " + ", ".join(f"{name} {mb:.1f}" for name, mb in rss.items()) + "."]
    names = {t.name for t in targets}
    bots = [name for name in (BOT, BASELINE) if name in names]
    if bots and ONE in names:
        top = max(args.concurrency)
        rows += [
            "",
            "Against the one-message floor:",
            "",
            "| target | " + " | ".join(bots) + " |",
            "|---|" + "---|" * len(bots),
        ]

        def line(label: str, measure: Any, ok: Any, unit: str = "{:.2f}x") -> str:
            cells = [f"{unit.format(measure(b))} {verdict(ok(measure(b)))}" for b in bots]
            return f"| {label} | " + " | ".join(cells) + " |"

        for concurrency, limit in LATENCY_TARGETS.items():
            if concurrency in args.concurrency:
                rows.append(
                    line(
                        f"final p50 at {concurrency} within {limit}x the floor's",
                        lambda b, c=concurrency: (
                            pct(samples[b, c].finals, 50) / pct(samples[ONE, c].finals, 50)
                        ),
                        lambda r, limit=limit: r <= limit,
                    )
                )
        rows.append(
            line(
                f"commands/s at {top} at least {THROUGHPUT_TARGET}x the floor's",
                lambda b: samples[b, top].throughput / samples[ONE, top].throughput,
                lambda r: r >= THROUGHPUT_TARGET,
            )
        )
        rows.append(
            line(
                f"ack p99 at {top} under {ACK_P99_TARGET_MS:,.0f} ms",
                lambda b: pct(samples[b, top].acks, 99),
                lambda ms: ms < ACK_P99_TARGET_MS,
                unit="{:.0f} ms",
            )
        )
    if cached is not None:
        rows += [
            "",
            f"Cached: {cached.commands} commands at once for one organisation already in the bot's cache: "
            f"ack p50 / p99 {pct(cached.acks, 50):.1f} / {pct(cached.acks, 99):.1f} ms, final p50 / p99 "
            f"{pct(cached.finals, 50):.1f} / {pct(cached.finals, 99):.1f} ms, "
            f"{cached.calls / cached.commands:.3f} Coveo calls per command.",
        ]
    rows += [
        "",
        "Load only: the same bursts against a bare aiohttp server that only answers (ack p50 / p99, ms): "
        + ", ".join(f"{c} at once {pct(v, 50):.1f} / {pct(v, 99):.1f}" for c, v in bare.items())
        + ".",
    ]
    return rows


def in_process(n_keys: int = 10_000, repeat: int = 20) -> list[str]:
    keys = parse_api_keys(
        [api_key(f"Key number {i}", description=f"used by service {i}") for i in range(n_keys)]
    )
    now = datetime.now(UTC)
    rows = [
        "",
        f"In-process, {n_keys:,} keys, best of {repeat} (ms):",
        "",
        "| case | match + render |",
        "|---|---:|",
    ]
    cases = {
        "exact hit": "Key number 9999",
        "case-insensitive hit": "key NUMBER 5000",
        "no hit (suggestions)": "Kye numbr 12345x",
        "list the org": None,
    }
    for label, query in cases.items():
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            if query is None:
                render(Listing("org", keys), now)
            else:
                result = find(keys, query)
                outcome = (
                    Found("org", query, result.keys, result.how)
                    if isinstance(result, Hits)
                    else NotFound("org", query, result.suggestions, len(keys))
                )
                render(outcome, now)
            best = min(best, (time.perf_counter() - t) * 1000)
        rows.append(f"| {label} | {best:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coveo-latency", type=float, default=100.0, help="fake Coveo latency in ms")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50, 200])
    parser.add_argument(
        "--only", nargs="+", choices=["bot", "one", "two"], help="bench these only (default: all three)"
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also bench the bot found in DIR (another checkout, e.g. `git archive` of an older commit)",
    )
    parser.add_argument(
        "--bot-env", nargs="+", default=[], metavar="NAME=VALUE", help="extra environment for the bot"
    )
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process table")
    parser.add_argument(
        "--commands", type=int, default=200, help="commands per concurrency level (at least 5 rounds)"
    )
    parser.add_argument(
        "--keys", type=int, default=200, help="API keys per fake organisation (plus the wanted one)"
    )
    args = parser.parse_args()
    print(
        f"apikeyid benchmark, {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print("\n".join(asyncio.run(load(args)) + ([] if args.no_in_process else in_process())))


if __name__ == "__main__":
    main()
