"""What the terminal commands print for the bot's admin: `python -m bot check` and `lookup`."""

from __future__ import annotations

from collections.abc import Sequence

from bot import program
from bot.coveo.errors import CoveoError
from bot.replies.blocks import Reply
from bot.replies.errors import error_text


def settings_valid() -> str:
    return "Settings are valid (secrets not shown)."


def regions_served(regions: Sequence[tuple[str, str]]) -> str:
    listed = ", ".join(f"{name.upper()} at {url}" for name, url in regions)
    return f"Coveo regions served ({len(regions)}): {listed}."


def slack_mode(socket_mode: bool) -> str:
    return f"Slack mode: {'Socket Mode' if socket_mode else 'HTTP (POST /slack/events)'}."


def who_may_use(policy: str) -> str:
    return f"Who may use the command: {policy}."


def slack_rejected(error: str) -> str:
    return (
        f"Slack rejected SLACK_BOT_TOKEN ({error}). Copy the Bot User OAuth Token (xoxb-…) from the app's "
        "OAuth & Permissions page, and reinstall the app if its scopes changed."
    )


def slack_unreachable(url: str, problem: str) -> str:
    return f"Cannot reach Slack at {url} ({problem})."


def slack_connected(user: object, team: object) -> str:
    return f"Slack: connected as bot {user!r} in team {team!r}."


def not_an_org(org: str) -> str:
    return f"{org!r} is not an organization id (lowercase letters and digits)."


def give_an_org() -> str:
    return (
        f"Give an org id (`{program()} check <org>`) to check the bot can "
        "list its API keys and find its region."
    )


def no_region_lists(regions: Sequence[str], org: str) -> str:
    return f"No region the bot serves ({', '.join(r.upper() for r in regions)}) lists the API keys of {org}."


def token_accepted(region: str, orgs: Sequence[str], shown: int) -> str:
    listed = ", ".join(orgs[:shown]) + (f" and {len(orgs) - shown} more" if len(orgs) > shown else "")
    return f"Coveo {region.upper()}: the token is accepted and sees {len(orgs)} organization(s)" + (
        f": {listed}." if orgs and shown else "."
    )


def can_list(region: str, count: int, org: str) -> str:
    return f"Coveo {region.upper()}: the token can list the {count} API keys of {org}."


def token_rejected(variable: str, region: str, one_region_form: bool) -> str:
    name = region.upper()
    where = f"than {name}" + (" (set COVEO_REGION)" if one_region_form else "")
    return (
        f"Coveo rejected {variable} (region {name}): it expired, was revoked, or belongs "
        f"to another region {where}. Issue a new token for the service user in the {name} region."
    )


def may_not_list(region: str, org: str | None) -> str:
    return (
        f"Coveo {region.upper()} accepted the token but it may not list API keys{' of ' + org if org else ''}: "
        "grant the service user the privilege PLATFORM / API_KEY / VIEW."
    )


def no_org_in_region(region: str, org: str | None) -> str:
    return f"Coveo {region.upper()}: no organization {org} in this region."


def coveo_failed(region: str, org: str | None, error: CoveoError, variable: str) -> str:
    text = error_text(error, org or "", region, variable).replace("`", "").replace("*", "")
    return f"Coveo {region.upper()}: {text}"


def check_summary(healthy: bool) -> str:
    return "All good." if healthy else f"Fix the problems above, then run `{program()} check` again."


def finding(ok: bool, text: str) -> str:
    return ("ok    " if ok else "PROBLEM ") + text


def terminal_usage(reply: Reply) -> str:
    """Help or a parse error, as the terminal command says it."""
    return reply.to_plain().replace("/apikeyid", f"{program()} lookup")


def no_token_for_region(region: str, served: Sequence[str]) -> str:
    return (
        f"The bot has no token for region {region.upper()} (it serves "
        f"{', '.join(r.upper() for r in served)}): set COVEO_ACCESS_TOKEN_{region.upper()}."
    )


def command_failed(problem: str) -> str:
    """A terminal command that failed in an unexpected way: said in one line, no traceback."""
    return f"The command failed unexpectedly ({problem}); run it again, and if it keeps failing, report it."
