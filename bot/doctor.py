"""`python -m bot check [ORG]`: is everything the bot needs in place? Each problem comes with its fix."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.coveo import CoveoClient, CoveoError, NotAllowed, OrganizationNotFound, TokenRejected
from bot.replies import error_text
from bot.settings import Settings

CHECK_DEADLINE = 15.0


@dataclass
class Finding:
    ok: bool
    text: str


async def diagnose(settings: Settings, org: str | None) -> list[Finding]:
    findings = [
        Finding(True, "Settings are valid (secrets not shown)."),
        Finding(True, f"Coveo region {settings.coveo_region.upper()} at {settings.coveo_platform_url}."),
        Finding(
            True, f"Slack mode: {'Socket Mode' if settings.socket_mode else 'HTTP (POST /slack/events)'}."
        ),
        Finding(True, f"Who may use the command: {settings.access_policy()}."),
    ]
    findings += [Finding(False, warning) for warning in settings.warnings]
    findings.append(await _check_slack(settings))
    findings.append(await _check_coveo(settings, org))
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


async def _check_coveo(settings: Settings, org: str | None) -> Finding:
    coveo = CoveoClient.from_settings(settings)
    deadline = time.monotonic() + CHECK_DEADLINE
    try:
        if org:
            listed = await coveo.list_api_keys(org, deadline=deadline)
            return Finding(True, f"Coveo: the token can list the {len(listed.keys)} API keys of {org}.")
        orgs = await coveo.list_organizations(deadline=deadline)
        return Finding(
            True,
            f"Coveo: the token is accepted and sees {len(orgs)} organization(s). "
            "Give an org id (`make check ORG=…` or `python -m bot check <org>`) to check it can list API keys.",
        )
    except TokenRejected:
        return Finding(
            False,
            "Coveo rejected COVEO_ACCESS_TOKEN: it expired, was revoked, or belongs to another region "
            f"than {settings.coveo_region.upper()} (set COVEO_REGION). Issue a new token for the service user.",
        )
    except NotAllowed:
        return Finding(
            False,
            f"Coveo accepted the token but it may not list API keys{' of ' + org if org else ''}: "
            "grant the service user the privilege PLATFORM / API_KEY / VIEW.",
        )
    except OrganizationNotFound:
        return Finding(False, f"Coveo knows no organization {org} in region {settings.coveo_region.upper()}.")
    except CoveoError as error:
        return Finding(
            False, "Coveo: " + error_text(error, org or "", settings.coveo_region).replace("`", "")
        )
    except ValueError:
        return Finding(False, f"{org!r} is not an organization id (lowercase letters and digits).")
    finally:
        await coveo.aclose()


def run_check(settings: Settings, org: str | None) -> int:
    findings = asyncio.run(diagnose(settings, org))
    for finding in findings:
        print(("ok    " if finding.ok else "PROBLEM ") + finding.text)
    healthy = all(f.ok for f in findings)
    print("\nAll good." if healthy else "\nFix the problems above, then run `make check` again.")
    return 0 if healthy else 1
