"""Terminal front door: `python -m bot lookup [--json] [--region R] <org> <name>`, the same code as Slack's."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bot.core.apikey import ApiKey
from bot.core.command import Help, Invalid, parse
from bot.coveo.client import CoveoClient
from bot.coveo.directory import KeyDirectory, run
from bot.coveo.errors import CoveoError
from bot.coveo.results import Failed, Found, Listing, NotFound, Result
from bot.replies import admin as say
from bot.replies import blocks, keys
from bot.replies.messages import render
from bot.settings import Settings

EXIT_FOUND, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_COVEO_ERROR = 0, 1, 2, 3


async def lookup_command(
    settings: Settings, words: list[str], *, as_json: bool, region: str | None = None
) -> int:
    command = parse(" ".join(words))
    now = datetime.now(UTC)
    if isinstance(command, Help | Invalid):
        print(say.terminal_usage(render(command, now)), file=sys.stderr)
        return EXIT_USAGE
    if region is not None and region not in settings.region_names:
        print(say.no_token_for_region(region, settings.region_names), file=sys.stderr)
        return EXIT_USAGE
    directory = KeyDirectory(CoveoClient.from_settings(settings), ttl=0, suggest=settings.suggest_orgs)
    try:
        deadline = time.monotonic() + settings.answer_deadline
        result = await run(command, directory, deadline=deadline, region=region)
    except Exception as exc:
        print(say.command_failed(type(exc).__name__), file=sys.stderr)
        return EXIT_COVEO_ERROR
    finally:
        await directory.aclose()
    if as_json:
        # ASCII only: Coveo's text may hold terminal escapes or right-to-left overrides, which
        # JSON escapes as \uXXXX this way (a JSON reader gets the exact text back).
        print(json.dumps(result_json(result, now), indent=2))
    else:
        print(render(result, now).to_plain())
    if isinstance(result, Failed):
        return EXIT_COVEO_ERROR
    return EXIT_NOT_FOUND if isinstance(result, NotFound) else EXIT_FOUND


def run_lookup(settings: Settings, words: list[str], *, as_json: bool, region: str | None = None) -> int:
    return asyncio.run(lookup_command(settings, words, as_json=as_json, region=region))


def result_json(result: Result, now: datetime | None = None) -> dict[str, Any]:
    """The answer for scripts (a nightly hygiene report): the same facts the Slack answer states."""
    now = now or datetime.now(UTC)
    if isinstance(result, Found):
        return {
            "org": result.org,
            "region": result.region,
            "query": result.query,
            "matched_by": result.how,
            "console_url": keys.console_url(result.region, result.org),
            "keys": [_key_json(k, result.org, result.region, now) for k in result.keys],
        }
    if isinstance(result, NotFound):
        return {
            "org": result.org,
            "region": result.region,
            "query": result.query,
            "keys": [],
            "suggestions": result.suggestions,
        }
    if isinstance(result, Listing):
        listing: dict[str, Any] = {"org": result.org, "region": result.region}
        if result.care:
            listing |= {
                "query": result.query,
                "needs": [c.value for c in result.care],
                "name": result.name or None,
                "matched": len(result.keys),
                "total": result.total,
                "order": "most urgent first",
            }
        return listing | {
            "console_url": keys.console_url(result.region, result.org),
            "keys": [_key_json(k, result.org, result.region, now) for k in result.keys],
        }
    return {
        "org": result.org,
        "region": result.region,  # the region whose failure is reported in "error"
        "error": _error_json(result.error),
        "regions": [{"region": a.region, **_error_json(a.error)} for a in result.asked],
        "similar_organizations": [
            {"id": o.id, "name": o.display_name, "region": o.region} for o in result.similar_orgs
        ],
    }


def _key_json(key: ApiKey, org: str, region: str, now: datetime) -> dict[str, Any]:
    return key.facts(now) | {
        "statusMeaning": blocks.plain(keys.status_line(key, now)),
        "exposure": blocks.plain(keys.exposure_line(key, now)) or None,
        "warnings": [blocks.plain(w) for w in keys.warnings(key, now)],
        "privilegesInWords": [blocks.plain(keys.privilege_words(p)) for p in key.privileges],
        "followUpRequest": keys.follow_up_request(region, org, key.id),
        "consoleUrl": keys.console_url(region, org),
    }


def _error_json(error: CoveoError) -> dict[str, Any]:
    return {
        "kind": error.kind,
        "status": error.status,
        "code": error.error_code,
        "request_id": error.request_id,
    }
