"""`make bench`: the real bot under load, against fake Coveo and Slack servers on loopback.

Three processes, so that no one's CPU is counted as another's: the bot, the fakes (Coveo
answering after a set latency, Slack recording `response_url` posts with their arrival time),
and this load generator. Prints one table per run: ack and final-answer latency, the bot's
overhead over Coveo's latency, commands per second, Coveo calls per command, the bot's CPU per
command and peak RSS; then the cost of matching and rendering a 10,000-key org in-process.
Not a test: numbers, not verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.apikey import parse_api_keys  # noqa: E402
from bot.lookup import Found, Listing, NotFound  # noqa: E402
from bot.matching import Hits, find  # noqa: E402
from bot.replies import render  # noqa: E402
from tests.conftest import BotProcess, sign  # noqa: E402
from tests.fakes.coveo import FakeCoveo, api_key  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

WANTED = "wanted key"
MIN_ROUNDS = 5  # one burst is too few samples for a p99: the 2nd-slowest of 200 is noise


def serve_fakes(conn: Connection, latency: float, keys_per_org: int) -> None:
    """The fakes' process: starts both servers, then obeys the load generator's requests."""
    coveo, slack = FakeCoveo(), FakeSlack()
    coveo.server.start()
    slack.server.start()
    coveo.latency = latency
    keys = [api_key(f"key {i}") for i in range(keys_per_org)] + [api_key(WANTED)]
    conn.send((coveo.url, slack.api_url, slack.server.url))
    while True:
        action, arg = conn.recv()
        if action == "add_org":
            coveo.add_org(arg, keys)
            conn.send(None)
        elif action == "calls":
            conn.send(coveo.calls(arg))
        elif action == "arrivals":
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

    def ask(self, action: str, arg: Any = None) -> Any:
        self.conn.send((action, arg))
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(10)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def burst(
    bot: BotProcess, fakes: Fakes, client: aiohttp.ClientSession, org: str, n: int
) -> tuple[list[float], list[float], float]:
    """n signed commands at once: ack and final-answer latencies (ms), and seconds until the last answer."""

    async def one() -> tuple[float, str, float]:
        body, response_url = bot.command_body(f"{org} {WANTED}")
        headers = sign(body)
        started = time.monotonic()
        async with client.post(f"{bot.url}/slack/events", data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise SystemExit(f"the bot answered {response.status}")
        return started, response_url.rsplit("/", 1)[-1], (time.monotonic() - started) * 1000

    sent = await asyncio.gather(*(one() for _ in range(n)))
    deadline = time.monotonic() + 30
    while True:
        arrivals = fakes.ask("arrivals", [rid for _, rid, _ in sent])
        if all(at is not None for at, _ in arrivals.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # a second answer, if any, would arrive now
    arrivals = fakes.ask("arrivals", [rid for _, rid, _ in sent])
    if any(count != 1 for _, count in arrivals.values()):
        raise SystemExit("a command did not get exactly one final answer")
    # time.monotonic() is the same clock in every process of this machine.
    finals = [(arrivals[rid][0] - started) * 1000 for started, rid, _ in sent]
    busy = max(arrivals[rid][0] for _, rid, _ in sent) - min(started for started, _, _ in sent)
    return [ack for _, _, ack in sent], finals, busy


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


async def load(args: argparse.Namespace) -> list[str]:
    fakes = Fakes(args.coveo_latency, args.keys)
    env = {"APIKEYID_ALLOWED_USERS": "", "APIKEYID_ALLOW_EVERYONE": "true", "APIKEYID_RATE_LIMIT": "10000"}
    bot = BotProcess(fakes.remote, fakes.remote, {**env, "LOG_LEVEL": "WARNING"}).start()  # type: ignore[arg-type]
    assert bot.process is not None
    pid = bot.process.pid
    rows = [
        "| concurrency | commands | ack p50 / p99 (ms) | final p50 / p99 (ms) | overhead p50 / p99 (ms) "
        "| commands/s | Coveo calls per command | bot CPU per command (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    try:
        # aiohttp rather than httpx: the load generator shares the machine and must stay light.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            fakes.ask("add_org", "warmup")
            # First-use costs (lazy imports, connection pools) are paid here, not in the table.
            await burst(bot, fakes, client, "warmup", max(args.concurrency))
            for concurrency in args.concurrency:
                acks: list[float] = []
                finals: list[float] = []
                calls = commands = 0
                busy = 0.0  # time from first command to last answer, summed over rounds
                cpu_before = cpu_seconds(pid)
                for r in range(max(MIN_ROUNDS, args.commands // concurrency)):
                    org = f"bench{concurrency}x{r}"  # a fresh org per round: every round pays one Coveo call
                    fakes.ask("add_org", org)
                    a, f, seconds = await burst(bot, fakes, client, org, concurrency)
                    busy += seconds
                    acks += a
                    finals += f
                    calls += fakes.ask("calls", org)
                    commands += concurrency
                cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / commands
                overhead = [f - args.coveo_latency for f in finals]
                rows.append(
                    f"| {concurrency} | {commands} | {pct(acks, 50):.1f} / {pct(acks, 99):.1f} "
                    f"| {pct(finals, 50):.1f} / {pct(finals, 99):.1f} "
                    f"| {pct(overhead, 50):.1f} / {pct(overhead, 99):.1f} "
                    f"| {commands / busy:.0f} | {calls / commands:.3f} | {cpu_ms:.2f} |"
                )
            # Repeats inside the cache TTL: the org of the last round is warm.
            org = f"bench{args.concurrency[-1]}x0"
            before = fakes.ask("calls", org)
            a, f, _ = await burst(bot, fakes, client, org, args.concurrency[-1])
            rows.append(
                f"| {args.concurrency[-1]} (cached) | {len(a)} | {pct(a, 50):.1f} / {pct(a, 99):.1f} "
                f"| {pct(f, 50):.1f} / {pct(f, 99):.1f} | n/a | n/a "
                f"| {(fakes.ask('calls', org) - before) / len(a):.3f} | |"
            )
            rows += [
                "",
                "Measurement floor: the same bursts against a bare aiohttp server that only answers:",
                "",
            ]
            rows += ["| concurrency | ack p50 / p99 (ms) |", "|---:|---:|"]
            for concurrency in args.concurrency:
                floor = await floor_acks(
                    fakes, client, concurrency, max(MIN_ROUNDS, args.commands // concurrency)
                )
                rows.append(f"| {concurrency} | {pct(floor, 50):.1f} / {pct(floor, 99):.1f} |")
        rss = peak_rss_mb(pid)
    finally:
        bot.stop()
        fakes.stop()
    rows += [
        "",
        f"Peak RSS of the bot process: {rss:.1f} MB. Fake Coveo latency {args.coveo_latency:.0f} ms, "
        f"{args.keys + 1} keys per org.",
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
    print("\n".join(asyncio.run(load(args)) + in_process()))


if __name__ == "__main__":
    main()
