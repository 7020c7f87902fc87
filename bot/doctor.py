"""`python -m bot check [ORG]`: is everything the bot needs in place? Each problem comes with its fix."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.command import ORG_ID
from bot.coveo import CoveoClient, CoveoError, NotAllowed, OrganizationNotFound, TokenRejected
from bot.replies import error_text
from bot.settings import SINGLE_TOKEN_VARIABLE, RegionSettings, Settings

CHECK_DEADLINE = 15.0
ORGS_SHOWN = 10  # a service user may see hundreds; the first ones show the token is the right one


@dataclass
class Finding:
    ok: bool
    text: str


async def diagnose(settings: Settings, org: str | None) -> list[Finding]:
    regions = ", ".join(f"{r.name.upper()} at {r.platform_url}" for r in settings.coveo_regions)
    findings = [
        Finding(True, "Settings are valid (secrets not shown)."),
        Finding(True, f"Coveo regions served ({len(settings.coveo_regions)}): {regions}."),
        Finding(
            True, f"Slack mode: {'Socket Mode' if settings.socket_mode else 'HTTP (POST /slack/events)'}."
        ),
        Finding(True, f"Who may use the command: {settings.access_policy()}."),
    ]
    findings += [Finding(False, warning) for warning in settings.warnings]
    findings.append(await _check_slack(settings))
    findings += await _check_coveo(settings, org)
    return findings


async def _check_slack(settings: Settings) -> Finding:
    assert settings.slack_bot_token is not None  # load_settings guarantees it for this command
    client = AsyncWebClient(token=settings.slack_bot_token.reveal(), base_url=settings.slack_api_url)
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown error") if exc.response is not None else "unknown error"
        return Finding(
            False,
            f"Slack rejected SLACK_BOT_TOKEN ({error}). Copy the Bot User OAuth Token (xoxb-…) from the app's "
            "OAuth & Permissions page, and reinstall the app if its scopes changed.",
        )
    except Exception as exc:
        return Finding(False, f"Cannot reach Slack at {settings.slack_api_url} ({type(exc).__name__}).")
    finally:
        if client.session is not None:
            await client.session.close()
    return Finding(
        True, f"Slack: connected as bot {response.get('user')!r} in team {response.get('team')!r}."
    )


async def _check_coveo(settings: Settings, org: str | None) -> list[Finding]:
    if org is not None and not ORG_ID.match(org):
        return [Finding(False, f"{org!r} is not an organization id (lowercase letters and digits).")]
    deadline = time.monotonic() + CHECK_DEADLINE
    one_region = len(settings.coveo_regions) == 1
    checks = await asyncio.gather(
        *(_check_region(region, org, deadline, one_region) for region in settings.coveo_regions)
    )
    findings = [finding for region_findings, _ in checks for finding in region_findings]
    if org is None:
        findings.append(
            Finding(
                True,
                "Give an org id (`make check ORG=…` or `python -m bot check <org>`) to check the bot can "
                "list its API keys and find its region.",
            )
        )
    elif not any(holds for _, holds in checks) and len(checks) > 1:
        names = ", ".join(r.name.upper() for r in settings.coveo_regions)
        findings.append(Finding(False, f"No region the bot serves ({names}) lists the API keys of {org}."))
    return findings


async def _check_region(
    region: RegionSettings, org: str | None, deadline: float, one_region: bool
) -> tuple[list[Finding], bool]:
    """This region's token, the organizations it sees, and (with `org`) whether it lists that org's keys."""
    name = region.name.upper()
    coveo = CoveoClient.for_region(region)
    findings: list[Finding] = []
    try:
        orgs = await coveo.list_organizations(deadline=deadline)
        shown = ", ".join(o.id for o in orgs[:ORGS_SHOWN]) + (
            f" and {len(orgs) - ORGS_SHOWN} more" if len(orgs) > ORGS_SHOWN else ""
        )
        findings.append(
            Finding(
                True,
                f"Coveo {name}: the token is accepted and sees {len(orgs)} organization(s)"
                + (f": {shown}." if orgs else "."),
            )
        )
        if not org:
            return findings, False
        listed = await coveo.list_api_keys(org, deadline=deadline)
        findings.append(
            Finding(True, f"Coveo {name}: the token can list the {len(listed.keys)} API keys of {org}.")
        )
        return findings, True
    except TokenRejected:
        single = region.token_variable in (SINGLE_TOKEN_VARIABLE, f"{SINGLE_TOKEN_VARIABLE}_FILE")
        where = f"than {name}" + (" (set COVEO_REGION)" if single else "")
        return [
            Finding(
                False,
                f"Coveo rejected {region.token_variable} (region {name}): it expired, was revoked, or belongs "
                f"to another region {where}. Issue a new token for the service user in the {name} region.",
            )
        ], False
    except NotAllowed:
        return [
            *findings,
            Finding(
                False,
                f"Coveo {name} accepted the token but it may not list API keys{' of ' + org if org else ''}: "
                "grant the service user the privilege PLATFORM / API_KEY / VIEW.",
            ),
        ], False
    except OrganizationNotFound:
        # With several regions an org lives in one of them: elsewhere, not knowing it is normal.
        findings.append(Finding(not one_region, f"Coveo {name}: no organization {org} in this region."))
        return findings, False
    except CoveoError as error:
        text = (
            error_text(error, org or "", region.name, region.token_variable).replace("`", "").replace("*", "")
        )
        return [*findings, Finding(False, f"Coveo {name}: {text}")], False
    finally:
        await coveo.aclose()


def run_check(settings: Settings, org: str | None) -> int:
    findings = asyncio.run(diagnose(settings, org))
    for finding in findings:
        print(("ok    " if finding.ok else "PROBLEM ") + finding.text)
    healthy = all(f.ok for f in findings)
    print("\nAll good." if healthy else "\nFix the problems above, then run `make check` again.")
    return 0 if healthy else 1
