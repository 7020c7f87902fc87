"""`make bench`: the real bot under load, against fake Coveo and Slack servers on loopback.

Prints one table: ack and final-answer latency, the bot's overhead over Coveo's latency,
commands per second, Coveo calls per command and the bot's peak RSS; then the cost of
matching and rendering a 10,000-key organisation in-process. Not a test: numbers, not verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

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


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def burst(
    bot: BotProcess, client: aiohttp.ClientSession, org: str, n: int
) -> tuple[list[float], list[float]]:
    """n signed commands at once; returns ack and final-answer latencies in ms."""

    async def one() -> tuple[float, str, float]:
        body, response_url = bot.command_body(f"{org} wanted key")
        headers = sign(body)
        started = time.monotonic()
        async with client.post(f"{bot.url}/slack/events", data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise SystemExit(f"the bot answered {response.status}")
        return started, response_url, (time.monotonic() - started) * 1000

    results = await asyncio.gather(*(one() for _ in range(n)))
    finals = []
    deadline = time.monotonic() + 30
    for started, response_url, _ in results:
        rid = response_url.rsplit("/", 1)[-1]
        while rid not in bot.slack.received_at and time.monotonic() < deadline:  # noqa: ASYNC110 - the fake records in another thread
            await asyncio.sleep(0.005)
        answers = bot.slack.answers_for(response_url)
        if len(answers) != 1:
            raise SystemExit(f"a command got {len(answers)} answers instead of exactly one")
        finals.append((bot.slack.received_at[rid] - started) * 1000)
    return [ack for _, _, ack in results], finals


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(args: argparse.Namespace) -> list[str]:
    coveo, slack = FakeCoveo(), FakeSlack()
    coveo.server.start()
    slack.server.start()
    coveo.latency = args.coveo_latency / 1000
    bot = BotProcess(
        coveo,
        slack,
        {
            "APIKEYID_ALLOWED_USERS": "",
            "APIKEYID_ALLOW_EVERYONE": "true",
            "APIKEYID_RATE_LIMIT": "10000",
            "LOG_LEVEL": "WARNING",
        },
    ).start()
    assert bot.process is not None
    pid = bot.process.pid
    rows = [
        "| concurrency | commands | ack p50 / p99 (ms) | final p50 / p99 (ms) | overhead p50 / p99 (ms) | commands/s | Coveo calls per command | bot CPU per command (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = [api_key(f"key {i}") for i in range(args.keys)] + [api_key("wanted key")]
    # aiohttp rather than httpx: the load generator shares the machine and must stay light.
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as client:
            coveo.add_org("warmuporg", keys)
            await burst(bot, client, "warmuporg", 1)
            for concurrency in args.concurrency:
                acks: list[float] = []
                finals: list[float] = []
                calls = 0
                commands = 0
                cpu_before = cpu_seconds(pid)
                started = time.monotonic()
                rounds = max(1, args.commands // concurrency)
                for r in range(rounds):
                    org = f"bench{concurrency}x{r}"  # a fresh org per round: every round pays one Coveo call
                    coveo.add_org(org, keys)
                    a, f = await burst(bot, client, org, concurrency)
                    acks += a
                    finals += f
                    calls += coveo.calls(org)
                    commands += concurrency
                elapsed = time.monotonic() - started
                cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / commands
                overhead = [f - args.coveo_latency for f in finals]
                rows.append(
                    f"| {concurrency} | {commands} | {pct(acks, 50):.1f} / {pct(acks, 99):.1f} "
                    f"| {pct(finals, 50):.1f} / {pct(finals, 99):.1f} "
                    f"| {pct(overhead, 50):.1f} / {pct(overhead, 99):.1f} "
                    f"| {commands / elapsed:.0f} | {calls / commands:.3f} | {cpu_ms:.2f} |"
                )
            # Repeats inside the cache TTL: the org of the last round is warm.
            org = f"bench{args.concurrency[-1]}x0"
            before = coveo.calls(org)
            a, f = await burst(bot, client, org, args.concurrency[-1])
            rows.append(
                f"| {args.concurrency[-1]} (cached) | {len(a)} | {pct(a, 50):.1f} / {pct(a, 99):.1f} "
                f"| {pct(f, 50):.1f} / {pct(f, 99):.1f} | n/a | n/a | {(coveo.calls(org) - before) / len(a):.3f} | |"
            )
        rss = peak_rss_mb(pid)
    finally:
        bot.stop()
        coveo.server.stop()
        slack.server.stop()
    rows.append("")
    rows.append(
        f"Peak RSS of the bot process: {rss:.1f} MB. Fake Coveo latency {args.coveo_latency:.0f} ms, {args.keys + 1} keys per org."
    )
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
        "--commands", type=int, default=200, help="commands per concurrency level (at least one round)"
    )
    parser.add_argument("--keys", type=int, default=200, help="API keys per fake organisation")
    args = parser.parse_args()
    print(
        f"apikeyid benchmark, {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    rows = asyncio.run(load(args)) + in_process()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
