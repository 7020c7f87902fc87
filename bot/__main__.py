"""`apikeyid` (or `python -m bot`): serve Slack (HTTP or Socket Mode), or run a terminal command.

apikeyid                       serve (Socket Mode when SLACK_APP_TOKEN is set)
apikeyid lookup ORG [NAME...]  print the answer in the terminal (--json for JSON, --region R for one region)
apikeyid check [ORG]           check the configuration, Slack and Coveo
apikeyid --version             the installed version

Configuration comes from the environment, and from a `.env` file in the current directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from dotenv import load_dotenv

from bot import logs, program, version
from bot.core.regions import REGIONS
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the return value is the process's exit code."""
    parser = argparse.ArgumentParser(prog=program(), description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="action")
    look = sub.add_parser(
        "lookup",
        help="look up an API key from the terminal",
        usage=f"{program()} lookup [-h] [--json] [--region R] ORG [NAME ...]",
    )
    # Optional for argparse so that a bare `lookup` gets our own message, which says the name is optional.
    look.add_argument("org", nargs="?", help="organization id or admin console URL")
    look.add_argument("name", nargs="*", help="API key name (optional: without it, every key is listed)")
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
    if args.action == "lookup" and not args.org:
        look.error(
            "give an organization id (or an admin console URL); the name after it is optional: "
            f"without one, every key of the organization is listed. Example: {program()} lookup myorg "
            '"Search page key"'
        )

    # Real environment variables win over .env, so a platform's settings are never overridden. Only
    # the current directory's .env: searching the parent folders picked up another project's tokens.
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
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

        # A pasted key value is looked up by the end Coveo's mask shows; the whole value goes no further.
        words = [logs.hide_key_values(word) for word in (args.org, *args.name)]
        return run_lookup(settings, words, as_json=args.json, region=args.region)
    if args.action == "check":
        from bot.doctor import run_check

        return run_check(settings, args.org)
    return serve(settings)


def serve(settings: Settings) -> int:
    """Serve Slack until SIGTERM or SIGINT; the exit code is 0, or 2 for a configuration error
    Slack reveals (a refused SLACK_APP_TOKEN), which a supervisor should not restart on."""
    if settings.socket_mode:
        from bot.serving.socket_mode import run_socket_mode

        return asyncio.run(run_socket_mode(settings))
    from bot.serving.http import run_http

    return asyncio.run(run_http(settings))


if __name__ == "__main__":
    sys.exit(main())
