"""`python -m bot check [ORG]`: is everything the bot needs in place? Each problem comes with its fix."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.command import ORG_ID
from bot.core.regions import SINGLE_TOKEN_VARIABLE
from bot.coveo.client import CoveoClient
from bot.coveo.errors import ClientFailure, CoveoError, NotAllowed, OrganizationNotFound, TokenRejected
from bot.replies import admin as say
from bot.settings import RegionSettings, Settings

CHECK_DEADLINE = 15.0
ORGS_SHOWN = 10  # a service user may see hundreds; the first ones show the token is the right one


@dataclass
class Finding:
    ok: bool
    text: str


async def diagnose(settings: Settings, org: str | None) -> list[Finding]:
    findings = [
        Finding(True, say.settings_valid()),
        Finding(True, say.regions_served([(r.name, r.platform_url) for r in settings.coveo_regions])),
        Finding(True, say.slack_mode(settings.socket_mode)),
        Finding(True, say.who_may_use(settings.access_policy())),
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
        return Finding(False, say.slack_rejected(error))
    except Exception as exc:
        return Finding(False, say.slack_unreachable(settings.slack_api_url, type(exc).__name__))
    finally:
        if client.session is not None:
            await client.session.close()
    return Finding(True, say.slack_connected(response.get("user"), response.get("team")))


async def _check_coveo(settings: Settings, org: str | None) -> list[Finding]:
    if org is not None and not ORG_ID.match(org):
        return [Finding(False, say.not_an_org(org))]
    deadline = time.monotonic() + CHECK_DEADLINE
    one_region = len(settings.coveo_regions) == 1
    checks = await asyncio.gather(
        *(
            _check_region(region, org, deadline, one_region, settings.suggest_orgs)
            for region in settings.coveo_regions
        )
    )
    findings = [finding for region_findings, _ in checks for finding in region_findings]
    if org is None:
        findings.append(Finding(True, say.give_an_org()))
    elif not any(holds for _, holds in checks) and len(checks) > 1:
        findings.append(Finding(False, say.no_region_lists(settings.region_names, org)))
    return findings


async def _check_region(
    region: RegionSettings, org: str | None, deadline: float, one_region: bool, suggest: bool
) -> tuple[list[Finding], bool]:
    """This region's token, the organizations it sees, and (with `org`) whether it lists that org's keys."""
    coveo = CoveoClient.for_region(region)
    findings: list[Finding] = []
    try:
        orgs = await coveo.list_organizations(deadline=deadline)
        shown = ORGS_SHOWN if suggest else 0  # APIKEYID_SUGGEST_ORGS=false: no organization is named
        findings.append(Finding(True, say.token_accepted(region.name, [o.id for o in orgs], shown)))
        if not org:
            return findings, False
        listed = await coveo.list_api_keys(org, deadline=deadline)
        findings.append(Finding(True, say.can_list(region.name, len(listed.keys), org)))
        return findings, True
    except TokenRejected:
        single = region.token_variable in (SINGLE_TOKEN_VARIABLE, f"{SINGLE_TOKEN_VARIABLE}_FILE")
        return [Finding(False, say.token_rejected(region.token_variable, region.name, single))], False
    except NotAllowed:
        return [*findings, Finding(False, say.may_not_list(region.name, org))], False
    except OrganizationNotFound:
        # With several regions an org lives in one of them: elsewhere, not knowing it is normal.
        findings.append(Finding(not one_region, say.no_org_in_region(region.name, org)))
        return findings, False
    except CoveoError as error:
        return [
            *findings,
            Finding(False, say.coveo_failed(region.name, org, error, region.token_variable)),
        ], False
    except Exception as exc:
        return [
            *findings,
            Finding(False, say.coveo_failed(region.name, org, ClientFailure.of(exc), region.token_variable)),
        ], False
    finally:
        await coveo.aclose()


def run_check(settings: Settings, org: str | None) -> int:
    findings = asyncio.run(diagnose(settings, org))
    for finding in findings:
        print(say.finding(finding.ok, finding.text))
    healthy = all(f.ok for f in findings)
    print("\n" + say.check_summary(healthy))
    return 0 if healthy else 1
