"""`python -m bot` (or the `apikeyid` command): serve Slack (HTTP or Socket Mode), or run a terminal command.

python -m bot                       serve (Socket Mode when SLACK_APP_TOKEN is set)
python -m bot lookup ORG NAME...    print the answer in the terminal (--json for JSON, --region R for one region)
python -m bot check [ORG]           check the configuration, Slack and Coveo
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from dotenv import find_dotenv, load_dotenv

from bot import logs
from bot.settings import REGIONS, Settings, SettingsError, load_settings

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the return value is the process's exit code."""
    parser = argparse.ArgumentParser(prog=_prog(sys.argv[0]), description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action")
    look = sub.add_parser("lookup", help="look up an API key from the terminal")
    look.add_argument("org", help="organization id or admin console URL")
    look.add_argument("name", nargs="*", help="API key name (omit to list every key)")
    look.add_argument("--json", action="store_true", help="print JSON")
    look.add_argument(
        "--region",
        type=str.lower,
        choices=REGIONS,
        help="ask this region only (default: find the org's region)",
    )
    check = sub.add_parser("check", help="check the configuration, Slack and Coveo")
    check.add_argument("org", nargs="?", help="an organization id to list keys of, as a Coveo check")
    args = parser.parse_args(argv)

    # Real environment variables win over .env, so a platform's settings are never overridden.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    for_slack = args.action != "lookup"
    try:
        settings = load_settings(os.environ, for_slack=for_slack)
    except SettingsError as error:
        print(error.explain(), file=sys.stderr)
        return 2
    logs.setup(settings.log_level, settings.log_format, settings.secrets())
    for warning in settings.warnings:
        log.warning(warning)

    if args.action == "lookup":
        from bot.cli import run_lookup

        return run_lookup(settings, [args.org, *args.name], as_json=args.json, region=args.region)
    if args.action == "check":
        from bot.doctor import run_check

        return run_check(settings, args.org)
    return serve(settings)


def _prog(argv0: str) -> str:
    """The name help and usage lines give: how the user started us, not `__main__.py`."""
    name = os.path.basename(argv0)
    return "python -m bot" if name in ("__main__.py", "") else name


def serve(settings: Settings) -> int:
    if settings.socket_mode:
        from bot.socket_mode import run_socket_mode

        asyncio.run(run_socket_mode(settings))
        return 0
    from aiohttp import web

    from bot.server import build_web_app

    log.info(
        "starting HTTP server",
        extra={
            "event": "start",
            "host": settings.host,
            "port": settings.port,
            "access": settings.access_policy(),
        },
    )
    web.run_app(build_web_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
